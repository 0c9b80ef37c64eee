"""``hopx-local``: run the emulator as a process, or around one command.

``hopx-local serve [--host] [--port] [--state-dir] [--api-key] [--isolation] [--max-sandboxes]``
prints the base URL and API key and logs one line per request. ``hopx-local run -- CMD...``
starts a server, runs CMD with ``HOPX_BASE_URL`` and ``HOPX_API_KEY`` set, stops the server
and exits with CMD's status. SIGINT and SIGTERM shut down cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pathlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence

import anyio

from ._server.app import LocalServer, default_state_dir, serve

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hopx-local", description="A local emulator of the HOPX cloud-sandbox service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, temp_default: bool) -> None:
        p.add_argument("--host", default="127.0.0.1", help="address to listen on")
        p.add_argument(
            "--port",
            type=int,
            default=0 if temp_default else 8787,
            help="control-plane port (0 picks a free one)",
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
            help="the API key clients must send (default: $HOPX_API_KEY or new)",
        )
        p.add_argument(
            "--isolation",
            choices=("auto", "bwrap", "none"),
            default="auto",
            help="how sandboxed code is confined",
        )
        p.add_argument(
            "--max-sandboxes",
            type=int,
            default=None,
            help="refuse to run more sandboxes than this at once",
        )

    serve_p = sub.add_parser("serve", help="run the emulator until interrupted")
    common(serve_p, temp_default=False)
    run_p = sub.add_parser("run", help="run a command against a fresh emulator")
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


def _describe(local: LocalServer) -> str:
    text = (
        f"hopx-local listening on {local.base_url}\n"
        f"  HOPX_BASE_URL={local.base_url}\n"
        f"  HOPX_API_KEY={local.api_key}\n"
        f"  state: {local.state_dir} (isolation: {local.isolation})"
    )
    if local.warning:
        text += f"\n  {local.warning}"
    return text


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
        ) as local:
            print(_describe(local), flush=True)
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
    ) as local:
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
    if args.max_sandboxes is not None and args.max_sandboxes < 1:
        print("hopx-local: --max-sandboxes must be at least 1", file=sys.stderr)
        return 2
    runner = _serve if args.command == "serve" else _run
    try:
        return anyio.run(runner, args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f"hopx-local: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
