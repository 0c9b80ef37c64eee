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

from hopx_proto import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    HTTPEvent,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestHead,
    Response,
    Role,
)

from .request_line import RequestLineCheck

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
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@attrs.frozen
class ServerLimits:
    """Sizes and timeouts every connection is held to.

    Attributes:
        max_header_size: the largest request head (431 beyond it).
        max_body_size: the largest request body (413 beyond it, at once when the
            ``Content-Length`` says so).
        idle_timeout: how long a connection may wait, silent, for its next request.
        head_timeout: how long a request head may take from its first byte to its last
            (408 after it), however slowly its bytes trickle in.
        read_timeout: how long each read of a request body may wait.
        write_timeout: how long each write of a response may wait.
    """

    max_header_size: int = 64 * 1024
    max_body_size: int = 64 * 1024 * 1024
    idle_timeout: float = 75.0
    read_timeout: float = 60.0
    write_timeout: float = 60.0
    head_timeout: float = 30.0


class Application(Protocol):
    """What a listener serves: a handler and the plane's error envelope."""

    async def handle(self, exchange: Exchange) -> None: ...

    def error_response(
        self, status: int, message: str, *, request_id: str, path: str | None = None
    ) -> Response: ...


class _Disconnected(Exception):
    """The peer went away or stopped sending within the timeout."""


class _SlowHead(Exception):
    """A request head started but did not arrive whole within ``head_timeout``."""


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

    def _check_declared_length(self) -> None:
        declared = self.header("content-length")
        if (
            declared is not None
            and declared.strip().isdigit()
            and int(declared) > self.limits.max_body_size
        ):
            raise RemoteProtocolError(
                f"request body of {declared.strip()} bytes is larger than the limit of "
                f"{self.limits.max_body_size} bytes",
                status_hint=413,
            )

    async def body_chunks(self) -> AsyncGenerator[bytes, None]:
        """The request body, piece by piece, as it arrives."""
        self._check_declared_length()
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
        self._check_declared_length()
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
    stream: anyio.abc.ByteStream,
    app: Application,
    exc: RemoteProtocolError,
    limits: ServerLimits,
    plane: str,
) -> None:
    """Answer a request that never became one (bad bytes, a head too slow) and log it."""
    request_id = uuid.uuid4().hex
    status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
    response = app.error_response(status, exc.message, request_id=request_id)
    response = response.with_headers((b"x-request-id", request_id.encode()))
    log.info("%s - - %d (%s)", plane, status, exc.message)
    try:
        with anyio.fail_after(limits.write_timeout):
            await stream.send(raw_response(response))
    except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return


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


async def _next_request_head(
    stream: anyio.abc.ByteStream, conn: HTTPConnection, limits: ServerLimits
) -> HTTPEvent:
    """The next request head (or the end of the connection).

    The first byte may take ``idle_timeout``; from then on the whole head must arrive within
    ``head_timeout`` (so a client trickling bytes cannot hold the connection forever). Bytes
    that cannot start a request line are refused without waiting for the rest.
    """
    buffered = conn.trailing_data  # pipelined bytes already in
    deadline = anyio.current_time() + limits.head_timeout if buffered else None
    line = RequestLineCheck()
    line.feed(buffered)
    while True:
        event = conn.next_event()
        if event is not NEED_DATA:
            return event
        if not line.ok:
            raise RemoteProtocolError("the bytes received do not start an HTTP request")
        if deadline is None:
            wait = limits.idle_timeout
        else:
            wait = deadline - anyio.current_time()
            if wait <= 0:
                raise _SlowHead()
        try:
            with anyio.fail_after(wait):
                data = await stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        except TimeoutError:
            if deadline is None:
                raise _Disconnected() from None
            raise _SlowHead() from None
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise _Disconnected() from None
        if data and deadline is None:
            deadline = anyio.current_time() + limits.head_timeout
        line.feed(data)
        conn.receive_data(data)


def _head_problem(head: RequestHead, limits: ServerLimits) -> tuple[int, str] | None:
    """Why a parsed head is refused before the application sees it: (status, message)."""
    if _head_size(head) > limits.max_header_size:
        return 431, f"request head larger than the limit of {limits.max_header_size} bytes"
    if head.header("transfer-encoding") is not None and head.header("content-length") is not None:
        # Two framings for one body: a way to smuggle requests past proxies.
        return 400, "a request may not carry both Transfer-Encoding and Content-Length"
    return None


async def _refuse(
    app: Application, exchange: Exchange, plane: str, status: int, message: str
) -> None:
    exchange.must_close = True
    response = app.error_response(status, message, request_id=exchange.request_id)
    log.info("%s %s %s %d (%s)", plane, exchange.method, exchange.path, status, message)
    try:
        await exchange.respond(response)
    except (_Disconnected, ProtocolError):
        return


async def serve_connection(
    stream: anyio.abc.ByteStream, app: Application, limits: ServerLimits, *, plane: str
) -> None:
    """Serve requests on one connection until it closes, idles out or fails."""
    conn = HTTPConnection(
        Role.SERVER, max_header_size=limits.max_header_size, max_body_size=limits.max_body_size
    )
    try:
        while True:
            try:
                event = await _next_request_head(stream, conn, limits)
            except _Disconnected:
                return
            except _SlowHead:
                message = f"request head not received within {limits.head_timeout:g} seconds"
                failure = RemoteProtocolError(message, status_hint=408)
                await _send_failure(stream, app, failure, limits, plane)
                return
            except RemoteProtocolError as exc:
                await _send_failure(stream, app, exc, limits, plane)
                return
            if isinstance(event, ConnectionClosed) or not isinstance(event, RequestHead):
                return
            exchange = Exchange(stream, conn, event, limits)
            problem = _head_problem(event, limits)
            if problem is not None:
                await _refuse(app, exchange, plane, *problem)
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
