"""The file API of one sandbox: read, atomic write, upload, list, mkdir, remove.

Every operation first resolves the sandbox path (symlinks followed the way the sandbox sees
them, see :class:`SandboxPaths`), then works relative to directory descriptors opened with
O_NOFOLLOW: if sandboxed code swaps a directory for a symlink in between, the operation fails
instead of following the link out of the sandbox with the emulator's privileges.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from .errors import SandboxFault, fault
from .paths import MOUNTS, SandboxPaths, is_symlink_at, open_beneath, rfc3339

__all__ = ["MAX_WHOLE_READ", "SandboxFiles", "UploadWriter", "parse_mode"]

_CHUNK = 256 * 1024
_DEFAULT_FILE_MODE = 0o644
#: Whole-file reads (``/files/read``) are refused above this size; downloads stream instead.
MAX_WHOLE_READ = 64 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def parse_mode(mode: str | int | None) -> int | None:
    """An octal permission string (``"0644"``, ``"755"``, ``"0o600"``) as an int."""
    if mode is None or isinstance(mode, int):
        return mode
    text = mode.strip().lower().removeprefix("0o")
    try:
        value = int(text, 8)
    except ValueError:
        raise fault("INVALID_REQUEST", f"mode must be an octal string like '0644', not {mode!r}")
    if not 0 <= value <= 0o7777:
        raise fault("INVALID_REQUEST", f"mode {mode!r} is out of range")
    return value


def _missing(path: str) -> Exception:
    return fault("FILE_NOT_FOUND", f"no such file or directory: {path}", path=path)


def _is_a_directory(path: str) -> Exception:
    return fault("INVALID_PATH", f"{path} is a directory", path=path)


class UploadWriter:
    """Receives an upload chunk by chunk into a temporary file (see ``write_stream``)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Append a chunk of the upload."""
        await anyio.to_thread.run_sync(self._handle.write, chunk)
        self.size += len(chunk)


class SandboxFiles:
    """File operations on sandbox paths.

    ``owner`` is the (uid, gid) sandboxed code runs as: files and directories the API creates
    are given to it so code can change them.
    """

    def __init__(self, paths: SandboxPaths, owner: tuple[int, int] | None) -> None:
        self.paths = paths
        self._owner = owner

    def _chown(self, fd: int) -> None:
        if self._owner is not None:
            os.fchown(fd, *self._owner)

    @contextlib.contextmanager
    def _parent(self, path: str, *, follow_final: bool = True) -> Iterator[tuple[int, str, str]]:
        """(parent directory fd, final name, sandbox path); the fd is closed afterwards."""
        host, sandbox = self.paths.resolve(path, follow_final=follow_final)
        base, parts = self.paths.split_host(host)
        if not parts:
            raise fault("PATH_NOT_ALLOWED", f"{sandbox} itself cannot be used here", path=sandbox)
        fd = open_beneath(base, parts[:-1], sandbox=sandbox)
        try:
            yield fd, parts[-1], sandbox
        finally:
            os.close(fd)

    @staticmethod
    def _lstat(parent: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _open_file(self, path: str) -> tuple[int, str]:
        with self._parent(path) as (parent, name, sandbox):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except FileNotFoundError:
                raise _missing(sandbox)
            except IsADirectoryError:
                raise _is_a_directory(sandbox)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise _is_a_directory(sandbox)
        return fd, sandbox

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file (refused above :data:`MAX_WHOLE_READ` bytes)."""
        fd, sandbox = self._open_file(path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_WHOLE_READ + 1)
        if len(data) > MAX_WHOLE_READ:
            raise fault(
                "INVALID_REQUEST",
                f"{sandbox} is larger than {MAX_WHOLE_READ} bytes; download it instead",
                path=sandbox,
            )
        return data

    def read_text(self, path: str) -> str:
        """The content of a file as text (UTF-8; undecodable bytes become U+FFFD)."""
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """(size, chunks) of a file, for streaming downloads."""
        fd, _sandbox = self._open_file(path)
        handle = os.fdopen(fd, "rb")
        size = os.fstat(fd).st_size

        async def chunks() -> AsyncIterator[bytes]:
            with handle:
                while chunk := await anyio.to_thread.run_sync(handle.read, _CHUNK):
                    yield chunk

        return size, chunks()

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at the path."""
        _host, sandbox = self.paths.resolve(path)
        if sandbox in MOUNTS:
            return True
        try:
            with self._parent(path) as (parent, name, _sandbox):
                return self._lstat(parent, name) is not None
        except SandboxFault as exc:
            if exc.code == "FILE_NOT_FOUND":
                return False
            raise

    def _make_dirs(self, host: Path, sandbox: str, *, target: bool = False) -> None:
        """mkdir -p through directory fds; ``target``: the last part is the requested dir."""
        base, parts = self.paths.split_host(host)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for index, part in enumerate(parts):
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    created = False
                else:
                    created = True
                try:
                    following = os.open(
                        part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd
                    )
                except OSError as exc:
                    if is_symlink_at(fd, part):
                        raise fault(
                            "PATH_NOT_ALLOWED", f"{sandbox} changed while in use", path=sandbox
                        )
                    if not isinstance(exc, NotADirectoryError):
                        raise
                    if target and index == len(parts) - 1:
                        raise fault(
                            "FILE_ALREADY_EXISTS", f"{sandbox} exists and is a file", path=sandbox
                        )
                    raise fault("INVALID_PATH", f"a part of {sandbox} is a file", path=sandbox)
                os.close(fd)
                fd = following
                if created:
                    self._chown(fd)
        finally:
            os.close(fd)

    def _make_parents(self, path: str) -> None:
        host, sandbox = self.paths.resolve(path)
        if sandbox in MOUNTS:
            raise _is_a_directory(sandbox)
        self._make_dirs(host.parent, sandbox)

    @contextlib.contextmanager
    def _replacing(self, path: str, mode: str | None, overwrite: bool) -> Iterator[BinaryIO]:
        """A temporary file renamed over ``path`` when the block succeeds, removed otherwise."""
        wanted = parse_mode(mode)
        self._make_parents(path)
        with self._parent(path) as (parent, name, sandbox):
            previous = self._lstat(parent, name)
            if previous is not None and stat.S_ISDIR(previous.st_mode):
                raise _is_a_directory(sandbox)
            if previous is not None and not overwrite:
                raise fault("FILE_ALREADY_EXISTS", f"{sandbox} already exists", path=sandbox)
            keep = stat.S_IMODE(previous.st_mode) if previous is not None else None
            temp = f".{name}.{secrets.token_hex(6)}.part"
            fd = os.open(temp, _NEW_FILE, 0o600, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    yield handle
                    os.fchmod(handle.fileno(), wanted or keep or _DEFAULT_FILE_MODE)
                    self._chown(handle.fileno())
                os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=parent)
                raise

    def write(self, path: str, data: bytes, mode: str | None = None, overwrite: bool = True) -> int:
        """Create or replace a file atomically (temporary file + rename); returns its size."""
        with self._replacing(path, mode, overwrite) as handle:
            handle.write(data)
        return len(data)

    @contextlib.asynccontextmanager
    async def write_stream(
        self, path: str, mode: str | None = None, overwrite: bool = True
    ) -> AsyncIterator[UploadWriter]:
        """An upload destination: chunks go to a temporary file renamed into place on success.

        If the body fails midway (exception inside the ``async with``), nothing is left behind.
        """
        with self._replacing(path, mode, overwrite) as handle:
            yield UploadWriter(handle)

    def _entry(self, name: str, sandbox: str, info: os.stat_result) -> dict[str, Any]:
        return {
            "name": name,
            "path": sandbox,
            "size": info.st_size,
            "is_directory": stat.S_ISDIR(info.st_mode),
            "modified_time": rfc3339(info.st_mtime),
            "permissions": stat.filemode(info.st_mode),
        }

    def list(self, path: str = "/workspace") -> list[dict[str, Any]]:
        """Entries of a directory (symlinks reported as links), sorted by name."""
        host, sandbox = self.paths.resolve(path)
        base, parts = self.paths.split_host(host)
        if parts:
            with self._parent(path) as (parent, name, _sandbox):
                info = self._lstat(parent, name)
                if info is None:
                    raise _missing(sandbox)
                if not stat.S_ISDIR(info.st_mode):
                    return [self._entry(name, sandbox, info)]
        fd = open_beneath(base, parts, sandbox=sandbox)
        entries = []
        try:
            with os.scandir(fd) as found:
                for item in found:
                    try:
                        item_info = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    child = sandbox.rstrip("/") + "/" + item.name
                    entries.append(self._entry(item.name, child, item_info))
        finally:
            os.close(fd)
        return sorted(entries, key=lambda entry: str(entry["name"]))

    def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents (no error if it exists)."""
        host, sandbox = self.paths.resolve(path)
        self._make_dirs(host, sandbox, target=True)

    def remove(self, path: str) -> None:
        """Remove a file, a symlink (not its target) or a whole directory tree."""
        with self._parent(path, follow_final=False) as (parent, name, sandbox):
            info = self._lstat(parent, name)
            if info is None:
                raise _missing(sandbox)
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(name, dir_fd=parent)
            else:
                os.unlink(name, dir_fd=parent)

    def make_root_dirs(self) -> None:
        """Create the sandbox's /workspace and /tmp if missing, owned by the sandbox user."""
        for mount in MOUNTS:
            host, _sandbox = self.paths.resolve(mount)
            host.mkdir(parents=True, mode=0o755, exist_ok=True)
            fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
            try:
                self._chown(fd)
            finally:
                os.close(fd)
