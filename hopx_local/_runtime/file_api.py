"""The file half of a sandbox's API: every call counted and OS errors turned into faults."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from .errors import fault
from .files import SandboxFiles, UploadWriter
from .paths import SandboxPaths
from .watch import watch_tree

__all__ = ["SandboxFileAPI"]


class SandboxFileAPI:
    """File operations on sandbox paths (mixed into the sandbox runtime)."""

    files: SandboxFiles
    paths: SandboxPaths
    counters: Counter[str]

    @contextlib.contextmanager
    def _file_call(self, operation: str, path: object) -> Iterator[None]:
        self.counters[f"requests_files_{operation}"] += 1
        try:
            yield
        except PermissionError as exc:
            raise fault("PERMISSION_DENIED", f"{operation}: {exc.strerror}", path=str(path))
        except OSError as exc:
            raise fault("FILE_OPERATION_FAILED", f"{operation}: {exc.strerror}", path=str(path))

    def read_text(self, path: str) -> str:
        """A file's content as text."""
        with self._file_call("read", path):
            return self.files.read_text(path)

    def read_bytes(self, path: str) -> bytes:
        """A file's content."""
        with self._file_call("download", path):
            return self.files.read_bytes(path)

    def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """(size, chunk iterator) of a file, for streaming downloads."""
        with self._file_call("download", path):
            return self.files.open_read(path)

    def write(self, path: str, data: bytes, mode: str | None = None, overwrite: bool = True) -> int:
        """Create or replace a file atomically; its size."""
        with self._file_call("write", path):
            return self.files.write(path, data, mode, overwrite)

    @contextlib.asynccontextmanager
    async def write_stream(
        self, path: str, mode: str | None = None, overwrite: bool = True
    ) -> AsyncIterator[UploadWriter]:
        """An upload writer (``await writer.write(chunk)``), committed when the block ends."""
        with self._file_call("upload", path):
            async with self.files.write_stream(path, mode, overwrite) as writer:
                yield writer

    def list(self, path: str = "/workspace") -> list[dict[str, Any]]:
        """Directory entries: name, path, size, is_directory, modified_time, permissions."""
        with self._file_call("list", path):
            return self.files.list(path)

    def exists(self, path: str) -> bool:
        """Whether something exists at a sandbox path."""
        with self._file_call("exists", path):
            return self.files.exists(path)

    def mkdir(self, path: str) -> None:
        """Create a directory with its parents."""
        with self._file_call("mkdir", path):
            self.files.mkdir(path)

    def remove(self, path: str) -> None:
        """Remove a file or a directory tree."""
        with self._file_call("remove", path):
            self.files.remove(path)

    def watch(self, path: str = "/workspace") -> AsyncGenerator[dict[str, str], None]:
        """Change events (path, event, timestamp) below a directory until closed."""
        with self._file_call("watch", path):
            host, sandbox = self.paths.resolve(path)
            if not host.is_dir():
                raise fault("DIRECTORY_NOT_FOUND", f"no such directory: {sandbox}", path=sandbox)
        return watch_tree(host, sandbox)
