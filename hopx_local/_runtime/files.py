"""The file API of one sandbox: read, atomic write, upload, list, mkdir, remove."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .errors import fault
from .paths import MOUNTS, SandboxPaths, rfc3339

__all__ = ["MAX_WHOLE_READ", "SandboxFiles", "UploadWriter", "parse_mode"]

_CHUNK = 256 * 1024
#: Whole-file reads (``/files/read``) are refused above this size; downloads stream instead.
MAX_WHOLE_READ = 64 << 20
_DEFAULT_FILE_MODE = 0o644


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


class UploadWriter:
    """Receives an upload chunk by chunk into a temporary file (see ``write_stream``)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Append a chunk of the upload."""
        await anyio.to_thread.run_sync(self._handle.write, chunk)
        self.size += len(chunk)


class SandboxFiles:
    """File operations on sandbox paths; every path is resolved by :class:`SandboxPaths`.

    ``owner`` is the (uid, gid) sandboxed code runs as: files and directories the API creates
    are given to it so code can change them.
    """

    def __init__(self, paths: SandboxPaths, owner: tuple[int, int] | None) -> None:
        self.paths = paths
        self._owner = owner

    def _chown(self, target: Path | int) -> None:
        if self._owner is None:
            return
        if isinstance(target, int):
            os.fchown(target, *self._owner)
        else:
            os.chown(target, *self._owner, follow_symlinks=False)

    def _existing(
        self, path: str, *, follow_final: bool = True
    ) -> tuple[Path, str, os.stat_result]:
        host, sandbox = self.paths.resolve(path, follow_final=follow_final)
        try:
            info = host.lstat()
        except FileNotFoundError:
            raise _missing(sandbox)
        except NotADirectoryError:
            raise _missing(sandbox)
        return host, sandbox, info

    def _existing_file(self, path: str) -> tuple[Path, str]:
        host, sandbox, info = self._existing(path)
        if stat.S_ISDIR(info.st_mode):
            raise fault("INVALID_PATH", f"{sandbox} is a directory", path=sandbox)
        return host, sandbox

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file."""
        host, sandbox = self._existing_file(path)
        with host.open("rb") as handle:
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
        host, _sandbox = self._existing_file(path)
        handle = host.open("rb")
        size = os.fstat(handle.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            with handle:
                while chunk := await anyio.to_thread.run_sync(handle.read, _CHUNK):
                    yield chunk

        return size, chunks()

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at the path."""
        host, _sandbox = self.paths.resolve(path)
        return os.path.lexists(host)

    def _target(self, path: str, overwrite: bool) -> tuple[Path, str, int | None]:
        host, sandbox = self.paths.resolve(path)
        if sandbox in MOUNTS:
            raise fault("INVALID_PATH", f"{sandbox} is a directory", path=sandbox)
        self._make_dirs(host.parent)
        try:
            info = host.stat()
        except FileNotFoundError:
            return host, sandbox, None
        if stat.S_ISDIR(info.st_mode):
            raise fault("INVALID_PATH", f"{sandbox} is a directory", path=sandbox)
        if not overwrite:
            raise fault("FILE_ALREADY_EXISTS", f"{sandbox} already exists", path=sandbox)
        return host, sandbox, stat.S_IMODE(info.st_mode)

    def _temp_for(self, host: Path) -> Path:
        return host.with_name(f".{host.name}.{secrets.token_hex(6)}.part")

    def write(self, path: str, data: bytes, mode: str | None = None, overwrite: bool = True) -> int:
        """Create or replace a file atomically (temporary file + rename); returns its size."""
        wanted = parse_mode(mode)
        host, _sandbox, previous = self._target(path, overwrite)
        temp = self._temp_for(host)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), wanted or previous or _DEFAULT_FILE_MODE)
                self._chown(handle.fileno())
            os.replace(temp, host)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return len(data)

    @contextlib.asynccontextmanager
    async def write_stream(
        self, path: str, mode: str | None = None, overwrite: bool = True
    ) -> AsyncIterator[UploadWriter]:
        """An upload destination: chunks go to a temporary file renamed into place on success.

        If the body fails midway (exception inside the ``async with``), nothing is left behind.
        """
        wanted = parse_mode(mode)
        host, _sandbox, previous = self._target(path, overwrite)
        temp = self._temp_for(host)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield UploadWriter(handle)
                os.fchmod(handle.fileno(), wanted or previous or _DEFAULT_FILE_MODE)
                self._chown(handle.fileno())
            os.replace(temp, host)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _entry(self, host: Path, sandbox: str, info: os.stat_result) -> dict[str, Any]:
        return {
            "name": host.name or sandbox.rsplit("/", 1)[-1],
            "path": sandbox,
            "size": info.st_size,
            "is_directory": stat.S_ISDIR(info.st_mode),
            "modified_time": rfc3339(info.st_mtime),
            "permissions": stat.filemode(info.st_mode),
        }

    def stat(self, path: str) -> dict[str, Any]:
        """The list entry of one file or directory."""
        host, sandbox, info = self._existing(path)
        return self._entry(host, sandbox, info)

    def list(self, path: str = "/workspace") -> list[dict[str, Any]]:
        """Entries of a directory (symlinks reported as links), sorted by name."""
        host, sandbox, info = self._existing(path)
        if not stat.S_ISDIR(info.st_mode):
            return [self._entry(host, sandbox, info)]
        entries = []
        with os.scandir(host) as found:
            for item in found:
                try:
                    item_info = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                child = sandbox.rstrip("/") + "/" + item.name
                entries.append(self._entry(Path(item.path), child, item_info))
        return sorted(entries, key=lambda entry: str(entry["name"]))

    def _make_dirs(self, host: Path) -> None:
        missing: list[Path] = []
        probe = host
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        if not probe.is_dir():
            path = self.paths.to_sandbox(probe)
            raise fault("INVALID_PATH", f"{path} is not a directory", path=path)
        for directory in reversed(missing):
            directory.mkdir(mode=0o755, exist_ok=True)
            self._chown(directory)

    def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents (no error if it exists)."""
        host, sandbox = self.paths.resolve(path)
        if host.exists() and not host.is_dir():
            raise fault("FILE_ALREADY_EXISTS", f"{sandbox} exists and is a file", path=sandbox)
        self._make_dirs(host)

    def remove(self, path: str) -> None:
        """Remove a file, a symlink (not its target) or a whole directory tree."""
        host, sandbox, info = self._existing(path, follow_final=False)
        if sandbox in MOUNTS:
            raise fault("PATH_NOT_ALLOWED", f"{sandbox} itself cannot be removed", path=sandbox)
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(host)
        else:
            host.unlink()

    def make_root_dirs(self) -> None:
        """Create the sandbox's /workspace and /tmp if missing, owned by the sandbox user."""
        for mount in MOUNTS:
            host, _sandbox = self.paths.resolve(mount)
            if not host.exists():
                host.mkdir(parents=True, mode=0o755)
            self._chown(host)
