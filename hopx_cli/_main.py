"""The ``hopx`` command line: parsing, one asyncio run per command, errors that say what to do."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata

from hopx_asyncio import AuthenticationError, Client, HopxError, NetworkError, NotFoundError

from ._commands import Session, UsageError, cmd_cp, cmd_create, cmd_exec, cmd_kill, cmd_ls
from ._shell import cmd_shell

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Session], Awaitable[int]]

_EPILOG = """\
The client reads HOPX_API_KEY and HOPX_BASE_URL from the environment: the service's, or the
two lines `hopx-local serve` prints for the local emulator.
"""

_NO_KEY = """\
hopx: no API key: set HOPX_API_KEY, and HOPX_BASE_URL unless you use the service itself.
  For the local emulator, start `hopx-local serve` and export the two lines it prints.
"""

#: What to do about each kind of failure, added to its message (the first match counts).
_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (NotFoundError, "`hopx ls` lists the sandboxes there are"),
    (AuthenticationError, "check HOPX_API_KEY (`hopx-local serve` prints the emulator's key)"),
    (NetworkError, "check HOPX_BASE_URL, and that the service or `hopx-local serve` is running"),
)


def _version() -> str:
    try:
        return metadata.version("hopx-sansio")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    # --json is accepted before or after the command; with SUPPRESS neither parser writes a
    # default, so one given before the command is not overwritten (main() fills in False).
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print results as JSON, for scripts",
    )
    parser = argparse.ArgumentParser(
        prog="hopx",
        description="Manage HOPX sandboxes: list, create, kill, run commands, open a shell, "
        "copy files.",
        epilog=_EPILOG,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[output],
    )
    parser.add_argument("--version", action="version", version=f"hopx {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[output],
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        p.set_defaults(run=run)
        return p

    ls = command("ls", cmd_ls, "list sandboxes")
    ls.add_argument("--status", default=None, help="only sandboxes in this state (e.g. running)")
    ls.add_argument("--limit", type=int, default=100, help="at most this many")

    create = command("create", cmd_create, "create a sandbox and print its id")
    create.add_argument("template", nargs="?", default="code-interpreter", help="template name")
    create.add_argument(
        "--timeout", type=int, default=None, help="seconds until the sandbox expires"
    )
    create.add_argument(
        "--internet",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="allow network access from inside (the service's default when not given)",
    )
    create.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="an environment variable"
    )

    kill = command("kill", cmd_kill, "kill sandboxes")
    kill.add_argument("sandbox_ids", nargs="+", metavar="ID")

    exec_ = command(
        "exec",
        cmd_exec,
        "run a command in a sandbox, streaming its output; exits with its exit code",
    )
    exec_.add_argument("sandbox_id", metavar="ID")
    exec_.add_argument("--timeout", type=int, default=120, help="seconds before it is stopped")
    exec_.add_argument("--workdir", default="/workspace", help="directory to run it in")
    exec_.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="an environment variable"
    )
    exec_.add_argument(
        "cmd", nargs=argparse.REMAINDER, help="after --: the command, run by bash -c"
    )

    shell = command("shell", cmd_shell, "open an interactive shell in a sandbox")
    shell.add_argument("sandbox_id", metavar="ID")

    cp = command(
        "cp", cmd_cp, "copy a file into or out of a sandbox (ID:PATH names the sandbox side)"
    )
    cp.add_argument("source", metavar="SRC")
    cp.add_argument("destination", metavar="DST")
    return parser


async def _run(args: argparse.Namespace) -> int:
    async with Client() as client:
        session = Session(client=client, json=args.json)
        code: int = await args.run(args, session)
        return code


def _explain(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return f"{message}\n  {hint}"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """The ``hopx`` command; returns the exit status.

    ``argv`` is the argument list after the program name (``sys.argv[1:]`` when ``None``).
    Failures print one ``hopx: ...`` message on standard error, with what to do about it, and
    return 1 (2 for a command line that cannot work, 130 after Ctrl-C); ``exec`` and ``shell``
    return the remote command's status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    if not os.environ.get("HOPX_API_KEY"):
        parser.exit(2, _NO_KEY)
    try:
        return asyncio.run(_run(args))
    except UsageError as exc:
        parser.exit(2, f"hopx {args.command}: {exc}\n")
    except KeyboardInterrupt:
        return 130
    except (HopxError, OSError) as exc:
        print(f"hopx: {_explain(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
