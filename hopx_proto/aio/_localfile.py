"""Local files for uploads and downloads, through the backend's worker threads.

Downloads are atomic: bytes go to a temporary file next to the destination, which is renamed
over it only once the whole body arrived; on any failure the temporary file is removed, so a
half-written file never appears under the destination name.
"""

from __future__ import annotations

import pathlib
from typing import IO

from .._errors import FileOperationError
from ._backend import Backend

__all__ = ["AtomicWriter", "LocalReader"]

CHUNK = 256 * 1024


class LocalReader:
    """A local file read in chunks."""

    def __init__(self, backend: Backend, path: str | pathlib.Path) -> None:
        self._backend = backend
        self.path = pathlib.Path(path)
        self._file: IO[bytes] | None = None

    async def open(self) -> int:
        """Open the file; its size in bytes."""

        def run() -> tuple[IO[bytes], int]:
            handle = self.path.open("rb")
            return handle, self.path.stat().st_size

        try:
            self._file, size = await self._backend.run_sync(run)
        except OSError as exc:
            raise FileOperationError(
                f"cannot read local file {str(self.path)!r}: {exc.strerror or exc}",
                operation="files.upload",
                path=str(self.path),
            ) from None
        return size

    async def read(self, size: int = CHUNK) -> bytes:
        assert self._file is not None
        return await self._backend.run_sync(self._file.read, size)

    async def aclose(self) -> None:
        if self._file is not None:
            handle, self._file = self._file, None
            await self._backend.run_sync(handle.close)


class AtomicWriter:
    """Write a local file atomically: a temporary sibling, renamed into place on commit."""

    def __init__(self, backend: Backend, path: str | pathlib.Path) -> None:
        self._backend = backend
        self.path = pathlib.Path(path)
        suffix = backend.random_bytes(6).hex()
        self.temp = self.path.with_name(f".{self.path.name}.{suffix}.part")
        self._file: IO[bytes] | None = None
        self.written = 0

    def _fail(self, exc: OSError) -> FileOperationError:
        return FileOperationError(
            f"cannot write local file {str(self.path)!r}: {exc.strerror or exc}",
            operation="files.download",
            path=str(self.path),
        )

    async def open(self) -> None:
        try:
            self._file = await self._backend.run_sync(self.temp.open, "wb")
        except OSError as exc:
            raise self._fail(exc) from None

    async def write(self, data: bytes) -> None:
        assert self._file is not None
        try:
            await self._backend.run_sync(self._file.write, data)
        except OSError as exc:
            raise self._fail(exc) from None
        self.written += len(data)

    async def reset(self) -> None:
        """Start over (before a retry)."""
        assert self._file is not None
        handle = self._file

        def run() -> None:
            handle.seek(0)
            handle.truncate()

        await self._backend.run_sync(run)
        self.written = 0

    async def commit(self) -> None:
        """Close and rename over the destination."""
        assert self._file is not None
        handle, self._file = self._file, None

        def run() -> None:
            handle.close()
            self.temp.replace(self.path)

        try:
            await self._backend.run_sync(run)
        except OSError as exc:
            await self.abort()
            raise self._fail(exc) from None

    async def abort(self) -> None:
        """Close and remove the temporary file."""
        handle, self._file = self._file, None

        def run() -> None:
            if handle is not None:
                handle.close()
            self.temp.unlink(missing_ok=True)

        with self._backend.shielded(10.0):
            await self._backend.run_sync(run)
