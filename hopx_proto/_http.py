"""HTTP/1.1 messages and connection machines (client and server role), wrapping h11.

One API shape: ``send_*(...) -> bytes`` returns what to write; ``receive_data(bytes)`` takes
what was read (``b""`` is EOF); ``next_event()`` returns an event or ``NEED_DATA``. Bodies
stream in pieces as :class:`BodyChunk` events; :meth:`HTTPConnection.next_message` assembles a
whole :class:`Request` or :class:`Response` when a caller prefers that, within
``max_body_size``. No h11 type appears in this module's public surface.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias, TypeVar

import attrs
import h11

from ._errors import LocalProtocolError, RemoteProtocolError
from ._http_fast import parse_head, request_bytes
from ._value import Value

__all__ = [
    "NEED_DATA",
    "BodyChunk",
    "ConnectionClosed",
    "EndOfMessage",
    "HTTPConnection",
    "HTTPEvent",
    "Headers",
    "NeedData",
    "Request",
    "RequestHead",
    "Response",
    "ResponseHead",
    "Role",
    "normalize_headers",
]

Headers: TypeAlias = tuple[tuple[bytes, bytes], ...]
_Message = TypeVar("_Message", "Request", "Response")

DEFAULT_MAX_HEADER_SIZE = 64 * 1024
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024


def _to_bytes(value: str | bytes) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(
                f"header text must be latin-1 (encode other text first): {value[:40]!r}"
            ) from None
    return bytes(value)


def normalize_headers(headers: Iterable[tuple[str | bytes, str | bytes]]) -> Headers:
    """Headers as a tuple of ``(lowercase name, value)`` byte pairs."""
    out = []
    for name, value in headers:
        # Most headers arrive as bytes already (every copy of a request re-normalizes them).
        key = (name if type(name) is bytes else _to_bytes(name)).lower()
        out.append((key, value if type(value) is bytes else _to_bytes(value)))
    return tuple(out)


class _HeaderLookup:
    headers: Headers

    def header(self, name: str | bytes) -> str | None:
        """The first value of a header, decoded as latin-1, or ``None``."""
        key = _to_bytes(name).lower()
        for k, v in self.headers:
            if k == key:
                return v.decode("latin-1")
        return None

    def header_values(self, name: str | bytes) -> list[str]:
        """Every value of a header, in order."""
        key = _to_bytes(name).lower()
        return [v.decode("latin-1") for k, v in self.headers if k == key]


@attrs.frozen(repr=False, eq=False)
class Request(_HeaderLookup, Value):
    """An HTTP request. ``body=None`` means the body follows as :class:`BodyChunk` events."""

    method: str
    target: str
    headers: Headers = attrs.field(default=(), converter=normalize_headers)
    body: bytes | None = b""

    def with_headers(self, *extra: tuple[str | bytes, str | bytes]) -> Request:
        """A copy with headers added (or replaced, for names already present)."""
        new = normalize_headers(extra)
        names = {k for k, _ in new}
        kept = tuple((k, v) for k, v in self.headers if k not in names)
        return attrs.evolve(self, headers=kept + new)

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


@attrs.frozen(repr=False, eq=False)
class Response(_HeaderLookup, Value):
    """An HTTP response. ``body=None`` means the body follows as :class:`BodyChunk` events."""

    status: int
    headers: Headers = attrs.field(default=(), converter=normalize_headers)
    body: bytes | None = b""
    reason: str = ""

    def with_headers(self, *extra: tuple[str | bytes, str | bytes]) -> Response:
        """A copy with headers added (or replaced, for names already present)."""
        new = normalize_headers(extra)
        names = {k for k, _ in new}
        kept = tuple((k, v) for k, v in self.headers if k not in names)
        return attrs.evolve(self, headers=kept + new)


def _built(cls: type[_Message], *values: object) -> _Message:
    """A :class:`Request` or :class:`Response` of ``values`` (its fields in order) whose
    headers are normalized already: the converter's pass over them is skipped."""
    message = object.__new__(cls)
    names: tuple[str, ...] | None = _FIELD_NAMES.get(cls)
    if names is None:
        fields: Any = cls.__attrs_attrs__
        names = _FIELD_NAMES[cls] = tuple(field.name for field in fields)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(message, name, value)
    return message


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@attrs.frozen(repr=False, eq=False)
class RequestHead(_HeaderLookup, Value):
    """The start of a received request; its body follows."""

    method: str
    target: str
    headers: Headers


