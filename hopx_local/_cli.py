"""``hopx-local``: run the emulator as a process, or around one command.

``hopx-local serve [--host] [--port] [--state-dir] [--api-key] [--isolation] [--max-sandboxes]
[--no-kernel] [--max-upload]`` prints the base URL and API key and logs one line per request.
``hopx-local run -- CMD...`` starts a server, runs CMD with ``HOPX_BASE_URL`` and
``HOPX_API_KEY`` set, stops the server and exits with CMD's status.
SIGINT and SIGTERM shut down cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import pathlib
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Sequence

import anyio

from ._runtime.host import host_enforcement
from ._runtime.isolation import IsolationMode, isolation_warning
from ._runtime.kernel import kernel_support
from ._server.app import LocalServer, default_state_dir, serve
from ._server.connection import ServerLimits

__all__ = ["main"]

#: What ``--max-upload`` accepts after the number, in bytes each (binary units).
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_DEFAULT_MAX_UPLOAD = ServerLimits().max_body_size

#: How to get bubblewrap, told when sandboxes fall back to plain processes for want of it.
_INSTALL_BWRAP = (
    "To isolate sandboxes, install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; "
    "Fedora: sudo dnf install bubblewrap; Arch: sudo pacman -S bubblewrap) and restart."
)


def _size(text: str) -> int:
    """``"64MiB"``, ``"512k"``, ``"1048576"``... as a number of bytes (at least 1)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: write bytes, or a number with K, M or G (binary units)"
        )
    return int(match[1]) * _SIZE_UNITS[match[2].lower()]


def _mib(size: int) -> str:
    return f"{size // (1 << 20)}MiB" if size % (1 << 20) == 0 else str(size)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hopx-local", description="A local emulator of the HOPX cloud-sandbox service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, temp_default: bool) -> None:
        p.add_argument(
            "--host",
            default="127.0.0.1",
            help="address to listen on (default: %(default)s; ::1 for the IPv6 loopback)",
        )
        p.add_argument(
            "--port",
            type=int,
            default=0 if temp_default else 8787,
            help="control-plane port; 0 picks a free one (default: %(default)s)",
        )
        p.add_argument(
            "--state-dir",
            type=pathlib.Path,
            default=None,
            help="where sandboxes are kept"
            + (
                " (default: a temporary directory)"
                if temp_default
                else f" (default: {default_state_dir()})"
            ),
        )
        p.add_argument(
            "--api-key",
            default=None,
            help="the API key clients must send (default: $HOPX_API_KEY, else one generated "
            "on first use and kept in the state directory)",
        )
        p.add_argument(
            "--isolation",
            choices=("auto", "bwrap", "none"),
            default="auto",
            help="how sandboxed code is confined: bubblewrap, plain processes, or bubblewrap "
            "when it works (default: %(default)s)",
        )
        p.add_argument(
            "--max-sandboxes",
            type=int,
            default=None,
            help="refuse to run more sandboxes than this at once (default: no limit)",
        )
        p.add_argument(
            "--no-kernel",
            action="store_true",
            help="run each Python execution in a fresh interpreter instead of the sandbox's "
            "Jupyter kernel (the kernel needs the 'kernel' extra)",
        )
        p.add_argument(
            "--max-upload",
            type=_size,
            default=_DEFAULT_MAX_UPLOAD,
            metavar="SIZE",
            help="the largest request body, so the largest upload, e.g. 512MiB; larger ones "
            f"are refused with 413 (default: {_mib(_DEFAULT_MAX_UPLOAD)})",
        )

    serve_p = sub.add_parser(
        "serve",
        help="run the emulator until interrupted",
        description="Run the emulator "
        "until interrupted; it prints the HOPX_BASE_URL and HOPX_API_KEY to use.",
    )
    common(serve_p, temp_default=False)
    run_p = sub.add_parser(
        "run",
        help="run a command against a fresh emulator",
        description="Start an emulator, run the command with HOPX_BASE_URL and HOPX_API_KEY "
        "set, stop the emulator, and exit with the command's status.",
    )
    common(run_p, temp_default=True)
    run_p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    return parser


def _signals() -> contextlib.AbstractContextManager[AsyncIterator[signal.Signals]]:
    """A receiver of SIGINT and SIGTERM, opened before anything starts so that no signal
    arriving during start-up kills the process uncleanly."""
    return anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)


async def _until_signal(
    signals: AsyncIterator[signal.Signals], scope: anyio.CancelScope | None
) -> None:
    async for signum in signals:
        logging.getLogger("hopx.local").info(
            "%s received, shutting down", signal.Signals(signum).name
        )
        if scope is not None:
            scope.cancel()
        return


