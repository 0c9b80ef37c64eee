"""``hopx shell ID``: this terminal attached to a shell in the sandbox over ``/terminal``.

Standard input goes to the remote PTY byte for byte (the local terminal is in raw mode, so
Ctrl-C, arrows and tab completion reach the remote shell), its output is written here as it
comes, and the remote PTY follows this window's size (``SIGWINCH``). The command's exit status
is the remote shell's.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Iterator

from hopx_asyncio import TerminalSession

from ._commands import Session, UsageError

__all__ = ["cmd_shell"]

_READ_SIZE = 65536


@contextlib.contextmanager
def _raw_mode(fd: int) -> Iterator[None]:
    """The terminal on ``fd`` in raw mode, restored however the block ends."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _window_size() -> tuple[int, int]:
    size = shutil.get_terminal_size()
    return size.columns, size.lines


async def _pump_input(fd: int, terminal: TerminalSession, ended: asyncio.Event) -> None:
    """Everything read from ``fd`` to the remote shell, until EOF or the session ends."""
    loop = asyncio.get_running_loop()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
        chunks.put_nowait(data)

    loop.add_reader(fd, readable)
    try:
        while not ended.is_set():
            data = await chunks.get()
            text = decoder.decode(data, final=not data)
            if text:
                await terminal.send_input(text)
            if not data:
                return
    finally:
        loop.remove_reader(fd)


async def _follow_window(terminal: TerminalSession) -> None:
    """Sends this window's size now and after each ``SIGWINCH``."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    loop.add_signal_handler(signal.SIGWINCH, changed.set)
    try:
        while True:
            await terminal.resize(*_window_size())
            await changed.wait()
            changed.clear()
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)


async def cmd_shell(args: argparse.Namespace, session: Session) -> int:
    """``hopx shell ID``: an interactive shell; exits with the remote shell's status."""
    if session.json:
        raise UsageError("shell is interactive: --json does not apply to it")
    stdin = sys.stdin.fileno()
    if not os.isatty(stdin):
        raise UsageError(
            "shell needs a terminal on standard input; from a script, run commands with "
            "hopx exec ID -- CMD"
        )
    sandbox = await session.sandbox(args.sandbox_id)
    out = sys.stdout.buffer
    code: int | None = None
    terminal = await sandbox.terminal.connect()
    async with terminal:
        ended = asyncio.Event()
        with _raw_mode(stdin):
            tasks = [
                asyncio.create_task(_pump_input(stdin, terminal, ended)),
                asyncio.create_task(_follow_window(terminal)),
            ]
            try:
                async for event in terminal.iter_output():
                    if event.get("type") == "output":
                        out.write(str(event.get("data", "")).encode("utf-8", "replace"))
                        out.flush()
                    elif event.get("type") == "exit":
                        code = int(event.get("code") or 0)
                        break
            finally:
                ended.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    if code is None:
        session.err.write("\r\nhopx shell: the connection closed before the remote shell exited\n")
        return 1
    return code & 0xFF if code >= 0 else 1
