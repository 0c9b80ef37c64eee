"""Starting sandboxed processes and collecting their output without blocking or unbounded memory."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs

from .isolation import BOOT_DIR, BOOT_MOUNT, IsolationMode, SandboxLayout, bwrap_argv
from .languages import python_executable
from .limits import Limits
from .procfs import kill_all

__all__ = [
    "EXEC_MOUNT",
    "OutputCapture",
    "OutputPump",
    "SandboxProcess",
    "SandboxSpawner",
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


@attrs.frozen
class SandboxSpawner:
    """Builds and starts the command lines of one sandbox's processes.

    Every process goes through the launcher (``_boot/launch.py``), which applies the rlimits,
    drops to the sandbox user (``owner``) and execs the command; with bubblewrap the launcher
    itself runs inside the namespaces described in :func:`bwrap_argv`.
    """

    layout: SandboxLayout
    mode: IsolationMode
    internet_access: bool
    limits: Limits
    owner: tuple[int, int] | None
    nproc_base: int = 0

    def command(
        self,
        argv: Sequence[str],
        *,
        workdir: str,
        host_workdir: Path,
        terminal: bool = False,
        exec_dir: Path | None = None,
        interpreter_dirs: Sequence[str] = (),
    ) -> list[str]:
        """The host argv running ``argv`` in the sandbox (``workdir`` as the sandbox sees it)."""
        spec: dict[str, object] = {
            "rlimits": self.limits.rlimits(nproc_base=self.nproc_base),
            "uid": self.owner[0] if self.owner else None,
            "gid": self.owner[1] if self.owner else None,
            "ctty": terminal,
        }
        python = [python_executable(), "-I", "-S"]
        if self.mode is IsolationMode.NONE:
            spec["cwd"] = str(host_workdir)
            return [*python, str(BOOT_DIR / "launch.py"), json.dumps(spec), *argv]
        prefix = bwrap_argv(
            self.layout,
            internet_access=self.internet_access,
            workdir=workdir,
            terminal=terminal,
            interpreter_dirs=interpreter_dirs,
        )
        if exec_dir is not None:
            prefix[-1:-1] = ["--bind", str(exec_dir), EXEC_MOUNT]
        return [*prefix, *python, f"{BOOT_MOUNT}/launch.py", json.dumps(spec), *argv]

    async def start(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        host_workdir: Path,
        stdin: int,
        stdout: int,
        stderr: int,
    ) -> SandboxProcess:
        """Start a host command line built by :meth:`command`, in a new session."""
        await anyio.lowlevel.checkpoint()
        cwd = host_workdir if self.mode is IsolationMode.NONE else self.layout.root
        # Forked from this thread on purpose (see SandboxProcess); fork+exec takes about 1 ms.
        popen = subprocess.Popen(  # noqa: ASYNC220
            list(command),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        return SandboxProcess(popen)


class SandboxProcess:
    """A started process, awaited through a pidfd on any anyio backend.

    Processes are started from the event loop's own thread on purpose: bubblewrap's
    ``--die-with-parent`` ties the sandbox to the lifetime of the thread that forked it, and a
    worker thread (what ``anyio.open_process`` uses on trio) retires after a few idle seconds.
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd: int | None = os.pidfd_open(popen.pid)
        self._waiting = anyio.Lock()

    @property
    def returncode(self) -> int | None:
        """The exit status (negative N for signal N), ``None`` while running."""
        return self._popen.poll()

    async def wait(self) -> int:
        """Wait for the process to exit; its return code."""
        async with self._waiting:
            while (returncode := self._popen.poll()) is None:
                if self._pidfd is None:
                    await anyio.sleep(0.05)
                    continue
                try:
                    await anyio.wait_readable(self._pidfd)
                except anyio.ClosedResourceError:
                    continue
            return returncode

    async def aclose(self) -> None:
        """Release the pidfd (the process must have exited or be killed by the caller)."""
        if self._pidfd is not None:
            pidfd, self._pidfd = self._pidfd, None
            anyio.notify_closing(pidfd)
            os.close(pidfd)


#: Where a per-execution directory (source file, rich outputs) appears inside bubblewrap.
EXEC_MOUNT = "/run/hopx-exec"


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
        kill_all(self.process.pid)

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

    def text(self) -> str:
        """The kept bytes as text (invalid UTF-8 becomes U+FFFD)."""
        return b"".join(self._parts).decode("utf-8", errors="replace")


async def terminate(process: SandboxProcess) -> None:
    """Kill a process tree and reap the main process (safe to call under cancellation)."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            kill_all(process.pid)
        with anyio.move_on_after(5):
            await process.wait()
        await process.aclose()
