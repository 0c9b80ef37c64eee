"""``sandbox.files``: read, write, list, upload and download files in the sandbox."""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

import builtins
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from .._errors import FileOperationError
from .._http import ResponseHead
from .._models.files import FileInfo
from .._multipart import StreamSlot
from .._ops import files as file_ops
from ._agent import Agent
from ._localfile import CHUNK, AtomicWriter, LocalReader
from ._streaming import EventStream, stream_messages

if TYPE_CHECKING:
    from .._streams import WatchEvent

__all__ = ["AsyncFiles", "ProgressCallback"]

#: ``on_progress(bytes_done, bytes_total)``; total is ``None`` when unknown.
ProgressCallback = Callable[[int, int | None], Awaitable[None] | None]

TRANSFER_READ_TIMEOUT = 120.0


async def _report(callback: ProgressCallback | None, done: int, total: int | None) -> None:
    if callback is not None:
        pending = callback(done, total)
        if pending is not None:
            await pending


class AsyncFiles:
    """File operations; every path is percent-encoded on the wire.

    Every method raises, besides what it lists: :class:`~hopx_proto.FileOperationError` when
    the agent refuses the path (outside the allowed tree, not permitted),
    :class:`~hopx_proto.AuthenticationError` when the token is refused twice, and
    :class:`~hopx_proto.NetworkError` / :class:`~hopx_proto.TimeoutError` for transport
    failures.

    Args:
        agent: the sandbox's agent (``sandbox.files`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def read(self, path: str, *, timeout: int | None = None) -> str:
        """A text file's content.

        Args:
            path: the file's absolute path in the sandbox.
            timeout: the read deadline of the call in seconds (the client's when ``None``).

        Returns:
            The content, decoded as UTF-8 by the agent.

        Raises:
            FileNotFoundError: there is no file at ``path``.
        """
        reply = await self._agent.call(
            file_ops.FILES_READ, file_ops.FilePath(path=path), error_path=path, read_timeout=timeout
        )
        return reply.content

    async def read_bytes(self, path: str, *, timeout: int | None = None) -> bytes:
        """A file's raw bytes (never guessed at as base64).

        Args:
            path: the file's absolute path in the sandbox.
            timeout: the read deadline of the call in seconds (the client's when ``None``).

        Returns:
            The bytes as stored.

        Raises:
            FileNotFoundError: there is no file at ``path``.
        """
        return await self._agent.call(
            file_ops.FILES_DOWNLOAD,
            file_ops.FilePath(path=path),
            error_path=path,
            read_timeout=timeout,
        )

    async def write(
        self, path: str, content: str, mode: str = "0644", *, timeout: int | None = None
    ) -> None:
        """Create or overwrite a text file.

        Args:
            path: the file's absolute path in the sandbox; missing parents are created.
            content: the text to store (UTF-8).
            mode: the file's permission bits, in octal (``"0644"``).
            timeout: the read deadline of the call in seconds (the client's when ``None``).
        """
        await self._agent.call(
            file_ops.FILES_WRITE,
            file_ops.FileWrite(path, content, mode=mode),
            error_path=path,
            read_timeout=timeout,
        )

    async def write_bytes(
        self, path: str, content: bytes, mode: str = "0644", *, timeout: int | None = None
    ) -> None:
        """Create or overwrite a file with raw bytes.

        Args:
            path: the file's absolute path in the sandbox; missing parents are created.
            content: the bytes to store.
            mode: the file's permission bits, in octal (``"0644"``).
            timeout: the read deadline of the call in seconds (the client's when ``None``).
        """
        await self._agent.call(
            file_ops.FILES_WRITE,
            file_ops.FileWrite.from_bytes(path, content, mode=mode),
            error_path=path,
            read_timeout=timeout,
        )

    async def list(
        self, path: str = "/workspace", *, timeout: int | None = None
    ) -> builtins.list[FileInfo]:
        """A directory's entries.

        Args:
            path: the directory's absolute path in the sandbox.
            timeout: the read deadline of the call in seconds (the client's when ``None``).

        Returns:
            One :class:`~hopx_proto.FileInfo` per entry.

        Raises:
            FileNotFoundError: there is no directory at ``path``.
        """
        reply = await self._agent.call(
            file_ops.FILES_LIST,
            file_ops.FilesList(path=path),
            error_path=path,
            read_timeout=timeout,
        )
        return builtins.list(reply.files)

    async def exists(self, path: str, *, timeout: int | None = None) -> bool:
        """Whether ``path`` (an absolute path in the sandbox) names a file or directory
        (``timeout``: the read deadline in seconds, the client's when ``None``)."""
        reply = await self._agent.call(
            file_ops.FILES_EXISTS,
            file_ops.FilePath(path=path),
            error_path=path,
            read_timeout=timeout,
        )
        return reply.exists

    async def remove(self, path: str, *, timeout: int | None = None) -> None:
        """Remove a file, or a directory with its content.

        Args:
            path: the absolute path to remove.
            timeout: the read deadline of the call in seconds (the client's when ``None``).

        Raises:
            FileNotFoundError: there is nothing at ``path``.
        """
        await self._agent.call(
            file_ops.FILES_REMOVE,
            file_ops.FilePath(path=path),
            error_path=path,
            read_timeout=timeout,
        )

    async def mkdir(self, path: str, *, timeout: int | None = None) -> None:
        """Create a directory and its parents (nothing happens if it exists).

        Args:
            path: the directory's absolute path in the sandbox.
            timeout: the read deadline of the call in seconds (the client's when ``None``).
        """
        await self._agent.call(
            file_ops.FILES_MKDIR,
            file_ops.FileMkdir(path=path),
            error_path=path,
            read_timeout=timeout,
        )

    async def upload(
        self,
        local_path: str | pathlib.Path,
        remote_path: str,
        *,
        timeout: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Stream a local file to ``remote_path`` (multipart, sized, in chunks).

        Args:
            local_path: the file on this machine.
            remote_path: where it goes in the sandbox (absolute).
            timeout: the deadline of each read in seconds (120 when ``None``).
            on_progress: called as ``on_progress(bytes_sent, total)`` while it goes (may be
                a coroutine function).

        Raises:
            FileOperationError: the local file cannot be read, or shrank during the upload.
        """
        backend = self._agent.backend
        local = pathlib.Path(local_path)
        probe = LocalReader(backend, local)
        size = await probe.open()
        await probe.aclose()
        boundary = backend.random_bytes(16).hex()
        encoder = file_ops.streamed_upload(remote_path, local.name or "file", size, boundary)

        async def body() -> AsyncIterator[bytes]:
            reader = LocalReader(backend, local)
            await reader.open()
            done = 0
            try:
                await _report(on_progress, 0, size)
                for segment in encoder.segments():
                    if not isinstance(segment, StreamSlot):
                        yield segment
                        continue
                    left = segment.size
                    while left > 0:
                        chunk = await reader.read(min(CHUNK, left))
                        if not chunk:
                            raise FileOperationError(
                                f"local file {str(local)!r} shrank during the upload",
                                operation="files.upload",
                                path=str(local),
                            )
                        left -= len(chunk)
                        done += len(chunk)
                        yield chunk
                        await _report(on_progress, done, size)
            finally:
                await reader.aclose()

        args = file_ops.FileUpload(remote_path, b"", local.name or "file", boundary=boundary)
        await self._agent.call(
            file_ops.FILES_UPLOAD,
            args,
            read_timeout=TRANSFER_READ_TIMEOUT if timeout is None else timeout,
            deadline=None,  # a transfer takes as long as its size needs; each read is bounded
            error_path=remote_path,
            upload=body,
            headers=((b"content-length", str(encoder.content_length()).encode()),),
        )

    async def download(
        self,
        remote_path: str,
        local_path: str | pathlib.Path,
        *,
        timeout: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Stream ``remote_path`` into a local file, atomically (temp file + rename): on
        any failure the destination is left as it was.

        Args:
            remote_path: the file in the sandbox (absolute).
            local_path: where it goes on this machine.
            timeout: the deadline of each read in seconds (120 when ``None``).
            on_progress: called as ``on_progress(bytes_received, total)`` while it comes,
                ``total`` being the size the agent announced (``Content-Length``), or
                ``None`` when it did not (may be a coroutine function).

        Raises:
            FileNotFoundError: there is no file at ``remote_path``.
            FileOperationError: the local file cannot be written.
        """
        backend = self._agent.backend
        writer = AtomicWriter(backend, local_path)
        await writer.open()
        sink = _DownloadSink(writer, on_progress)
        try:
            await self._agent.call(
                file_ops.FILES_DOWNLOAD,
                file_ops.FilePath(path=remote_path),
                read_timeout=TRANSFER_READ_TIMEOUT if timeout is None else timeout,
                deadline=None,  # a transfer takes as long as its size needs; each read is bounded
                error_path=remote_path,
                sink=sink,
                before_retry=writer.reset,
            )
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise

    def watch(
        self,
        path: str = "/workspace",
        *,
        timeout: int | None = None,
        idle_timeout: float | None = None,
    ) -> EventStream[WatchEvent]:
        """Change events under ``path`` until the loop stops or the server closes.

        Use ``async with`` around the result to stop watching at once.

        Args:
            path: the directory to watch (absolute, recursively).
            timeout: seconds the WebSocket handshake may take (30 when ``None``).
            idle_timeout: seconds without a message after which the watch ends with
                :class:`~hopx_proto.TimeoutError`; ``None`` waits as long as the server keeps
                the connection open (no change may happen for hours).

        Returns:
            The events, read with ``async for``.
        """
        # The stream's machine is a submodule only streams use: the first stream loads it.
        from .._streams import WatchClient, WatchRequest

        machine = WatchClient()
        first = machine.start(WatchRequest(path=path))
        handshake = float(timeout) if timeout is not None else 30.0
        return EventStream(
            stream_messages(
                self._agent,
                file_ops.FILES_WATCH,
                machine,
                first,
                handshake=handshake,
                idle_timeout=idle_timeout,
            )
        )


class _DownloadSink:
    """Writes a download's body and reports its progress, with the announced size."""

    def __init__(self, writer: AtomicWriter, on_progress: ProgressCallback | None) -> None:
        self._writer = writer
        self._on_progress = on_progress
        self._total: int | None = None

    async def on_head(self, head: ResponseHead) -> None:
        """Take the total size from the reply's ``Content-Length`` (each attempt's own)."""
        value = head.header("content-length")
        self._total = int(value) if value is not None and value.strip().isdigit() else None

    async def __call__(self, chunk: bytes) -> None:
        await self._writer.write(chunk)
        await _report(self._on_progress, self._writer.written, self._total)
