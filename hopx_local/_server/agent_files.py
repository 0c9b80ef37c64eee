"""File endpoints: read, write (text or base64), streamed upload and download, list, exists,
mkdir and remove. Paths are sandbox paths (absolute, or relative to ``/workspace``); the
runtime resolves them inside the sandbox's own filesystem, never on the host, and refuses what
the sandbox may not see or change (see :mod:`hopx_local._runtime.sysroot`)."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from hopx_local._runtime.sharing import sharing
from hopx_proto import NEED_DATA, Operation, RemoteProtocolError, Request, Response
from hopx_proto.ops import (
    FILES_DOWNLOAD,
    FILES_EXISTS,
    FILES_LIST,
    FILES_MKDIR,
    FILES_READ,
    FILES_REMOVE,
    FILES_UPLOAD,
    FILES_WRITE,
)
from hopx_proto.wire import Done, MultipartDecoder, PartData, PartEnd, PartStart

from .agent import AgentContext, Handler, RawHandler
from .bodies import encode_in_pieces, listing_pieces, respond_in_pieces
from .envelope import Problem, utc_now_text

__all__ = ["HANDLERS", "RAW_HANDLERS"]

_UPLOAD_MAX_PARTS = 8
#: Base64 text decoded per call (a multiple of 4, so every slice decodes on its own), and text
#: encoded per call.
_BASE64_SLICE = 4 << 20
_TEXT_SLICE = 1 << 20


def _done(path: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"success": True, "path": path, "message": message, "timestamp": utc_now_text(), **extra}


def _read_pieces(path: str, content: str) -> list[bytes]:
    """The ``files.read`` reply body, in pieces (blocking for a large file)."""
    slices = sharing(range(0, len(content), _TEXT_SLICE), 1)
    size = sum(len(content[start : start + _TEXT_SLICE].encode()) for start in slices)
    return encode_in_pieces({"content": content, "path": path, "size": size})


async def read(ctx: AgentContext, args: Any) -> None:
    content = await ctx.runtime.read_text(args.path)
    pieces = await ctx.runtime.run_blocking(_read_pieces, args.path, content)
    await respond_in_pieces(ctx.exchange, FILES_READ, pieces)


async def exists(ctx: AgentContext, args: Any) -> dict[str, Any]:
    return {"exists": bool(await ctx.runtime.exists(args.path)), "path": args.path}


async def list_files(ctx: AgentContext, args: Any) -> None:
    count, entries = await ctx.runtime.list_encoded(args.path)
    await respond_in_pieces(ctx.exchange, FILES_LIST, listing_pieces(args.path, count, entries))


async def mkdir(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await ctx.runtime.mkdir(args.path)
    return _done(args.path, "Directory created")


async def remove(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await ctx.runtime.remove(args.path)
    return _done(args.path, "Removed")


def _content_bytes(args: Any) -> bytes:
    """The bytes a ``files.write`` asks for (blocking for a large content)."""
    text = args.content
    if args.encoding != "base64":
        try:
            return b"".join(
                text[start : start + _TEXT_SLICE].encode("utf-8")
                for start in sharing(range(0, len(text), _TEXT_SLICE), 1)
            )
        except UnicodeEncodeError:
            raise Problem(
                400, "content is not valid Unicode text", code="INVALID_REQUEST", path=args.path
            ) from None
    try:
        return b"".join(
            base64.b64decode(text[start : start + _BASE64_SLICE].encode("ascii"), validate=True)
            for start in sharing(range(0, len(text), _BASE64_SLICE), 1)
        )
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Problem(
            400, "content is not valid base64", code="INVALID_REQUEST", path=args.path
        ) from None


async def write(ctx: AgentContext, args: Any) -> dict[str, Any]:
    data = await ctx.runtime.run_blocking(_content_bytes, args)
    overwrite = True if args.overwrite is None else bool(args.overwrite)
    size = await ctx.runtime.write(args.path, data, args.mode, overwrite)
    return _done(args.path, "File written", size=int(size) if size is not None else len(data))


async def download(ctx: AgentContext, op: Operation[Any, Any]) -> Response | None:
    exchange = ctx.exchange
    await exchange.read_body()
    request_args = op.parse(Request(exchange.method, exchange.target, exchange.head.headers, b""))
    size, chunks = await ctx.runtime.open_read(request_args.path)
    headers = (
        (b"content-type", op.result.content_type),
        (b"content-length", str(int(size)).encode()),
    )
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        await exchange.respond_stream(200, headers, chunks)
    return None


async def _multipart_events(
    decoder: MultipartDecoder, body: AsyncGenerator[bytes, None]
) -> AsyncGenerator[PartStart | PartData | PartEnd | Done, None]:
    async with contextlib.aclosing(body):
        async for chunk in body:
            decoder.receive_data(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                yield event
                if isinstance(event, Done):
                    return
    decoder.receive_data(b"")
    while (event := decoder.next_event()) is not NEED_DATA:
        yield event
        if isinstance(event, Done):
            return
    raise RemoteProtocolError("multipart body ended before its closing delimiter")


Events = AsyncGenerator[PartStart | PartData | PartEnd | Done, None]


async def upload(ctx: AgentContext, op: Operation[Any, Any]) -> Response | None:
    """Stream a ``multipart/form-data`` upload into the sandbox without holding it in memory
    (when the ``path`` part comes first, as clients send it)."""
    exchange = ctx.exchange
    content_type = exchange.header("content-type")
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        raise Problem(415, "files.upload needs a multipart/form-data body", code="INVALID_REQUEST")
    decoder = MultipartDecoder(content_type, max_parts=_UPLOAD_MAX_PARTS)
    events = _multipart_events(decoder, exchange.body_chunks())
    async with contextlib.aclosing(events):
        path, written, buffered = await _consume_upload(ctx, events)
    if path is None:
        raise Problem(400, "upload has no 'path' part", code="MISSING_PARAMETER")
    if written is None:
        if buffered is None:
            raise Problem(400, "upload has no 'file' part", code="MISSING_PARAMETER")
        written = int(await ctx.runtime.write(path, bytes(buffered), None, True))
    return op.render(_done(path, "File uploaded", size=written))


async def _consume_upload(
    ctx: AgentContext, events: Events
) -> tuple[str | None, int | None, bytearray | None]:
    """Read every part: ``(path, bytes streamed to the file, bytes held back)``."""
    path: str | None = None
    path_bytes = bytearray()
    buffered: bytearray | None = None
    written: int | None = None
    current: str | None = None
    async for event in events:
        if isinstance(event, PartStart):
            current = event.name
            if current == "file":
                if written is not None or buffered is not None:
                    raise Problem(400, "part 'file' appears twice", code="INVALID_REQUEST")
                if path is None:
                    buffered = bytearray()  # path part not seen yet: keep the bytes
                else:
                    written = await _stream_file(ctx, path, events)
                    current = None
            elif current != "path":
                raise Problem(400, f"unknown part {current!r} in upload", code="INVALID_REQUEST")
        elif isinstance(event, PartData):
            if current == "path":
                path_bytes += event.data
            elif current == "file" and buffered is not None:
                buffered += event.data
        elif isinstance(event, PartEnd):
            if current == "path":
                try:
                    path = path_bytes.decode("utf-8")
                except UnicodeDecodeError:
                    raise Problem(
                        400, "upload 'path' part is not UTF-8", code="INVALID_REQUEST"
                    ) from None
            current = None
        elif isinstance(event, Done):
            break
    return path, written, buffered


async def _stream_file(
    ctx: AgentContext,
    path: str,
    events: Events,
) -> int:
    size = 0
    async with ctx.runtime.write_stream(path) as writer:
        async for event in events:
            if isinstance(event, PartData):
                await writer.write(event.data)
                size += len(event.data)
            elif isinstance(event, PartEnd):
                return size
            else:
                break
        # Raised inside the block so that the partial file is thrown away.
        raise RemoteProtocolError("upload 'file' part ended early")


HANDLERS: dict[Operation[Any, Any], Handler] = {
    FILES_READ: read,
    FILES_EXISTS: exists,
    FILES_LIST: list_files,
    FILES_MKDIR: mkdir,
    FILES_REMOVE: remove,
    FILES_WRITE: write,
}

RAW_HANDLERS: dict[Operation[Any, Any], RawHandler] = {
    FILES_DOWNLOAD: download,
    FILES_UPLOAD: upload,
}