def _isolation_note(local: LocalServer, requested: str) -> str | None:
    """The isolation warning, and how to install bubblewrap when its absence is the cause."""
    if not local.warning:
        return None
    if requested != "none" and shutil.which("bwrap") is None:
        return f"{local.warning}\n  {_INSTALL_BWRAP}"
    return local.warning


def _python_note(python_kernel: bool) -> str:
    """Where ``run_code`` runs Python, and how to get the kernel when it is missing."""
    support = kernel_support()
    if python_kernel and support.available:
        return "python: a Jupyter kernel per sandbox (state kept between runs, rich outputs)"
    if support.available:
        why = "the kernel is turned off with --no-kernel"
    else:
        why = f"{', '.join(support.missing)} not installed: pip install 'hopx-sansio[kernel]'"
    return f"python: a fresh interpreter per run, no state kept ({why})"


def _describe(local: LocalServer, requested_isolation: str, *, python_kernel: bool = True) -> str:
    text = (
        f"hopx-local listening on {local.base_url}\n"
        f"  HOPX_BASE_URL={local.base_url}\n"
        f"  HOPX_API_KEY={local.api_key}\n"
        f"  state: {local.state_dir} (isolation: {local.isolation})"
    )
    note = _isolation_note(local, requested_isolation)
    if note is not None:
        text += f"\n  {note}"
    enforcement = host_enforcement(IsolationMode(local.isolation))
    text += f"\n  {enforcement.summary()}"
    for missing in enforcement.missing().values():
        text += f"\n  not enforced: {missing}"
    text += f"\n  {_python_note(python_kernel)}"
    return text


class _ShownInBanner(logging.Filter):
    """Drops the log record of the isolation warning: the banner shows it, once."""

    def __init__(self) -> None:
        super().__init__()
        self._text = isolation_warning(IsolationMode.NONE)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._text


def _port_in_use(exc: OSError, args: argparse.Namespace) -> str | None:
    """What to say when the port is taken; ``None`` for any other error."""
    if exc.errno != errno.EADDRINUSE:
        return None
    return (
        f"port {args.port} on {args.host} is already in use (another hopx-local?): "
        f"choose another with --port N, or --port 0 for a free one"
    )


async def _serve(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or default_state_dir()
    with _signals() as signals:
        async with serve(
            host=args.host,
            port=args.port,
            state_dir=state_dir,
            api_key=args.api_key,
            isolation=args.isolation,
            max_sandboxes=args.max_sandboxes,
            limits=ServerLimits(max_body_size=args.max_upload),
            python_kernel=not args.no_kernel,
        ) as local:
            print(_describe(local, args.isolation, python_kernel=not args.no_kernel), flush=True)
            await _until_signal(signals, None)
    return 0


async def _run(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("hopx-local run: give the command after --", file=sys.stderr)
        return 2
    with _signals() as signals:
        return await _run_command(args, cmd, signals)


async def _run_command(
    args: argparse.Namespace, cmd: list[str], signals: AsyncIterator[signal.Signals]
) -> int:
    async with serve(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        api_key=args.api_key,
        isolation=args.isolation,
        max_sandboxes=args.max_sandboxes,
        limits=ServerLimits(max_body_size=args.max_upload),
        python_kernel=not args.no_kernel,
    ) as local:
        note = _isolation_note(local, args.isolation)
        if note is not None:
            print(f"hopx-local: {note}", file=sys.stderr, flush=True)
        env = {**os.environ, **local.env}
        try:
            process = await anyio.open_process(cmd, env=env, stdin=None, stdout=None, stderr=None)
        except OSError as exc:
            print(f"hopx-local run: cannot start {cmd[0]!r}: {exc}", file=sys.stderr)
            return 127
        code: int | None = None
        async with process:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_until_signal, signals, scope)
                    code = await process.wait()
                    tg.cancel_scope.cancel()
            if code is None:
                process.terminate()
                with anyio.move_on_after(5):
                    code = await process.wait()
                if code is None:
                    process.kill()
                    code = await process.wait()
        return code if code >= 0 else 128 - code


def main(argv: Sequence[str] | None = None) -> int:
    """The ``hopx-local`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_ShownInBanner())
    if args.max_sandboxes is not None and args.max_sandboxes < 1:
        print("hopx-local: --max-sandboxes must be at least 1", file=sys.stderr)
        return 2
    runner = _serve if args.command == "serve" else _run
    try:
        return anyio.run(runner, args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"hopx-local: {_port_in_use(exc, args) or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"hopx-local: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