@attrs.frozen(repr=False, eq=False)
class ResponseHead(_HeaderLookup, Value):
    """The start of a received response; its body follows."""

    status: int
    headers: Headers
    reason: str = ""


@attrs.frozen(repr=False, eq=False)
class BodyChunk(Value):
    """A piece of a message body."""

    data: bytes


@attrs.frozen(repr=False, eq=False)
class EndOfMessage(Value):
    """The current message is complete."""


@attrs.frozen(repr=False, eq=False)
class ConnectionClosed(Value):
    """The peer closed the connection cleanly between messages."""


class NeedData(enum.Enum):
    """Sentinel type: the machine needs more bytes before it can return an event."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA

HTTPEvent: TypeAlias = RequestHead | ResponseHead | BodyChunk | EndOfMessage | ConnectionClosed


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


def _our_headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    return tuple((bytes(k), bytes(v)) for k, v in raw)


# The phases of a client cycle on the fast path (see :mod:`hopx_proto._http_fast`); ``None``
# in ``HTTPConnection._fast`` means h11 holds the connection's state.
_IDLE = 0  # between cycles: h11 would be IDLE/IDLE with the buffered bytes unread
_SENT = 1  # the whole request is out; the response head is awaited
_BODY = 2  # the head was returned; ``_remaining`` body bytes are to come
_DONE = 3  # the response ended; both sides are DONE


class HTTPConnection:
    """One HTTP/1.1 connection, client or server side, with keep-alive reuse.

    Args:
        role: which side we play.
        max_header_size: the largest head (request/status line plus headers) accepted.
        max_body_size: the largest body accepted; more raises :class:`RemoteProtocolError`.
    """

    def __init__(
        self,
        role: Role = Role.CLIENT,
        *,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.role = role
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self._conn = self._new_h11()
        self._body_seen = 0
        self._received = 0  # bytes fed to h11 so far
        self._head_start = 0  # where the next head begins, in those bytes
        self._error: Exception | None = None
        self._send_error: LocalProtocolError | None = None
        self._pending_head: RequestHead | ResponseHead | None = None
        self._pending_body: list[bytes] = []
        # The fast path of a client (h11 is not told about a cycle it does not see): its
        # phase, the unread received bytes, whether EOF arrived, the cycle's request (to
        # replay into h11 if the cycle leaves the fast path), the head returned, the body
        # bytes still to come, and whether a write failed.
        self._fast: int | None = _IDLE if role is Role.CLIENT else None
        self._buffer = bytearray()
        self._eof = False
        self._sent: tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes] | None = None
        self._head_bytes = b""
        self._remaining = 0
        self._fast_send_failed = False

    def _new_h11(self) -> h11.Connection:
        return h11.Connection(
            h11.CLIENT if self.role is Role.CLIENT else h11.SERVER,
            max_incomplete_event_size=self.max_header_size,
        )

    def _leave_fast(self) -> None:
        """Hand the connection to h11 in the state the fast path reached: a fresh h11
        machine (the same as one between cycles) replays this cycle's request, the response
        bytes already returned as events (the body as placeholders of the same length: h11
        does not look at a counted body), then gets the unread bytes and the EOF."""
        phase = self._fast
        if phase is None:
            return
        self._fast = None
        conn = self._conn = self._new_h11()
        if phase != _IDLE:
            assert self._sent is not None
            method, target, headers, body = self._sent
            conn.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                conn.send(h11.Data(data=body))
            conn.send(h11.EndOfMessage())
            if self._fast_send_failed:
                conn.send_failed()
            if phase in (_BODY, _DONE):
                conn.receive_data(self._head_bytes)
                event = conn.next_event()
                assert isinstance(event, h11.Response), event
                if self._body_seen:
                    conn.receive_data(bytes(self._body_seen))
                    event = conn.next_event()
                    assert isinstance(event, h11.Data), event
                if phase == _DONE:
                    event = conn.next_event()
                    assert isinstance(event, h11.EndOfMessage), event
        self._sent = None
        self._head_bytes = b""
        if self._buffer:
            conn.receive_data(bytes(self._buffer))
            self._buffer = bytearray()
        if self._eof:
            conn.receive_data(b"")

    # -- state ------------------------------------------------------------------------------

    @property
    def is_reusable(self) -> bool:
        """Both sides finished their message and the connection may carry another."""
        if self._fast is not None:
            return self._fast == _DONE and self._error is None and self._send_error is None
        return (
            self._error is None
            and self._send_error is None
            and self._conn.our_state is h11.DONE
            and self._conn.their_state is h11.DONE
        )

    @property
    def is_idle(self) -> bool:
        """Nothing sent or received on the current cycle yet."""
        if self._fast is not None:
            return self._fast == _IDLE
        return self._conn.our_state is h11.IDLE and self._conn.their_state is h11.IDLE

    @property
    def is_closed(self) -> bool:
        """The connection cannot carry any more messages."""
        if self._fast is not None:  # the fast path never reaches a closing state
            return self._error is not None or self._send_error is not None
        closed = (h11.CLOSED, h11.MUST_CLOSE, h11.ERROR)
        return (
            self._error is not None
            or self._send_error is not None
            or self._conn.our_state in closed
            or self._conn.their_state in closed
        )

    @property
    def their_message_done(self) -> bool:
        if self._fast is not None:
            return self._fast == _DONE
        return self._conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after a protocol switch (e.g. a WebSocket upgrade)."""
        if self._fast is not None:
            return bytes(self._buffer)
        data, _closed = self._conn.trailing_data
        return bytes(data)

    def start_next_cycle(self) -> None:
        """Reset for the next request/response on a kept-alive connection."""
        self._check_usable()
        if self._fast == _DONE and self._send_error is None:
            self._fast = _IDLE
            self._sent = None
            self._head_bytes = b""
            self._body_seen = 0
            return
        self._leave_fast()
        try:
            self._conn.start_next_cycle()
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"connection is not reusable: {exc}") from None
        self._body_seen = 0

    def _check_usable(self) -> None:
        if self._error is not None:
            raise LocalProtocolError(
                f"connection is unusable after an earlier error: {self._error}"
            ) from self._error

    def _fail_local(self, exc: Exception) -> LocalProtocolError:
        err = LocalProtocolError(str(exc))
        self._error = err
        return err

    def _fail_remote(self, message: str, status_hint: int = 400) -> RemoteProtocolError:
        err = RemoteProtocolError(message, status_hint=status_hint)
        self._error = err
        return err

    # -- sending ----------------------------------------------------------------------------

    def _send(self, make: Callable[[], h11._events.Event]) -> bytes:
        """Build the h11 event and send it; h11 validates in both steps."""
        self._check_usable()
        self._leave_fast()
        if self._send_error is not None:
            raise LocalProtocolError(
                "nothing more can be sent after a failed write"
            ) from self._send_error
        try:
            event = make()
        except h11.LocalProtocolError as exc:
            # An invalid head: nothing was produced, the connection stays usable.
            raise LocalProtocolError(str(exc)) from None
        try:
            data = self._conn.send(event)
        except h11.LocalProtocolError as exc:
            raise self._fail_local(exc) from None
        return data or b""

    def send_request(self, request: Request) -> bytes:
        """Bytes for a request: head and, if ``request.body`` is bytes, body and end."""
        if self.role is not Role.CLIENT:
            raise LocalProtocolError("only a client sends requests")
        headers = list(request.headers)
        names = {k for k, _ in headers}
        framed = b"content-length" in names or b"transfer-encoding" in names
        if request.body is None:
            if not framed:
                headers.append((b"transfer-encoding", b"chunked"))
        elif not framed and (
            request.body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS")
        ):
            headers.append((b"content-length", str(len(request.body)).encode()))
        try:
            method = request.method.encode("ascii")
            target = request.target.encode("ascii")
        except UnicodeEncodeError:
            raise LocalProtocolError(
                "request method and target must be ASCII (percent-encode the target)"
            ) from None
        fast = self._send_fast(method, target, headers, request.body)
        if fast is not None:
            return fast
        out = self._send(lambda: h11.Request(method=method, target=target, headers=headers))
        if request.body is not None:
            body = request.body
            if body:
                out += self._send(lambda: h11.Data(data=body))
            out += self._send(h11.EndOfMessage)
        return out

    def _send_fast(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> bytes | None:
        """The request's bytes from the fast path, or ``None`` for h11 to send it (it then
        also raises what h11 raises). A connection h11 holds comes back to the fast path
        between cycles, with the bytes h11 had buffered."""
        if body is None or self._error is not None or self._send_error is not None:
            return None
        fast = self._fast
        if fast is None:
            conn = self._conn
            if conn.our_state is not h11.IDLE or conn.their_state is not h11.IDLE:
                return None
        elif fast != _IDLE:
            return None
        data = request_bytes(method, target, headers, body)
        if data is None:
            return None
        if fast is None:
            buffered, closed = self._conn.trailing_data
            self._buffer = bytearray(buffered)
            self._eof = closed
        self._fast = _SENT
        self._fast_send_failed = False
        self._sent = (method, target, headers, body)
        return data

    def send_response(self, response: Response) -> bytes:
        """Bytes for a response: head and, if ``response.body`` is bytes, body and end."""
        if self.role is not Role.SERVER:
            raise LocalProtocolError("only a server sends responses")
        headers = list(response.headers)
        names = {k for k, _ in headers}
        no_body = response.status in (204, 304) or response.status < 200
        framed = b"content-length" in names or b"transfer-encoding" in names
        if response.body is not None and not no_body and not framed:
            headers.append((b"content-length", str(len(response.body)).encode()))
        reason = _to_bytes(response.reason)
        if response.status < 200:
            return self._send(
                lambda: h11.InformationalResponse(
                    status_code=response.status, headers=headers, reason=reason
                )
            )
        out = self._send(
            lambda: h11.Response(status_code=response.status, headers=headers, reason=reason)
        )
        if response.body is not None:
            body = response.body
            if body and not no_body:
                out += self._send(lambda: h11.Data(data=body))
            out += self._send(h11.EndOfMessage)
        return out

    def send_body(self, data: bytes) -> bytes:
        """Bytes for one more piece of a streamed body."""
        return self._send(lambda: h11.Data(data=data)) if data else b""

    def send_end(self) -> bytes:
        """Bytes that end a streamed body."""
        return self._send(h11.EndOfMessage)

    def send_failed(self) -> None:
        """Record that writing failed: nothing more is sent and the connection will not be
        reused. Receiving goes on, so a reply the peer sent before reading the whole message
        (a server refusing a request body early, RFC 9112 section 9.3) can still be read."""
        if self._fast in (_SENT, _BODY, _DONE):
            self._fast_send_failed = True  # h11 takes over, told of the failed write
            self._leave_fast()
        else:
            self._leave_fast()
            self._conn.send_failed()
        self._send_error = self._send_error or LocalProtocolError("sending failed")

    # -- receiving --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed its side."""
        self._check_usable()
        if self._fast is not None:
            if not data:
                self._eof = True
                return
            if not self._eof:
                self._buffer += data
                self._received += len(data)
                return
            self._leave_fast()  # data after EOF: h11 says what is wrong
        try:
            self._conn.receive_data(data)
        except RuntimeError as exc:  # data after EOF
            raise self._fail_remote(f"data received after end of stream: {exc}") from None
        self._received += len(data)

    def next_event(self) -> HTTPEvent | NeedData:
        """The next event parsed from received bytes, or ``NEED_DATA``."""
        self._check_usable()
        if self._fast is not None:
            fast = self._next_fast()
            if fast is not None:
                return fast
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._fail_remote(str(exc), exc.error_status_hint) from None
            if event is h11.NEED_DATA:
                return NEED_DATA
            if event is h11.PAUSED:
                # Waiting for our side (keep-alive) or after a protocol switch.
                return NEED_DATA
            if isinstance(event, h11.InformationalResponse | h11.Request | h11.Response):
                self._check_head_size()
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:  # the upgrade was accepted: report it
                    return ResponseHead(
                        status=101,
                        headers=_our_headers(event.headers),
                        reason=event.reason.decode("latin-1"),
                    )
                continue  # 100 Continue and friends carry nothing for us
            if isinstance(event, h11.Request):
                return RequestHead(
                    method=event.method.decode("ascii"),
                    target=event.target.decode("latin-1"),
                    headers=_our_headers(event.headers),
                )
            if isinstance(event, h11.Response):
                self._body_seen = 0
                return ResponseHead(
                    status=event.status_code,
                    headers=_our_headers(event.headers),
                    reason=event.reason.decode("latin-1"),
                )
            if isinstance(event, h11.Data):
                self._body_seen += len(event.data)
                if self._body_seen > self.max_body_size:
                    raise self._fail_remote(
                        f"body larger than the limit of {self.max_body_size} bytes", 413
                    )
                return BodyChunk(bytes(event.data))
            if isinstance(event, h11.EndOfMessage):
                self._head_start = self._consumed()
                return EndOfMessage()
            if isinstance(event, h11.ConnectionClosed):
                return ConnectionClosed()
            raise self._fail_remote(f"unexpected event {type(event).__name__}")

    def _next_fast(self) -> HTTPEvent | NeedData | None:
        """The next event of a fast cycle, or ``None`` once the cycle is h11's (then h11
        answers)."""
        phase = self._fast
        buffer = self._buffer
        if phase == _BODY:
            remaining = self._remaining
            if not remaining:
                self._fast = _DONE
                self._head_start = self._received - len(buffer)
                return EndOfMessage()
            if buffer:
                if len(buffer) <= remaining:
                    data = bytes(buffer)
                    buffer.clear()
                else:
                    data = bytes(buffer[:remaining])
                    del buffer[:remaining]
                self._remaining = remaining - len(data)
                self._body_seen += len(data)
                if self._body_seen > self.max_body_size:
                    raise self._fail_remote(
                        f"body larger than the limit of {self.max_body_size} bytes", 413
                    )
                return BodyChunk(data)
            if not self._eof:
                return NEED_DATA
        elif phase == _SENT:
            if not buffer and not self._eof:
                return NEED_DATA  # nothing yet: the usual first call, before any read
            head = parse_head(buffer)
            if head is not None:
                end = self._received - len(buffer) + head.size
                if end - self._head_start <= self.max_header_size:
                    self._head_bytes = bytes(buffer[: head.size])
                    del buffer[: head.size]
                    self._head_start = end
                    self._fast = _BODY
                    self._remaining = head.length
                    self._body_seen = 0
                    return ResponseHead(
                        status=head.status,
                        headers=head.headers,
                        reason=head.reason.decode("latin-1"),
                    )
            elif (
                not self._eof
                and b"\n\r\n" not in buffer
                and b"\n\n" not in buffer
                and len(buffer) <= self.max_header_size
                and not buffer.startswith((b"\n", b"\r\n"))
                and (not buffer or buffer[0] >= 0x21)
            ):
                return NEED_DATA  # an incomplete head that h11 would wait for too
        elif phase == _DONE and (buffer or not self._eof):
            return NEED_DATA  # h11 pauses: the next cycle reads what is there
        self._leave_fast()
        return None

    def _consumed(self) -> int:
        """How many received bytes have been parsed (fed minus still buffered)."""
        if self._fast is not None:
            return self._received - len(self._buffer)
        return self._received - len(self._conn.trailing_data[0])

    def _check_head_size(self) -> None:
        """Refuse a head whose bytes on the wire exceed ``max_header_size``.

        h11 bounds only a head that is still incomplete; one that arrives whole in a single
        read is measured here, in the same bytes, so any split of the input gives the same
        answer.
        """
        end = self._consumed()
        size, self._head_start = end - self._head_start, end
        if size > self.max_header_size:
            raise self._fail_remote(
                f"message head larger than the limit of {self.max_header_size} bytes", 431
            )

    def next_response(self) -> Response | NeedData:
        """Client role: the next whole response (body assembled), or ``NEED_DATA``.

        A connection closed before the response is complete raises
        :class:`RemoteProtocolError`.
        """
        if self.role is not Role.CLIENT:
            raise LocalProtocolError("only a client receives responses")
        message = self.next_message()
        if isinstance(message, ConnectionClosed):
            raise self._fail_remote("connection closed before a response arrived")
        if isinstance(message, Request):
            raise self._fail_remote("a client received a request")
        return message

    def next_request(self) -> Request | ConnectionClosed | NeedData:
        """Server role: the next whole request (body assembled), ``ConnectionClosed`` when the
        client closed between requests, or ``NEED_DATA``."""
        if self.role is not Role.SERVER:
            raise LocalProtocolError("only a server receives requests")
        message = self.next_message()
        if isinstance(message, Response):
            raise self._fail_remote("a server received a response")
        return message

    def next_message(self) -> Request | Response | ConnectionClosed | NeedData:
        """A whole request or response (body assembled), ``ConnectionClosed`` or ``NEED_DATA``.

        Buffers body chunks internally; use :meth:`next_event` instead to stream bodies.
        """
        while True:
            event = self.next_event()
            if event is NEED_DATA or isinstance(event, ConnectionClosed):
                return event
            if isinstance(event, RequestHead | ResponseHead):
                self._pending_head = event
                self._pending_body = []
            elif isinstance(event, BodyChunk):
                self._pending_body.append(event.data)
            elif isinstance(event, EndOfMessage):
                head = self._pending_head
                body = b"".join(self._pending_body)
                self._pending_head = None
                self._pending_body = []
                if isinstance(head, RequestHead):
                    return Request(head.method, head.target, head.headers, body)
                if isinstance(head, ResponseHead):
                    return Response(head.status, head.headers, body, head.reason)
                raise self._fail_remote("end of message without a head")
