"""The HTTP/1.1 serving loop: one :class:`HTTPConnection` (server role) per TCP connection.

Keep-alive, a head/body size limit, timeouts on idle and slow connections, an ``X-Request-ID``
on every response and one log line per request. The application decides what a request
means; this module only moves bytes. A failing handler gets a 500 in the application's own
error envelope and the server keeps serving everyone else.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Protocol

import anyio
import anyio.abc
import attrs

from hopx_proto._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from hopx_proto._http import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    HTTPEvent,
    RequestHead,
    Response,
    Role,
)

__all__ = ["Application", "Exchange", "ServerLimits", "serve_connection"]

log = logging.getLogger("hopx.local")

_READ_SIZE = 65536

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@attrs.frozen
class ServerLimits:
    """Sizes and timeouts every connection is held to."""

    max_header_size: int = 64 * 1024
    max_body_size: int = 64 * 1024 * 1024
    idle_timeout: float = 75.0
    read_timeout: float = 60.0
    write_timeout: float = 60.0


class Application(Protocol):
    """What a listener serves: a handler and the plane's error envelope."""

    async def handle(self, exchange: Exchange) -> None: ...

    def error_response(
        self, status: int, message: str, *, request_id: str, path: str | None = None
    ) -> Response: ...


class _Disconnected(Exception):
    """The peer went away or stopped sending within the timeout."""


