"""File endpoints: read, write (text or base64), streamed upload and download, list, exists,
mkdir and remove. Paths are sandbox paths (``/workspace/...``); the runtime resolves them
inside the sandbox and refuses anything outside."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from hopx_proto import NEED_DATA, OPERATIONS, RemoteProtocolError, Response
from hopx_proto.wire import Done, MultipartDecoder, PartData, PartEnd, PartStart

from .agent import AgentContext, Handler, RawHandler
from .envelope import Problem, utc_now_text

__all__ = ["HANDLERS", "RAW_HANDLERS"]

_UPLOAD_MAX_PARTS = 8


def _done(path: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"success": True, "path": path, "message": message, "timestamp": utc_now_text(), **extra}


async def read(ctx: AgentContext, args: Any) -> dict[str, Any]:
    content = ctx.runtime.read_text(args.path)
    return {"content": content, "path": args.path, "size": len(content.encode("utf-8"))}


async def exists(ctx: AgentContext, args: Any) -> dict[str, Any]:
    return {"exists": bool(ctx.runtime.exists(args.path)), "path": args.path}


async def list_files(ctx: AgentContext, args: Any) -> dict[str, Any]:
    entries = list(ctx.runtime.list(args.path))
    return {"files": entries, "path": args.path, "count": len(entries)}


async def mkdir(ctx: AgentContext, args: Any) -> dict[str, Any]:
    ctx.runtime.mkdir(args.path)
    return _done(args.path, "Directory created")


async def remove(ctx: AgentContext, args: Any) -> dict[str, Any]:
    ctx.runtime.remove(args.path)
    return _done(args.path, "Removed")


async def write(ctx: AgentContext, args: Any) -> dict[str, Any]:
    if args.encoding == "base64":
        try:
            data = base64.b64decode(args.content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise Problem(
                400, "content is not valid base64", code="INVALID_REQUEST", path=args.path
            ) from None
    else:
        data = args.content.encode("utf-8")
    overwrite = True if args.overwrite is None else bool(args.overwrite)
    size = ctx.runtime.write(args.path, data, args.mode, overwrite)
    return _done(args.path, "File written", size=int(size) if size is not None else len(data))


async def download(ctx: AgentContext) -> Response | None:
    op = OPERATIONS["files.download"]
    exchange = ctx.exchange
    await exchange.read_body()
    request_args = op.parse(_bodyless(ctx))
    size, chunks = ctx.runtime.open_read(request_args.path)
    headers = (
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(int(size)).encode()),
    )
    await exchange.respond_stream(200, headers, chunks)
    return None


def _bodyless(ctx: AgentContext) -> Any:
    from hopx_proto import Request

    ex = ctx.exchange
    return Request(ex.method, ex.target, ex.head.headers, b"")


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


async def upload(ctx: AgentContext) -> Response | None:
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
        written = int(ctx.runtime.write(path, bytes(buffered), None, True))
    op = OPERATIONS["files.upload"]
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


HANDLERS: dict[str, Handler] = {
    "files.read": read,
    "files.exists": exists,
    "files.list": list_files,
    "files.mkdir": mkdir,
    "files.remove": remove,
    "files.write": write,
}

RAW_HANDLERS: dict[str, RawHandler] = {
    "files.download": download,
    "files.upload": upload,
}
