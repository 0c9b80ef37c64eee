"""The drive loop: HTTP/1.1 requests over pooled connections, with deadlines and proxies.

Bytes go out from :class:`hopx_proto.HTTPConnection`, bytes come back from the backend's
stream, and the machine turns them into a :class:`Response`. Deadlines are separate: connect,
each read or write (``read``), and the whole call (``total``). A connection goes back to the
pool only after a clean request/response cycle; one that was cancelled, timed out or failed
half-way is closed (in a shielded scope) and never reused.

A server may answer before it has read the whole request body and close the connection
(RFC 9112 section 9.3): a refused upload then fails on our side while sending. When a write
fails, whatever reply is already waiting on the connection is read, for a short while, and an
error reply found there is the result, so the caller sees the server's own error.
"""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from .._errors import (
    HopxError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    TimeoutError,
)
from .._http import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    HTTPEvent,
    Request,
    Response,
    ResponseHead,
    Role,
    _built,
)
from .._url import BaseURL
from .._value import Value
from ._backend import Backend, ByteStream
from ._log import DEBUG, Logger
from ._pool import ConnectionPool, PoolKey, PoolLimits

__all__ = ["HTTPTransport", "ProxyConfig", "Timeouts", "loopback_hosts", "redact_headers"]


_logger = Logger("hopx.transport")


READ_SIZE = 64 * 1024
CLOSE_GRACE = 5.0
#: Seconds at most spent reading a reply that may be waiting after a write failed.
EARLY_REPLY_WAIT = 2.0
SECRET_HEADERS = frozenset({b"authorization", b"x-api-key", b"proxy-authorization", b"cookie"})

#: Receives a 2xx body chunk by chunk. A sink object may also have an ``on_head`` coroutine
#: method: it is called with the 2xx :class:`ResponseHead` before the first chunk (a download
#: learns its size from ``Content-Length`` there).
BodySink = Callable[[bytes], Awaitable[None]]


@attrs.frozen(repr=False, eq=False, slots=False)
class Timeouts(Value):
    """Deadlines in seconds (``None``: none).

    Attributes:
        connect: opening the TCP (+TLS, + proxy tunnel) connection.
        read: each wait for bytes from the server, and each write.
        total: the whole call, from connect to the last byte of the body.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    total: float | None = None

    def with_total(self, total: float | None) -> Timeouts:
        """These deadlines with ``total`` (seconds, ``None``: none) for the whole call."""
        return attrs.evolve(self, total=total)


def loopback_hosts(host: str) -> tuple[str, ...]:
    """The addresses to connect to, in order, for ``host``: both loopbacks for every name
    under ``.localhost`` (RFC 6761 makes them all the loopback; many system resolvers do not
    know them), else ``host`` itself.

    Args:
        host: the host name of a URL.

    Returns:
        The names or addresses to try, the first that connects wins.
    """
    name = host.lower().rstrip(".")
    if name.endswith(".localhost"):
        return ("127.0.0.1", "::1")
    return (host,)


def redact_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Headers for logs, with credentials replaced by ``***``."""
    return [
        (k.decode("latin-1"), "***" if k.lower() in SECRET_HEADERS else v.decode("latin-1"))
        for k, v in headers
    ]


@attrs.frozen(repr=False, eq=False, slots=False)
class ProxyConfig(Value):
    """Proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``.

    Attributes:
        http: the proxy for plain HTTP targets.
        https: the proxy tunnelling HTTPS targets (``CONNECT``).
        http_auth: the ``Proxy-Authorization`` value for ``http``.
        https_auth: the ``Proxy-Authorization`` value for ``https``.
        no_proxy: host names (and domains) reached directly.
    """

    http: BaseURL | None = None
    https: BaseURL | None = None
    http_auth: str | None = None
    https_auth: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxyConfig:
        """The settings of the proxy variables in ``environ`` (lower case wins, as curl
        does)."""

        def get(name: str) -> str | None:
            value = environ.get(name.lower()) or environ.get(name.upper())
            return value.strip() if value and value.strip() else None

        everything = get("all_proxy")
        http, http_auth = _proxy_url(get("http_proxy") or everything)
        https, https_auth = _proxy_url(get("https_proxy") or everything)
        raw_no = get("no_proxy") or ""
        no_proxy = tuple(p.strip().lower().lstrip(".") for p in raw_no.split(",") if p.strip())
        return cls(http, https, http_auth, https_auth, no_proxy)

    def for_target(self, base: BaseURL) -> tuple[BaseURL | None, str | None]:
        """The proxy to use for ``base`` and its ``Proxy-Authorization`` value, if any (never
        one for a name under ``.localhost``, which is the loopback)."""
        host = base.host.lower()
        if host.endswith(".localhost"):
            return None, None
        for entry in self.no_proxy:
            name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
            if entry == "*" or host == name or host.endswith("." + name):
                return None, None
        if base.is_tls:
            return self.https, self.https_auth
        return self.http, self.http_auth


