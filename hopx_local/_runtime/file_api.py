"""The file half of a sandbox's API: every call off the event loop, counted, and OS errors
turned into typed faults.

Filesystem work on a sandbox's tree is blocking and its size is the sandbox's choice (a
directory of a million entries, a tree to remove, a 64 MiB read), so each call runs in a worker
thread. A sandbox has at most :data:`FILE_WORKERS` of them at once: one sandbox flooding the
file API waits for its own workers and never takes another's, and the event loop that serves
every sandbox is never held.

Under bubblewrap each call sees the running sandbox's whole filesystem, through its init's
root (see :mod:`.sysroot`); while the sandbox is not running, and without bubblewrap, it sees
``/workspace`` and ``/tmp`` only, from the host directories the runtime keeps for them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import attrs

from .errors import SandboxFault
from .files import Download, SandboxFiles, Staged
from .isolation import IsolationMode, SandboxLayout
from .paths import SandboxPaths, wire_text
from .sysroot import open_system
from .watch import Snapshot, watch_tree
from .workers import SandboxProcesses

__all__ = ["FILE_WORKERS", "OS_ERRORS", "SandboxFileAPI", "UploadWriter", "os_fault"]

log = logging.getLogger("hopx.local.runtime")

T = TypeVar("T")

#: Worker threads one sandbox's file calls may use at once.
FILE_WORKERS = 4

#: How an OS error met on a sandbox's tree is answered: errno -> (code, status, explanation).
#: Everything the sandbox's own files can cause is a 4xx; what is left is the server failing.
OS_ERRORS: dict[int, tuple[str, int, str]] = {
    errno.ENOENT: ("FILE_NOT_FOUND", 404, "no such file or directory"),
    errno.EACCES: ("PERMISSION_DENIED", 403, "permission denied"),
    errno.EPERM: ("PERMISSION_DENIED", 403, "operation not permitted"),
    errno.EROFS: ("PERMISSION_DENIED", 403, "the filesystem is read-only"),
    errno.ETXTBSY: ("CONFLICT", 409, "the file is a program that is running"),
    errno.ENAMETOOLONG: ("INVALID_PATH", 400, "a name in the path is too long"),
    errno.ENOTDIR: ("INVALID_PATH", 400, "a part of the path is not a directory"),
    errno.EISDIR: ("INVALID_PATH", 400, "the path is a directory"),
    errno.ELOOP: ("PATH_NOT_ALLOWED", 403, "a part of the path changed to a symbolic link"),
    errno.EEXIST: ("FILE_ALREADY_EXISTS", 409, "the path already exists"),
    errno.ENOTEMPTY: ("CONFLICT", 409, "the directory is not empty"),
    errno.EBUSY: ("CONFLICT", 409, "the path is in use"),
    errno.EMLINK: ("INVALID_REQUEST", 400, "too many links"),
    errno.EINVAL: ("INVALID_REQUEST", 400, "invalid argument"),
    errno.EFBIG: ("REQUEST_TOO_LARGE", 413, "the file would be too large"),
    errno.ENOSPC: ("INSUFFICIENT_STORAGE", 507, "no space is left for the sandbox's files"),
    errno.EDQUOT: ("INSUFFICIENT_STORAGE", 507, "the sandbox's disk quota is used up"),
    errno.ESRCH: ("SANDBOX_STOPPED", 409, "the sandbox stopped while the call was served"),
    errno.EMFILE: ("SERVICE_UNAVAILABLE", 503, "the server is out of file descriptors"),
    errno.ENFILE: ("SERVICE_UNAVAILABLE", 503, "the system is out of file descriptors"),
}


def os_fault(operation: str, path: str, exc: OSError) -> SandboxFault:
    """The typed fault for an OS error of a file ``operation`` on ``path``."""
    found = OS_ERRORS.get(exc.errno or 0)
    shown = wire_text(path)
    if found is None:
        log.error("files.%s %s failed: %s", operation, shown, exc)
        return SandboxFault(
            "FILE_OPERATION_FAILED", f"{operation}: {exc.strerror or exc}", 500, path=shown
        )
    code, status, explanation = found
    return SandboxFault(code, f"{operation} {shown}: {explanation}", status, path=shown)


def _guarded(operation: str, path: str, func: Callable[..., T], *args: Any) -> T:
    try:
        return func(*args)
    except OSError as exc:
        raise os_fault(operation, path, exc) from None


class UploadWriter:
    """Receives an upload chunk by chunk into staged content (see ``write_stream``)."""

    def __init__(self, api: SandboxFileAPI, staged: Staged, path: str) -> None:
        self._api = api
        self._staged = staged
        self._path = path

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._staged.size

    async def write(self, chunk: bytes) -> None:
        """Append a chunk of the upload."""
        await self._api.run_blocking(_guarded, "upload", self._path, self._staged.write, chunk)


class SandboxFileAPI:
    """File operations on sandbox paths (mixed into the sandbox runtime)."""

    files: SandboxFiles
    paths: SandboxPaths
    counters: Counter[str]
    isolation: IsolationMode
    layout: SandboxLayout
    processes: SandboxProcesses
    _file_workers: anyio.CapacityLimiter | None = None
    _system_unseen = False

    async def run_blocking(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in one of this sandbox's worker threads; its result.

        For blocking work on the sandbox's behalf (filesystem calls, rendering a huge reply):
        at most :data:`FILE_WORKERS` run at once for one sandbox.
        """
        if self._file_workers is None:
            self._file_workers = anyio.CapacityLimiter(FILE_WORKERS)
        return await anyio.to_thread.run_sync(func, *args, limiter=self._file_workers)

    @contextlib.contextmanager
    def _view(self) -> Iterator[SandboxFiles]:
        """The file operations as the sandbox sees its tree now (blocking: a worker's)."""
        if self.isolation is not IsolationMode.BWRAP:
            yield self.files
            return
        try:
            system = open_system(self.processes.init_pid, self.layout)
        except PermissionError as exc:
            if not self._system_unseen:
                self._system_unseen = True
                log.warning(
                    "the file API of sandbox %s sees only /workspace and /tmp: this server may "
                    "not look into the sandbox's processes (%s)",
                    self.layout.sandbox_id,
                    exc,
                )
            system = None
            stopped = False
        else:
            stopped = system is None
        if system is None:
            yield self.files.seen_through(attrs.evolve(self.files.paths, stopped=stopped))
            return
        with system:
            yield self.files.seen_through(system)

    def _in_view(self, operation: str, path: str, func: Callable[[SandboxFiles], T]) -> T:
        try:
            with self._view() as files:
                return func(files)
        except OSError as exc:
            raise os_fault(operation, path, exc) from None

    async def _call(self, operation: str, path: object, func: Callable[[SandboxFiles], T]) -> T:
        self.counters[f"requests_files_{operation}"] += 1
        return await self.run_blocking(self._in_view, operation, str(path), func)

    async def read_text(self, path: str) -> str:
        """A file's content as text (undecodable bytes become U+FFFD)."""
        return await self._call("read", path, lambda files: files.read_text(path))

    async def read_bytes(self, path: str) -> bytes:
        """A file's content."""
        return await self._call("download", path, lambda files: files.read_bytes(path))

    async def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """(size, chunks) of a regular file, for streaming downloads.

        The size is fixed when the file is opened: a file that grows meanwhile is sent up to
        that size; one that shrinks ends the chunks with a CONFLICT fault.
        """
        download = await self._call("download", path, lambda files: files.open_download(path))
        return download.size, self._chunks(download, str(path))

    async def _chunks(self, download: Download, path: str) -> AsyncIterator[bytes]:
        try:
            while chunk := await self.run_blocking(_guarded, "download", path, download.read):
                yield chunk
            if download.sent < download.size:
                shown = wire_text(path)
                raise SandboxFault(
                    "CONFLICT",
                    f"{shown} shrank from {download.size} to {download.sent} bytes while sent",
                    409,
                    path=shown,
                )
        finally:
            download.close()

    async def write(
        self, path: str, data: bytes, mode: str | None = None, overwrite: bool = True
    ) -> int:
        """Create or replace a file atomically; its size."""
        return await self._call(
            "write", path, lambda files: files.write(path, data, mode, overwrite)
        )

    @contextlib.asynccontextmanager
    async def write_stream(
        self, path: str, mode: str | None = None, overwrite: bool = True
    ) -> AsyncIterator[UploadWriter]:
        """An upload writer (``await writer.write(chunk)``), committed when the block ends.

        If the block fails (the client went away, the body was bad), nothing is left behind.
        """
        staged = await self._call("upload", path, lambda files: files.stage(path, mode, overwrite))
        try:
            yield UploadWriter(self, staged, path)
            await self.run_blocking(_guarded, "upload", path, staged.commit)
        finally:
            with anyio.CancelScope(shield=True):
                await self.run_blocking(staged.discard)

    async def list(self, path: str = "/workspace") -> list[dict[str, Any]]:
        """Directory entries: name, path, size, is_directory, modified_time, permissions."""
        return await self._call("list", path, lambda files: files.list(path))

    async def list_encoded(self, path: str = "/workspace") -> tuple[int, bytes]:
        """``(count, JSON)``: the entries of :meth:`list` as the items of a JSON array
        (comma-separated, without the brackets), for directories too big to hold as objects."""
        return await self._call("list", path, lambda files: files.list_encoded(path))

    async def exists(self, path: str) -> bool:
        """Whether something exists at a sandbox path."""
        return await self._call("exists", path, lambda files: files.exists(path))

    async def mkdir(self, path: str) -> None:
        """Create a directory with its parents."""
        await self._call("mkdir", path, lambda files: files.mkdir(path))

    async def remove(self, path: str) -> None:
        """Remove a file or a directory tree."""
        await self._call("remove", path, lambda files: files.remove(path))

    async def watch(self, path: str = "/workspace") -> AsyncGenerator[dict[str, str], None]:
        """Change events (path, event, timestamp) below a directory, from now until closed."""
        sandbox = await self._call("watch", path, lambda files: files.watch_root(path))
        first = await self.run_blocking(self._snapshot, sandbox)

        async def take() -> Snapshot:
            return await self.run_blocking(self._snapshot, sandbox)

        return watch_tree(first, take)

    def _snapshot(self, sandbox: str) -> Snapshot:
        try:
            with self._view() as files:
                return files.snapshot(sandbox)
        except (SandboxFault, OSError):
            return {}
