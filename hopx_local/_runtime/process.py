"""Starting sandboxed processes and collecting their output without blocking or unbounded memory."""

from __future__ import annotations

import fcntl
import os
import select
import signal
from collections.abc import AsyncGenerator, Mapping

import anyio

from .procfs import kill_all

__all__ = [
    "OutputCapture",
    "OutputPump",
    "SandboxProcess",
    "exit_status",
    "open_pipe",
    "terminate",
]

_READ_SIZE = 1 << 16
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
#: After the main process exits, how long output may still arrive before leftovers are killed.
_EXIT_LINGER = 1.0
#: After a kill, how long to wait for the pipes to drain before giving up on them.
_KILL_DRAIN = 2.0


def exit_status(returncode: int) -> int:
    """A shell-style exit code: a death by signal N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def open_pipe() -> tuple[int, int]:
    """A pipe with a non-blocking read end and a large buffer: (read fd, write fd)."""
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


class SandboxProcess:
    """A process the sandbox's init started, followed through a pidfd from any anyio backend.

    ``pidfd`` refers to the reaper above the program (pid 1 of the program's own pid namespace
    under bubblewrap): it becomes readable once the reaper exited, which the kernel allows only
    after every other process of that namespace is gone. The reaper writes the program's status
    (``e<code>`` or ``s<signal>``, ``t<signal>`` when killed at the spawn's ``timeout``, which
    sets :attr:`timed_out`) to ``status_fd`` just before exiting; anything else there
    (nothing, garbage) counts as killed. ``pid`` is the process id as the sandbox sees it,
    ``host_pid`` the one on the host (-1 if it was gone before it could be read).
    ``tree_kill`` (plain processes, no namespace) makes :meth:`kill` also kill every
    descendant found through /proc.
    """

    def __init__(
        self, pidfd: int, status_fd: int, *, host_pid: int, pid: int, tree_kill: bool = False
    ) -> None:
        self._pidfd: int | None = pidfd
        self._status_fd: int | None = status_fd
        self.host_pid = host_pid
        self.pid = pid
        self._tree_kill = tree_kill
        self._returncode: int | None = None
        self._waiting = anyio.Lock()
        #: Whether the reaper killed the program at its timeout.
        self.timed_out = False

    def _exited(self) -> bool:
        if self._pidfd is None:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        return bool(poller.poll(0))

    def _read_status(self) -> int:
        if self._status_fd is None:
            return -9
        try:
            raw = os.read(self._status_fd, 16)
        except OSError:
            return -9
        text = raw.decode("ascii", errors="replace")
        if len(text) >= 2 and text[0] in "est" and text[1:].isdigit() and len(text) <= 4:
            value = int(text[1:])
            if text[0] == "e" and value <= 255:
                return value
            if text[0] in "st" and 0 < value < 65:
                self.timed_out = text[0] == "t"
                return -value
        return -9

    @property
    def returncode(self) -> int | None:
        """The exit status (negative N for signal N), ``None`` while running."""
        if self._returncode is None and self._exited():
            self._returncode = self._read_status()
        return self._returncode

    async def wait(self) -> int:
        """Wait until the process and everything it left are gone; its return code."""
        async with self._waiting:
            while (returncode := self.returncode) is None:
                assert self._pidfd is not None
                try:
                    await anyio.wait_readable(self._pidfd)
                except anyio.ClosedResourceError:
                    continue
            return returncode

    def kill(self) -> None:
        """SIGKILL the process and everything below it."""
        if self._pidfd is not None and self._returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._tree_kill and self.host_pid > 0:
            kill_all(self.host_pid)

    def send_signal(self, signum: int) -> None:
        """Send a signal to the process (the reaper: with a pid namespace, SIGKILL and SIGSTOP
        reach it, other signals are ignored)."""
        if self._pidfd is not None and self._returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except ProcessLookupError:
                pass

    async def aclose(self) -> None:
        """Release the descriptors (the process must have exited or be killed by the caller)."""
        self.returncode  # noqa: B018  (reads the status while it can)
        if self._pidfd is not None:
            pidfd, self._pidfd = self._pidfd, None
            anyio.notify_closing(pidfd)
            os.close(pidfd)
        if self._status_fd is not None:
            fd, self._status_fd = self._status_fd, None
            os.close(fd)


class OutputPump:
    """Reads a process's stdout and stderr pipes concurrently, as ("stdout"|"stderr", bytes).

    One epoll descriptor watches both pipes, so a single task can wait for either without a
    task group. The process tree is killed when ``timeout`` expires (``timed_out`` is then
    set) and when the main process has exited but leftovers keep the pipes open.
    """

    def __init__(self, process: SandboxProcess, pipes: Mapping[int, str], timeout: float) -> None:
        self.process = process
        self.timed_out = False
        self._pipes = dict(pipes)
        self._timeout = timeout
        self._deadline: float | None = None

    def kill(self) -> None:
        """SIGKILL the whole process tree."""
        self.process.kill()

    async def chunks(self) -> AsyncGenerator[tuple[str, bytes], None]:
        """Output chunks in arrival order, until both pipes are closed (or given up on)."""
        epoll = select.epoll()
        open_fds = dict(self._pipes)
        try:
            for fd in open_fds:
                epoll.register(fd, select.EPOLLIN)
            deadline = self._deadline = anyio.current_time() + self._timeout
            give_up: float | None = None
            exited_at: float | None = None
            while open_fds:
                now = anyio.current_time()
                if not self.timed_out and now >= deadline:
                    self.timed_out = True
                    self.kill()
                    give_up = now + _KILL_DRAIN
                if exited_at is None and self.process.returncode is not None:
                    exited_at = now
                    give_up = now + _EXIT_LINGER + _KILL_DRAIN
                if exited_at is not None and now >= exited_at + _EXIT_LINGER:
                    self.kill()
                if give_up is not None and now >= give_up:
                    break
                wait = 0.25 if self.timed_out else min(0.25, deadline - now)
                with anyio.move_on_after(max(wait, 0.0)):
                    await anyio.wait_readable(epoll.fileno())
                for fd, _events in epoll.poll(0):
                    try:
                        data = os.read(fd, _READ_SIZE)
                    except BlockingIOError:
                        continue
                    if not data:
                        epoll.unregister(fd)
                        os.close(fd)
                        del open_fds[fd]
                        continue
                    yield self._pipes[fd], data
        finally:
            epoll.close()
            for fd in open_fds:
                os.close(fd)

    async def finish(self) -> int:
        """Wait for the main process until the timeout; its shell-style exit code.

        A process that closed its output but keeps running is killed at the timeout, or
        after a short grace if the output loop already gave up on it.
        """
        now = anyio.current_time()
        deadline = self._deadline if self._deadline is not None else now
        with anyio.move_on_after(max(deadline - now, _KILL_DRAIN)):
            await self.process.wait()
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None:
                self.timed_out = True
                self.kill()
                await self.process.wait()
            await self.process.aclose()
        returncode = self.process.returncode
        assert returncode is not None
        return exit_status(returncode)


class OutputCapture:
    """Keeps the first ``cap`` bytes of a stream; drops the rest and says so (``truncated``)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self._kept = 0
        self.truncated = False

    def add(self, data: bytes) -> bytes:
        """Keep what fits of a chunk; the part kept."""
        room = self._cap - self._kept
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if data:
            self._parts.append(data)
            self._kept += len(data)
        return data

    def data(self) -> bytes:
        """The kept bytes."""
        if len(self._parts) > 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0] if self._parts else b""

    def text(self) -> str:
        """The kept bytes as text (invalid UTF-8 becomes U+FFFD)."""
        return self.data().decode("utf-8", errors="replace")


async def terminate(process: SandboxProcess) -> None:
    """Kill a process tree and reap the main process (safe to call under cancellation)."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            process.kill()
        with anyio.move_on_after(5):
            await process.wait()
        await process.aclose()