def _proxy_url(value: str | None) -> tuple[BaseURL | None, str | None]:
    if value is None:
        return None, None
    if "://" not in value:
        value = "http://" + value
    scheme, _, rest = value.partition("://")
    auth = None
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        auth = "Basic " + base64.b64encode(userinfo.encode()).decode("ascii")
    return BaseURL.parse(f"{scheme}://{authority}{slash}{path}", what="proxy URL"), auth


class _Connection:
    """One pooled connection: the byte stream and its HTTP machine."""

    def __init__(self, key: PoolKey, stream: ByteStream, *, absolute_form: bool) -> None:
        self.key = key
        self.stream = stream
        self.http = HTTPConnection(Role.CLIENT)
        self.absolute_form = absolute_form  # plain HTTP through a proxy
        self.eof = False
        self.send_error: NetworkError | None = None  # the failed write, if one failed
        self.host: tuple[bytes, bytes] | None = None  # the Host header, once encoded


class HTTPTransport:
    """HTTP/1.1 requests over a per-client connection pool.

    Args:
        backend: the event-loop capabilities.
        tls: a TLS client context (an ``ssl.SSLContext``); the backend's verifying default
            when ``None``.
        limits: pool sizes and idle expiry.
        timeouts: default deadlines; each call may pass its own.
        proxies: proxy settings; read from the backend's environment when ``None``.
        user_agent: the ``User-Agent`` header.
        pool: the bookkeeping of idle connections; a :class:`ConnectionPool` of ``limits``
            when ``None`` (a driver whose calls run on several threads passes one that
            locks). Its own limits apply then, not ``limits``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        tls: object | None = None,
        limits: PoolLimits | None = None,
        timeouts: Timeouts | None = None,
        proxies: ProxyConfig | None = None,
        user_agent: str = "hopx-sansio",
        pool: ConnectionPool[Any] | None = None,
    ) -> None:
        self.backend = backend
        self._tls = tls
        self.timeouts = timeouts or Timeouts()
        self.proxies = proxies if proxies is not None else ProxyConfig.from_environ(backend.environ)
        self.user_agent = user_agent
        #: ``(user_agent, its header)``, encoded once for as long as the attribute holds.
        self._user_agent = (user_agent, (b"user-agent", user_agent.encode()))
        self._pool: ConnectionPool[_Connection] = (
            pool if pool is not None else ConnectionPool(limits)
        )
        self._slots: dict[PoolKey, Any] = {}
        self._active: set[_Connection] = set()
        self._closed = False

    @property
    def tls(self) -> object:
        """The TLS client context connections use (the backend's default unless given)."""
        if self._tls is None:
            self._tls = self.backend.default_tls()
        return self._tls

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def open_connections(self) -> int:
        """Connections currently open (idle in the pool or in use)."""
        return self._pool.idle_count() + len(self._active)

    # -- opening streams --------------------------------------------------------------------

    async def open_stream(self, base: BaseURL, *, timeout: float | None) -> ByteStream:
        """A fresh connection to ``base`` (through a proxy tunnel if configured), never
        pooled; ``timeout`` bounds the connect, in seconds.

        Raises:
            NetworkError: the connection failed.
            TimeoutError: it took longer than ``timeout``.
        """
        stream, _absolute = await self._open(base, timeout, tunnel_always=True)
        return stream

    async def _open(
        self,
        base: BaseURL,
        timeout: float | None,
        *,
        tunnel_always: bool = False,
    ) -> tuple[ByteStream, bool]:
        proxy, proxy_auth = self.proxies.for_target(base)
        with self.backend.move_on_after(timeout) as scope:
            if proxy is None:
                *others, last = loopback_hosts(base.host)
                for address in others:
                    try:
                        return await self._connect_direct(address, base), False
                    except NetworkError:
                        continue
                return await self._connect_direct(last, base), False
            stream = await self.backend.connect_tcp(
                proxy.host,
                proxy.port,
                tls=self.tls if proxy.is_tls else None,
                server_hostname=proxy.host if proxy.is_tls else None,
            )
            if not base.is_tls and not tunnel_always:
                return stream, True
            try:
                await self._tunnel(stream, base, proxy_auth)
                if base.is_tls:
                    stream = await self.backend.start_tls(
                        stream, tls=self.tls, server_hostname=base.host
                    )
            except BaseException:
                with self.backend.shielded(CLOSE_GRACE):
                    await stream.aclose()
                raise
            return stream, False
        assert scope.cancelled_caught
        raise TimeoutError(
            f"connecting to {base} timed out after {timeout:g} s",
            request_sent=False,
        )

    async def _connect_direct(self, address: str, base: BaseURL) -> ByteStream:
        return await self.backend.connect_tcp(
            address,
            base.port,
            tls=self.tls if base.is_tls else None,
            server_hostname=base.host if base.is_tls else None,
        )

    async def _tunnel(self, stream: ByteStream, base: BaseURL, auth: str | None) -> None:
        http = HTTPConnection(Role.CLIENT)
        authority = (
            f"{base.host_header}"
            if ":" in base.host_header
            else (f"{base.host_header}:{base.port}")
        )
        headers = [(b"host", authority.encode("idna"))]
        if auth:
            headers.append((b"proxy-authorization", auth.encode("latin-1")))
        await _send(stream, http.send_request(Request("CONNECT", authority, headers, b"")))
        while True:
            event = http.next_event()
            if event is NEED_DATA:
                data = await _receive(stream)
                if not data:
                    raise NetworkError("the proxy closed the connection", request_sent=False)
                http.receive_data(data)
                continue
            if isinstance(event, ResponseHead):
                if not 200 <= event.status < 300:
                    raise NetworkError(
                        f"the proxy refused CONNECT {authority}: HTTP {event.status}",
                        request_sent=False,
                        status_code=event.status,
                    )
                return

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self,
        base: BaseURL,
        request: Request,
        *,
        timeouts: Timeouts | None = None,
        upload: AsyncIterator[bytes] | None = None,
        sink: BodySink | None = None,
        max_body_size: int | None = None,
    ) -> Response:
        """Send ``request`` to ``base`` and return the whole response.

        Args:
            base: where to send it.
            request: the request (its target is relative to ``base``).
            timeouts: the deadlines of this call; the transport's when ``None``.
            upload: the body as chunks (``request.body`` must then be ``None``; set a
                ``content-length`` header or it is sent chunked).
            sink: receives a 2xx body chunk by chunk instead of keeping it in memory.
            max_body_size: the largest body accepted in memory.

        Returns:
            The response, whatever its status.

        Raises:
            NetworkError: the connection failed (``request_sent`` says whether the server
                may have acted on it).
            TimeoutError: a deadline passed.
            LocalProtocolError: the transport is closed.
        """
        if self._closed:
            raise LocalProtocolError("the client is closed")
        timeouts = timeouts or self.timeouts
        if timeouts.total is None:
            return await self._request(base, request, timeouts, upload, sink, max_body_size)
        with self.backend.move_on_after(timeouts.total) as scope:
            return await self._request(base, request, timeouts, upload, sink, max_body_size)
        assert scope.cancelled_caught
        raise TimeoutError(
            f"{request.method} {request.path} timed out after {timeouts.total:g} s",
        )

    def _slot(self, key: PoolKey) -> Any:
        slot = self._slots.get(key)
        if slot is None:
            # setdefault: threads sharing a blocking client all get the one that went in first.
            slot = self._slots.setdefault(
                key, self.backend.semaphore(self._pool.limits.max_per_host)
            )
        return slot

    async def _request(
        self,
        base: BaseURL,
        request: Request,
        timeouts: Timeouts,
        upload: AsyncIterator[bytes] | None,
        sink: BodySink | None,
        max_body_size: int | None,
    ) -> Response:
        key: PoolKey = (base.scheme, base.host, base.port)
        async with self._slot(key):
            conn, expired = self._pool.checkout(key, self.backend.monotonic())
            while conn is not None and conn.stream.is_stale():
                # Closed by the server while idle: a request sent on it would fail, and a
                # non-idempotent one could not be retried.
                expired.append(conn)
                conn, more = self._pool.checkout(key, self.backend.monotonic())
                expired.extend(more)
            await self._close_all(expired)
            if conn is None:
                stream, absolute = await self._open(base, timeouts.connect)
                conn = _Connection(key, stream, absolute_form=absolute)
            self._active.add(conn)
            clean = False
            try:
                response = await self._exchange(
                    conn, base, request, timeouts.read, upload, sink, max_body_size
                )
                clean = conn.http.is_reusable
            finally:
                self._active.discard(conn)
                if clean and not self._closed:
                    conn.http.start_next_cycle()
                    extra = self._pool.checkin(key, conn, self.backend.monotonic())
                    await self._close_all(extra)
                else:
                    await self._close_all([conn])
            return response

    async def _exchange(
        self,
        conn: _Connection,
        base: BaseURL,
        request: Request,
        read_timeout: float | None,
        upload: AsyncIterator[bytes] | None,
        sink: BodySink | None,
        max_body_size: int | None,
    ) -> Response:
        target = base.prefix + request.target
        if conn.absolute_form:
            target = f"http://{base.host_header}{target}"
        host = conn.host
        if host is None:  # the same for every request on the connection: its key holds it
            host = conn.host = (b"host", base.host_header.encode("idna"))
        headers = []
        agent = False
        for item in request.headers:
            name = item[0]
            if name == b"host":
                continue
            if name == b"user-agent":
                agent = True
            headers.append(item)
        headers.append(host)
        if not agent:
            if self._user_agent[0] != self.user_agent:
                self._user_agent = (self.user_agent, (b"user-agent", self.user_agent.encode()))
            headers.append(self._user_agent[1])
        # Built directly: the headers are normalized bytes already (no converter pass, and
        # no attrs.evolve looking up every field of the class again on every request).
        out = _built(Request, request.method, target, tuple(headers), request.body)
        if _logger.is_enabled_for(DEBUG):
            _logger.debug("-> %s %s %s", out.method, target, redact_headers(out.headers))
        if max_body_size is not None:
            conn.http.max_body_size = max_body_size
        try:
            await self._send(conn, out, read_timeout, request, upload)
        except NetworkError as exc:
            if exc is not conn.send_error:
                raise
            early = await self._early_reply(conn, read_timeout, request, target)
            if early is None:
                raise
            return early
        return await self._read_response(conn, read_timeout, request, target, sink)

    async def _send(
        self,
        conn: _Connection,
        out: Request,
        timeout: float | None,
        request: Request,
        upload: AsyncIterator[bytes] | None,
    ) -> None:
        """Write the head and the body.

        The first write failing means the server never got anything it could act on; once the
        head is out, the request may have reached it (a server may act on the head, or on part
        of a streamed body), so a failure from then on counts as sent.
        """
        await self._write(conn, conn.http.send_request(out), timeout, request, sent=False)
        if upload is None:
            return
        try:
            async for chunk in upload:
                await self._write(conn, conn.http.send_body(chunk), timeout, request, sent=True)
            await self._write(conn, conn.http.send_end(), timeout, request, sent=True)
        finally:
            close = getattr(upload, "aclose", None)
            if close is not None:
                await close()

    async def _read_response(
        self,
        conn: _Connection,
        read_timeout: float | None,
        request: Request,
        target: str,
        sink: BodySink | None,
    ) -> Response:
        head: ResponseHead | None = None
        chunks: list[bytes] = []
        while True:
            event = await self._next_event(conn, read_timeout, request, started=head is not None)
            if isinstance(event, ResponseHead):
                head = event
                on_head = getattr(sink, "on_head", None)
                if on_head is not None and 200 <= head.status < 300:
                    await on_head(head)
            elif isinstance(event, BodyChunk):
                if sink is not None and head is not None and 200 <= head.status < 300:
                    await sink(event.data)
                else:
                    chunks.append(event.data)
            elif isinstance(event, EndOfMessage) and head is not None:
                _logger.debug("<- %s %s: %d", request.method, target, head.status)
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                return _built(Response, head.status, head.headers, body, head.reason)
            elif isinstance(event, ConnectionClosed):
                raise NetworkError(
                    f"the server closed the connection before answering {request.path}",
                    request_sent=True,
                )

    async def _early_reply(
        self,
        conn: _Connection,
        read_timeout: float | None,
        request: Request,
        target: str,
    ) -> Response | None:
        """The error reply waiting on ``conn`` after a write failed, or ``None``.

        Reads for :data:`EARLY_REPLY_WAIT` seconds at most (less if the read timeout is
        shorter). A reply whose body is cut short keeps the part that arrived: its status
        alone says what went wrong. A success or redirect is not a result, as the server did
        not get the whole body: the failed write stands, with the request counted as sent.
        The connection is never reused after this (its machine recorded the failed write).
        """
        wait = EARLY_REPLY_WAIT if read_timeout is None else min(read_timeout, EARLY_REPLY_WAIT)
        head: ResponseHead | None = None
        chunks: list[bytes] = []
        with self.backend.move_on_after(wait):
            try:
                while True:
                    event = await self._next_event(conn, wait, request, started=head is not None)
                    if isinstance(event, ResponseHead):
                        head = event
                    elif isinstance(event, BodyChunk):
                        chunks.append(event.data)
                    elif isinstance(event, EndOfMessage | ConnectionClosed):
                        break
            except HopxError:
                _logger.debug("no whole reply after a failed write", exc_info=True)
        if head is None:
            return None
        if head.status < 400:
            if conn.send_error is not None:
                conn.send_error.request_sent = True
            return None
        _logger.debug(
            "<- %s %s: %d, before the request was sent whole", request.method, target, head.status
        )
        return Response(head.status, head.headers, b"".join(chunks), head.reason)

    async def _write(
        self,
        conn: _Connection,
        data: bytes,
        timeout: float | None,
        request: Request,
        *,
        sent: bool,
    ) -> None:
        if not data:
            return
        try:
            await conn.stream.send_all(data, timeout)
        except TimeoutError as exc:
            conn.http.send_failed()
            conn.send_error = TimeoutError(
                f"sending {request.method} {request.path} timed out after {timeout:g} s",
                request_sent=sent,
            )
            raise conn.send_error from exc
        except NetworkError as exc:
            conn.http.send_failed()
            conn.send_error = NetworkError(
                f"sending {request.method} {request.path} failed: {exc.message}",
                request_sent=sent,
            )
            raise conn.send_error from exc

    async def _next_event(
        self,
        conn: _Connection,
        timeout: float | None,
        request: Request,
        *,
        started: bool,
    ) -> HTTPEvent:
        while True:
            try:
                event = conn.http.next_event()
            except RemoteProtocolError as exc:
                if conn.eof:
                    raise NetworkError(
                        f"the server closed the connection in the middle of the response to "
                        f"{request.method} {request.path}",
                        request_sent=True,
                    ) from exc
                raise
            if event is not NEED_DATA:
                return event
            try:
                data = await conn.stream.receive_some(READ_SIZE, timeout)
            except TimeoutError as exc:
                raise TimeoutError(
                    f"no reply to {request.method} {request.path} within {timeout:g} s"
                    if not started
                    else f"the reply to {request.method} {request.path} stalled for {timeout:g} s",
                ) from exc
            if not data:
                conn.eof = True
            conn.http.receive_data(data)

    # -- closing ----------------------------------------------------------------------------

    async def _close_all(self, conns: Iterable[_Connection]) -> None:
        for conn in conns:
            with self.backend.shielded(CLOSE_GRACE):
                try:
                    await conn.stream.aclose()
                except HopxError:
                    _logger.debug("error while closing a connection", exc_info=True)

    async def aclose(self) -> None:
        """Close every idle connection and refuse new requests."""
        self._closed = True
        await self._close_all(self._pool.close())

    def abandon(self) -> None:
        """Drop every idle connection at once, without waiting, and refuse new requests.

        For a transport whose owner was garbage collected unclosed: there is no event loop to
        await on then, so each stream that offers a synchronous ``abort()`` is aborted (the
        backends of this package do); any other is left to its own finalizer.
        """
        self._closed = True
        for conn in self._pool.close():
            abort = getattr(conn.stream, "abort", None)
            if abort is None:
                continue
            try:
                abort()
            except Exception:  # a finalizer must not raise
                _logger.debug("error while dropping a connection", exc_info=True)

    async def __aenter__(self) -> HTTPTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _send(stream: ByteStream, data: bytes) -> None:
    if data:
        await stream.send_all(data)


async def _receive(stream: ByteStream) -> bytes:
    return await stream.receive_some(READ_SIZE)