class Exchange:
    """One request on a connection, and the means to answer it.

    The body is read on demand (:meth:`read_body` or :meth:`body_chunks`); the answer is one
    :meth:`respond` or a streamed :meth:`respond_stream`. A WebSocket handler takes the raw
    stream over with :meth:`take_over`.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        conn: HTTPConnection,
        head: RequestHead,
        limits: ServerLimits,
    ) -> None:
        self._stream = stream
        self._conn = conn
        self.head = head
        self.limits = limits
        self.request_id = uuid.uuid4().hex
        self.status: int | None = None
        self.body_done = False
        self.taken_over = False
        self.must_close = False

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def target(self) -> str:
        return self.head.target

    @property
    def path(self) -> str:
        return self.head.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return self.head.header(name)

    @property
    def started(self) -> bool:
        """The response head has gone out."""
        return self.status is not None

    @property
    def is_upgrade(self) -> bool:
        """The request asks to switch to the WebSocket protocol."""
        upgrade = (self.header("upgrade") or "").lower()
        return "websocket" in upgrade

    # -- reading ------------------------------------------------------------------------------

    async def _next(self, wait: float) -> HTTPEvent:
        return await next_http_event(self._stream, self._conn, wait)

    async def body_chunks(self) -> AsyncGenerator[bytes, None]:
        """The request body, piece by piece, as it arrives."""
        while not self.body_done:
            event = await self._next(self.limits.read_timeout)
            if isinstance(event, BodyChunk):
                yield event.data
            elif isinstance(event, EndOfMessage):
                self.body_done = True
            else:
                raise RemoteProtocolError("request body ended early")

    async def read_body(self) -> bytes:
        """The whole request body (within the body size limit)."""
        declared = self.header("content-length")
        if (
            declared is not None
            and declared.strip().isdigit()
            and int(declared) > self.limits.max_body_size
        ):
            raise RemoteProtocolError(
                f"request body of {declared} bytes is larger than the limit of "
                f"{self.limits.max_body_size} bytes",
                status_hint=413,
            )
        parts: list[bytes] = []
        while not self.body_done:
            event = await self._next(self.limits.read_timeout)
            if isinstance(event, BodyChunk):
                parts.append(event.data)
            elif isinstance(event, EndOfMessage):
                self.body_done = True
            else:
                raise RemoteProtocolError("request body ended early")
        return b"".join(parts)

    # -- answering ----------------------------------------------------------------------------

    def _finish_headers(self, response: Response) -> Response:
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", self.request_id.encode())]
        if not self._conn.their_message_done or self.must_close:
            self.must_close = True
            extra.append((b"connection", b"close"))
        if not response.reason:
            response = attrs.evolve(response, reason=_REASONS.get(response.status, ""))
        return response.with_headers(*extra)

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            with anyio.fail_after(self.limits.write_timeout):
                await self._stream.send(data)
        except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._conn.send_failed()
            raise _Disconnected() from None

    async def respond(self, response: Response) -> None:
        """Send a whole response."""
        response = self._finish_headers(response)
        self.status = response.status
        try:
            data = self._conn.send_response(response)
        except LocalProtocolError:
            # The machine refused after a framing error of the peer: answer and close.
            self.must_close = True
            data = raw_response(response)
        await self._write(data)

    async def respond_stream(
        self,
        status: int,
        headers: tuple[tuple[bytes, bytes], ...],
        chunks: AsyncIterator[bytes],
    ) -> None:
        """Send a response whose body comes from ``chunks`` (chunked unless a length is set)."""
        response = self._finish_headers(Response(status, headers, None))
        self.status = status
        await self._write(self._conn.send_response(response))
        async for chunk in chunks:
            await self._write(self._conn.send_body(chunk))
        await self._write(self._conn.send_end())

    async def send_raw(self, data: bytes) -> None:
        """Write bytes outside the HTTP machine (after :meth:`take_over`)."""
        await self._write(data)

    @property
    def trailing_data(self) -> bytes:
        """Bytes read past this request (what a switched protocol starts with)."""
        return self._conn.trailing_data

    def take_over(self) -> tuple[anyio.abc.ByteStream, bytes]:
        """Hand the connection to another protocol (a WebSocket).

        Returns the stream and the bytes already read past this request.
        """
        self.taken_over = True
        return self._stream, self._conn.trailing_data


async def next_http_event(
    stream: anyio.abc.ByteStream, conn: HTTPConnection, wait: float
) -> HTTPEvent:
    """The next event of ``conn``, reading from ``stream`` as needed; each read may take up
    to ``wait`` seconds."""
    while True:
        event = conn.next_event()
        if event is not NEED_DATA:
            return event
        try:
            with anyio.fail_after(wait):
                data = await stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise _Disconnected() from None
        conn.receive_data(data)


def raw_response(response: Response) -> bytes:
    """Bytes of a complete response written without the machine (after it failed)."""
    body = response.body or b""
    reason = response.reason or _REASONS.get(response.status, "")
    lines = [f"HTTP/1.1 {response.status} {reason}".encode("latin-1")]
    skip = {b"content-length", b"connection", b"transfer-encoding"}
    lines += [k + b": " + v for k, v in response.headers if k not in skip]
    lines += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _send_failure(
    stream: anyio.abc.ByteStream, app: Application, exc: RemoteProtocolError, limits: ServerLimits
) -> None:
    request_id = uuid.uuid4().hex
    status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
    response = app.error_response(status, exc.message, request_id=request_id)
    response = response.with_headers((b"x-request-id", request_id.encode()))
    try:
        with anyio.fail_after(limits.write_timeout):
            await stream.send(raw_response(response))
    except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return
    log.info("- - %d (bad request: %s)", status, exc.message)


async def _run_exchange(app: Application, exchange: Exchange, plane: str) -> None:
    started = time.monotonic()
    try:
        await app.handle(exchange)
    except _Disconnected:
        exchange.must_close = True
    except RemoteProtocolError as exc:
        exchange.must_close = True
        if not exchange.started and not exchange.taken_over:
            status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
            response = app.error_response(
                status, exc.message, request_id=exchange.request_id, path=exchange.path
            )
            try:
                await exchange.respond(response)
            except (_Disconnected, ProtocolError):
                pass
    except Exception:
        exchange.must_close = True
        log.exception("%s %s failed", exchange.method, exchange.path)
        if not exchange.started and not exchange.taken_over:
            response = app.error_response(
                500, "Internal server error", request_id=exchange.request_id, path=exchange.path
            )
            try:
                await exchange.respond(response)
            except (_Disconnected, ProtocolError):
                pass
    finally:
        elapsed = (time.monotonic() - started) * 1000.0
        shown = 101 if exchange.taken_over and exchange.status is None else exchange.status
        log.info(
            "%s %s %s %s %.1fms",
            plane,
            exchange.method,
            exchange.path,
            shown if shown is not None else "-",
            elapsed,
        )


def _head_size(head: RequestHead) -> int:
    return len(head.method) + len(head.target) + sum(len(k) + len(v) + 4 for k, v in head.headers)


async def _refuse_head(app: Application, exchange: Exchange, plane: str) -> None:
    exchange.must_close = True
    message = f"request head larger than the limit of {exchange.limits.max_header_size} bytes"
    response = app.error_response(431, message, request_id=exchange.request_id)
    try:
        await exchange.respond(response)
    except (_Disconnected, ProtocolError):
        return
    log.info("%s %s %s 431 (head too large)", plane, exchange.method, exchange.path)


async def serve_connection(
    stream: anyio.abc.ByteStream, app: Application, limits: ServerLimits, *, plane: str
) -> None:
    """Serve requests on one connection until it closes, idles out or fails."""
    conn = HTTPConnection(
        Role.SERVER, max_header_size=limits.max_header_size, max_body_size=limits.max_body_size
    )
    try:
        while True:
            timeout = limits.idle_timeout if conn.is_idle else limits.read_timeout
            try:
                event = await next_http_event(stream, conn, timeout)
            except _Disconnected:
                return
            except RemoteProtocolError as exc:
                await _send_failure(stream, app, exc, limits)
                return
            if isinstance(event, ConnectionClosed) or not isinstance(event, RequestHead):
                return
            exchange = Exchange(stream, conn, event, limits)
            if _head_size(event) > limits.max_header_size:
                await _refuse_head(app, exchange, plane)
                return
            await _run_exchange(app, exchange, plane)
            if exchange.taken_over or exchange.must_close or not exchange.started:
                return
            if not conn.is_reusable:
                return
            conn.start_next_cycle()
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await stream.aclose()
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
