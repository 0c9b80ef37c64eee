"""Interactive shells on a real pseudo-terminal."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios
from collections.abc import Callable

import anyio

from .errors import fault
from .process import SandboxProcess, exit_status, terminate

__all__ = ["TerminalSession", "set_window_size"]


#: The largest PTY window size: the kernel keeps each as an unsigned 16-bit count.
MAX_WINDOW_SIZE = 0xFFFF


def set_window_size(fd: int, cols: int, rows: int) -> None:
    """Set a terminal's size (TIOCSWINSZ); the foreground process group gets SIGWINCH.

    Each size is from 1 to 65535, else an ``INVALID_REQUEST`` fault.
    """
    if not (0 < cols <= MAX_WINDOW_SIZE and 0 < rows <= MAX_WINDOW_SIZE):
        raise fault("INVALID_REQUEST", f"terminal size {cols}x{rows} is out of range")
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class TerminalSession:
    """A shell running on a PTY: raw bytes in and out, resize, exit code.

    ``read`` returns ``b""`` once the shell and everything holding the terminal are gone.
    """

    def __init__(
        self,
        process: SandboxProcess,
        master_fd: int,
        on_close: Callable[[TerminalSession], None] | None = None,
    ) -> None:
        self.process = process
        self._master = master_fd
        self._on_close = on_close
        self._closed = False
        os.set_blocking(master_fd, False)

    @property
    def pid(self) -> int:
        """Host pid of the process running the shell."""
        return self.process.pid

    async def read(self) -> bytes:
        """The next output bytes (whatever is available, up to 64 KiB); ``b""`` at the end."""
        while not self._closed:
            try:
                return os.read(self._master, 1 << 16)
            except BlockingIOError:
                try:
                    await anyio.wait_readable(self._master)
                except anyio.ClosedResourceError:
                    return b""
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return b""
                raise
        return b""

    async def write(self, data: bytes) -> None:
        """Send keystrokes to the shell."""
        view = memoryview(data)
        while view and not self._closed:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                await anyio.wait_writable(self._master)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise
            view = view[written:]

    def resize(self, cols: int, rows: int) -> None:
        """Change the terminal size the shell sees."""
        if not self._closed:
            set_window_size(self._master, cols, rows)

    async def wait(self) -> int:
        """Wait for the shell to exit; its exit code."""
        returncode = await self.process.wait()
        return exit_status(returncode)

    async def aclose(self) -> None:
        """Kill the shell (if still running) and release the terminal."""
        if self._closed:
            return
        self._closed = True
        anyio.notify_closing(self._master)
        await terminate(self.process)
        os.close(self._master)
        if self._on_close is not None:
            self._on_close(self)
