"""The WebSocket connection machine (RFC 6455), client and server role, built on wsproto.

Same API shape as :class:`~hopx_proto._http.HTTPConnection`: ``send_*(...) -> bytes`` returns
what to write, ``receive_data(bytes)`` takes what was read (``b""`` is EOF), and
``next_event()`` returns an event or ``NEED_DATA``. The opening handshake is HTTP/1.1 parsed
with h11; frames are parsed and built with wsproto's frame layer. No h11 or wsproto type
appears in this module's public surface.

Rules:

* Messages are reassembled from fragments; one larger than ``max_message_size`` is refused.
* A ``Ping`` is answered automatically and a peer's close frame is answered automatically: the
  reply is queued, :meth:`WebSocket.data_to_send` returns it, and every ``send_*`` call puts
  queued replies in front of its own bytes, so nothing goes out of order.
* EOF without a close frame gives ``CloseReceived(1006, "")``.
* A peer that breaks the protocol raises :class:`RemoteProtocolError` whose ``close_code`` is the
  code to send back (1002, 1007 or 1009). The machine is then unusable: every call raises
  :class:`LocalProtocolError`, except one :meth:`WebSocket.send_close` to send that code back
  (and, for a server whose handshake request was bad, one :meth:`WebSocket.reject`).
* No extension (permessage-deflate) and no subprotocol is ever negotiated: the client offers
  none, the server declines any offer.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias

import attrs
import h11

from ._errors import (
    HopxError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    error_from_agent_response,
)
from ._http import NEED_DATA, Headers, NeedData, Request, RequestHead, Role, normalize_headers
from ._url import BaseURL

if TYPE_CHECKING:
    from wsproto.frame_protocol import Opcode

# wsproto (frame parsing and writing) is imported by the functions that use it, when the first
# WebSocket is made: importing the package does not pay for it.

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Accepted",
    "BinaryMessage",
    "CloseReceived",
    "Ping",
    "Pong",
    "TextMessage",
    "UpgradeRequest",
    "WSEvent",
    "WebSocket",
    "WebSocketState",
]

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20
DEFAULT_MAX_HANDSHAKE_SIZE = 64 * 1024
#: How much of a rejection body is kept for the error (the rest is not waited for).
MAX_REJECTION_BODY = 64 * 1024

# Close codes of RFC 6455 section 7.4.1.
PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009
ABNORMAL_CLOSURE = 1006
NO_STATUS = 1005

# Headers the machine writes itself; a caller may not set them.
_HANDSHAKE_HEADERS = frozenset(
    {
        b"host",
        b"upgrade",
        b"connection",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"content-length",
        b"transfer-encoding",
    }
)


class WebSocketState(enum.Enum):
    """Where a :class:`WebSocket` is in its life."""

    CONNECTING = "CONNECTING"  #: the opening handshake is not finished
    OPEN = "OPEN"  #: messages flow both ways
    CLOSING = "CLOSING"  #: we sent a close frame and wait for the peer's
    CLOSED = "CLOSED"  #: both close frames were exchanged, the handshake was refused, or EOF
    ERROR = "ERROR"  #: a protocol error happened; the connection must be dropped


# ---------------------------------------------------------------------------------------------
# Events


@attrs.frozen
class _HeaderLookup:
    headers: Headers

    def header(self, name: str | bytes) -> str | None:
        """The first value of a header, decoded as latin-1, or ``None``."""
        key = name.encode("latin-1").lower() if isinstance(name, str) else name.lower()
        for k, v in self.headers:
            if k == key:
                return v.decode("latin-1")
        return None


@attrs.frozen
class Accepted(_HeaderLookup):
    """Client side: the server accepted the upgrade (its ``101`` reply headers)."""


@attrs.frozen
class UpgradeRequest(_HeaderLookup):
    """Server side: a valid WebSocket upgrade request; answer with ``accept`` or ``reject``."""

    target: str

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


@attrs.frozen
class TextMessage:
    """A whole text message (fragments already joined)."""

    text: str


@attrs.frozen
class BinaryMessage:
    """A whole binary message (fragments already joined)."""

    data: bytes


@attrs.frozen
class Ping:
    """The peer pinged; the pong is already queued in :meth:`WebSocket.data_to_send`."""

    payload: bytes = b""


@attrs.frozen
class Pong:
    """The peer answered a ping (or sent an unsolicited pong)."""

    payload: bytes = b""


@attrs.frozen
class CloseReceived:
    """The conversation is over: the peer's close frame (answered already), or EOF (1006).

    ``code`` is 1005 when the peer's close frame carried no code.
    """

    code: int
    reason: str = ""


WSEvent: TypeAlias = (
    Accepted | UpgradeRequest | TextMessage | BinaryMessage | Ping | Pong | CloseReceived
)


# ---------------------------------------------------------------------------------------------
# Helpers


def _tokens(value: str | None) -> set[str]:
    if not value:
        return set()
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _valid_key(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _check_close_code(code: int) -> None:
    """A close code we may put on the wire (RFC 6455 7.4)."""
    from wsproto.frame_protocol import (
        LOCAL_ONLY_CLOSE_REASONS,
        MAX_CLOSE_REASON,
        MIN_CLOSE_REASON,
        CloseReason,
    )

    if isinstance(code, bool) or not isinstance(code, int):
        raise LocalProtocolError(f"close code must be an integer, got {code!r}")
    known = code in CloseReason.__members__.values()
    sendable = (
        MIN_CLOSE_REASON <= code <= MAX_CLOSE_REASON
        and code not in LOCAL_ONLY_CLOSE_REASONS
        and (known or code >= 3000)
    )
    if not sendable:
        raise LocalProtocolError(f"close code {code} may not be sent")


def _parse_close_payload(payload: bytes) -> tuple[int, str]:
    """``(code, reason)`` of a received close frame, or ParseFailed (RFC 6455 5.5.1, 7.4)."""
    from wsproto.frame_protocol import (
        LOCAL_ONLY_CLOSE_REASONS,
        MAX_CLOSE_REASON,
        MIN_CLOSE_REASON,
        CloseReason,
        ParseFailed,
    )

    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise ParseFailed("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    known = code in CloseReason.__members__.values()
    if (
        code < MIN_CLOSE_REASON
        or code > MAX_CLOSE_REASON
        or code in LOCAL_ONLY_CLOSE_REASONS
        or (not known and code < 3000)
    ):
        raise ParseFailed(f"close frame with invalid code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseFailed(
            f"close reason is not UTF-8: {exc}", CloseReason.INVALID_FRAME_PAYLOAD_DATA
        )
    return code, reason


def _unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (RFC 6455 5.3)."""
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


def _header_value(headers: Headers, name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def _serialize_response(status: int, headers: Headers, body: bytes = b"") -> bytes:
    import http  # here: only a server answers a handshake

    reason = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {reason}".encode("latin-1")]
    lines += [k + b": " + v for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _check_header_pairs(headers: Headers) -> None:
    for name, value in headers:
        if not name or any(c in name for c in b" \t\r\n:\x00"):
            raise LocalProtocolError(f"invalid header name {name!r}")
        if any(c in value for c in b"\r\n\x00"):
            raise LocalProtocolError(f"invalid value for header {name.decode('latin-1')!r}")


# ---------------------------------------------------------------------------------------------
# The machine


class WebSocket:
    """One WebSocket connection, client or server side.

    Args:
        role: which side we play.
        max_message_size: the largest reassembled message accepted (bytes); a larger one
            raises :class:`RemoteProtocolError` with ``close_code`` 1009.
        max_handshake_size: the largest handshake head accepted.

    Client::

        ws = WebSocket(Role.CLIENT)
        sock.send(ws.connect(base, "/execute/stream", headers=[("authorization", "Bearer t")]))
        ws.receive_data(sock.recv())         # -> Accepted, or raises the mapped agent error
        sock.send(ws.send_text('{"type":"execute",...}'))

    Server::

        ws = WebSocket(Role.SERVER)
        ws.receive_data(sock.recv())
        request = ws.next_event()            # -> UpgradeRequest
        sock.send(ws.accept())               # or ws.reject(401, b'{"error":"..."}')
    """

    def __init__(
        self,
        role: Role = Role.CLIENT,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_handshake_size: int = DEFAULT_MAX_HANDSHAKE_SIZE,
    ) -> None:
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
            raise LocalProtocolError("max_message_size must be an integer")
        if max_message_size <= 0:
            raise LocalProtocolError("max_message_size must be > 0")
        self.role = role
        self.max_message_size = max_message_size
        self._client = role is Role.CLIENT
        self._state = WebSocketState.CONNECTING
        self._error: ProtocolError | None = None
        self._error_reply_allowed = False  # one send_close (or reject) after a remote error
        self._outgoing = bytearray()
        self._eof = False
        # handshake
        self._h11 = h11.Connection(
            h11.CLIENT if self._client else h11.SERVER,
            max_incomplete_event_size=max_handshake_size,
        )
        self._request_sent = False
        self._key: bytes = b""
        self._operation: str | None = None
        self._sandbox_id: str | None = None
        self._rejection: tuple[int, Headers, bytearray] | None = None
        self._pending_request: UpgradeRequest | None = None
        self._h11_head: h11.Request | None = None
        self._opened = False
        self._request_key: bytes = b""
        self._trailing = b""
        self._responded = False
        # frames
        from wsproto.frame_protocol import FrameDecoder, FrameProtocol

        self._writer = FrameProtocol(self._client, [])
        self._decoder = FrameDecoder(self._client, [])
        self._close_sent = False
        self._close_received = False
        self._msg_opcode: Opcode | None = None
        self._msg_parts: list[bytes] = []
        self._msg_text: list[str] = []
        self._msg_utf8: codecs.IncrementalDecoder | None = None
        self._msg_size = 0
        # The fast path reads a received chunk in place while nothing is buffered (``_chunk``)
        # or else the frame decoder's buffer; ``_pos`` is its read position in either.
        self._chunk: bytes | None = None
        self._pos = 0

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> WebSocketState:
        """The connection state."""
        return self._state

    def _check_usable(self) -> None:
        if self._error is not None:
            raise LocalProtocolError(
                f"the WebSocket is unusable after an earlier error: {self._error.message}"
            ) from self._error

    def _fail_remote(
        self, message: str, close_code: int | None = PROTOCOL_ERROR, status_hint: int = 400
    ) -> RemoteProtocolError:
        err = RemoteProtocolError(message, close_code=close_code, status_hint=status_hint)
        self._error = err
        self._error_reply_allowed = True
        self._state = WebSocketState.ERROR
        return err

    def data_to_send(self) -> bytes:
        """Queued automatic replies (pong, close reply) to write; empty if none.

        Never raises, so a driver may call it after any event or error.
        """
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # -- client handshake -------------------------------------------------------------------

    def connect(
        self,
        base: BaseURL,
        path: str,
        *,
        headers: Iterable[tuple[str | bytes, str | bytes]] = (),
        operation: str | None = None,
        sandbox_id: str | None = None,
        key: bytes | None = None,
    ) -> bytes:
        """Client: the upgrade request for ``path`` under ``base`` (its path prefix kept).

        ``headers`` are added as given (``authorization`` belongs here). ``operation`` and
        ``sandbox_id`` label the error raised if the server refuses the upgrade. ``key`` is
        the ``Sec-WebSocket-Key`` (base64 of 16 bytes); a random one by default.
        """
        self._check_usable()
        if not self._client:
            raise LocalProtocolError("only a client connects")
        if self._request_sent:
            raise LocalProtocolError("connect() was already called")
        if not isinstance(path, str) or not path.startswith("/"):
            raise LocalProtocolError(f"path must start with '/', got {path!r}")
        if key is None:
            from wsproto.utilities import generate_nonce

            key = generate_nonce()
        elif not _valid_key(key.decode("latin-1")):
            raise LocalProtocolError("key must be the base64 form of 16 bytes")
        extra = normalize_headers(headers)
        reserved = sorted({k.decode("latin-1") for k, _ in extra if k in _HANDSHAKE_HEADERS})
        if reserved:
            raise LocalProtocolError(f"headers set by the WebSocket handshake: {reserved}")
        try:
            request = h11.Request(
                method="GET",
                target=base.prefix + path,
                headers=[
                    (b"host", base.host_header.encode("ascii")),
                    (b"upgrade", b"websocket"),
                    (b"connection", b"Upgrade"),
                    (b"sec-websocket-key", key),
                    (b"sec-websocket-version", b"13"),
                    *extra,
                ],
            )
            data = self._h11.send(request) or b""
            data += self._h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"cannot build the upgrade request: {exc}") from None
        self._request_sent = True
        self._key = key
        self._operation = operation
        self._sandbox_id = sandbox_id
        return data

    def _client_handshake_event(self) -> Accepted | NeedData:
        if not self._request_sent:
            raise LocalProtocolError("call connect() before reading the handshake reply")
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._rejection is not None:
                    raise self._raise_rejection() from None
                raise self._fail_remote(f"bad handshake reply: {exc}", None) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return NEED_DATA
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._client_accepted(event)
                continue
            if isinstance(event, h11.Response):
                headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
                self._rejection = (event.status_code, headers, bytearray())
                continue
            if isinstance(event, h11.Data) and self._rejection is not None:
                body = self._rejection[2]
                body += event.data[: MAX_REJECTION_BODY - len(body)]
                if len(body) >= MAX_REJECTION_BODY:
                    raise self._raise_rejection()
                continue
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self._rejection is not None:
                    raise self._raise_rejection()
                raise self._fail_remote("connection closed before the handshake reply", None)
            raise self._fail_remote(f"unexpected handshake event {type(event).__name__}", None)

    def _raise_rejection(self) -> HopxError:
        assert self._rejection is not None
        status, headers, body = self._rejection
        err = error_from_agent_response(
            status, headers, bytes(body), operation=self._operation, sandbox_id=self._sandbox_id
        )
        self._state = WebSocketState.CLOSED
        self._error = LocalProtocolError(f"the server refused the upgrade (HTTP {status})")
        return err

    def _client_accepted(self, event: h11.InformationalResponse) -> Accepted:
        headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
        if "websocket" not in _tokens(_header_value(headers, b"upgrade")):
            raise self._fail_remote("101 reply without 'Upgrade: websocket'", None)
        if "upgrade" not in _tokens(_header_value(headers, b"connection")):
            raise self._fail_remote("101 reply without 'Connection: Upgrade'", None)
        from wsproto.utilities import generate_accept_token

        accept = _header_value(headers, b"sec-websocket-accept")
        if accept is None or accept.strip().encode() != generate_accept_token(self._key):
            raise self._fail_remote("101 reply with a wrong Sec-WebSocket-Accept", None)
        if _header_value(headers, b"sec-websocket-extensions"):
            raise self._fail_remote("the server chose an extension that was not offered", None)
        if _header_value(headers, b"sec-websocket-protocol"):
            raise self._fail_remote("the server chose a subprotocol that was not offered", None)
        trailing, _closed = self._h11.trailing_data
        self._state = WebSocketState.OPEN
        self._opened = True
        self._decoder.receive_bytes(bytes(trailing))
        return Accepted(headers)

    # -- server handshake -------------------------------------------------------------------

    def _server_handshake_event(self) -> UpgradeRequest | NeedData:
        if self._pending_request is not None:
            return NEED_DATA  # waiting for accept() or reject()
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._fail_remote(
                    f"bad upgrade request: {exc}", None, exc.error_status_hint
                ) from None
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.Request):
                self._h11_head = event
                continue
            if isinstance(event, h11.Data):
                raise self._fail_remote("an upgrade request must not have a body", None)
            head = self._h11_head
            if head is not None and (isinstance(event, h11.EndOfMessage) or event is h11.PAUSED):
                trailing, _closed = self._h11.trailing_data
                return self._adopt(
                    head.method.decode("ascii"),
                    head.target.decode("latin-1"),
                    tuple((bytes(k), bytes(v)) for k, v in head.headers),
                    bytes(head.http_version),
                    bytes(trailing),
                )
            if isinstance(event, h11.ConnectionClosed):
                raise self._fail_remote("connection closed before the upgrade request", None)
            raise self._fail_remote(f"unexpected handshake event {type(event).__name__}", None)

    def receive_upgrade_request(
        self, request: Request | RequestHead, *, trailing_data: bytes = b""
    ) -> UpgradeRequest:
        """Server: take over a request already parsed by an :class:`HTTPConnection`.

        ``trailing_data`` is what that connection read past the request
        (``HTTPConnection.trailing_data``). Checks the request as :meth:`next_event` would.
        """
        self._check_usable()
        if self._client:
            raise LocalProtocolError("only a server receives upgrade requests")
        if self._pending_request is not None or self._state is not WebSocketState.CONNECTING:
            raise LocalProtocolError("an upgrade request was already received")
        if isinstance(request, Request) and request.body:
            raise self._fail_remote("an upgrade request must not have a body", None)
        return self._adopt(request.method, request.target, request.headers, b"1.1", trailing_data)

    def _adopt(
        self, method: str, target: str, headers: Headers, version: bytes, trailing: bytes
    ) -> UpgradeRequest:
        if method != "GET":
            raise self._fail_remote(f"an upgrade request must be GET, not {method}", None, 405)
        if version != b"1.1":
            raise self._fail_remote("an upgrade request must be HTTP/1.1", None)
        if "websocket" not in _tokens(_header_value(headers, b"upgrade")):
            raise self._fail_remote("not a WebSocket upgrade (no 'Upgrade: websocket')", None, 426)
        if "upgrade" not in _tokens(_header_value(headers, b"connection")):
            raise self._fail_remote("not a WebSocket upgrade (no 'Connection: Upgrade')", None)
        if (_header_value(headers, b"sec-websocket-version") or "").strip() != "13":
            raise self._fail_remote("unsupported Sec-WebSocket-Version (13 expected)", None, 426)
        key = _header_value(headers, b"sec-websocket-key")
        if key is None or not _valid_key(key):
            raise self._fail_remote("missing or malformed Sec-WebSocket-Key", None)
        self._request_key = key.strip().encode("latin-1")
        self._trailing = trailing
        self._pending_request = UpgradeRequest(headers=headers, target=target)
        return self._pending_request

    def accept(self, headers: Iterable[tuple[str | bytes, str | bytes]] = ()) -> bytes:
        """Server: the ``101`` reply accepting the upgrade. No extension is accepted."""
        self._check_usable()
        if self._pending_request is None or self._state is not WebSocketState.CONNECTING:
            raise LocalProtocolError("no upgrade request is waiting for an answer")
        extra = normalize_headers(headers)
        _check_header_pairs(extra)
        reserved = sorted({k.decode("latin-1") for k, _ in extra if k in _HANDSHAKE_HEADERS})
        if reserved:
            raise LocalProtocolError(f"headers set by the WebSocket handshake: {reserved}")
        from wsproto.utilities import generate_accept_token

        reply = (
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", generate_accept_token(self._request_key)),
            *extra,
        )
        self._state = WebSocketState.OPEN
        self._opened = True
        self._decoder.receive_bytes(self._trailing)
        self._trailing = b""
        return _serialize_response(101, reply)

    def reject(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Iterable[tuple[str | bytes, str | bytes]] = (),
    ) -> bytes:
        """Server: an error reply refusing the upgrade (status 400-599); the connection ends.

        Allowed once after :meth:`next_event` raised for a bad upgrade request (use the error's
        ``status_hint``).
        """
        if self._client:
            raise LocalProtocolError("only a server rejects upgrade requests")
        after_error = (
            self._error is not None
            and self._error_reply_allowed
            and not self._responded
            and not self._opened
        )
        if not after_error:
            self._check_usable()
            if self._pending_request is None or self._state is not WebSocketState.CONNECTING:
                raise LocalProtocolError("no upgrade request is waiting for an answer")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise LocalProtocolError(f"a rejection status must be 400-599, got {status!r}")
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        extra = normalize_headers(headers)
        _check_header_pairs(extra)
        if any(k in (b"content-length", b"transfer-encoding", b"connection") for k, _ in extra):
            raise LocalProtocolError("content-length, transfer-encoding and connection are set")
        reply = (*extra, (b"content-length", str(len(payload)).encode()), (b"connection", b"close"))
        self._responded = True
        self._error_reply_allowed = False
        if not after_error:
            self._state = WebSocketState.CLOSED
            self._error = LocalProtocolError("the upgrade was rejected")
        return _serialize_response(status, reply, payload)

    # -- receiving --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed its side."""
        self._check_usable()
        if self._eof:
            if data:
                raise LocalProtocolError("data received after EOF")
            return
        if not data:
            self._eof = True
        if self._state is WebSocketState.CONNECTING:
            if self._pending_request is not None:
                self._trailing += data
                return
            self._h11.receive_data(bytes(data))
            return
        if self._state is WebSocketState.CLOSED or self._close_received:
            return  # nothing may follow a close frame; ignore it
        if data:
            if self._chunk is not None:
                self._spill()
            decoder = self._decoder
            if (
                type(data) is bytes
                and not decoder.buffer.buffer
                and decoder.header is None
                and self._msg_opcode is None
            ):
                self._chunk = data  # read in place: no copy into the buffer, no resizing it
                self._pos = 0
            else:
                decoder.receive_bytes(data)

    def _spill(self) -> None:
        """Move what is unread of the in-place chunk (a partial frame, or a frame for the
        general path) into the frame decoder's buffer."""
        chunk, pos = self._chunk, self._pos
        assert chunk is not None
        self._chunk = None
        self._pos = 0
        if pos < len(chunk):
            self._decoder.receive_bytes(chunk[pos:])

    def next_event(self) -> WSEvent | NeedData:
        """The next event from received bytes, or ``NEED_DATA``."""
        self._check_usable()
        state = self._state
        if state is WebSocketState.CONNECTING:
            if self._client:
                return self._client_handshake_event()
            return self._server_handshake_event()
        if state is WebSocketState.CLOSED:
            return NEED_DATA
        from wsproto.frame_protocol import ParseFailed

        try:
            event = self._next_frame_event()
        except ParseFailed as exc:
            raise self._fail_remote(str(exc), int(exc.code)) from None
        if event is NEED_DATA and self._eof:
            self._state = WebSocketState.CLOSED
            self._close_received = True
            return CloseReceived(ABNORMAL_CLOSURE, "")
        return event

    def _whole_frame(self) -> TextMessage | BinaryMessage | NeedData | None:
        """Fast path for the common frame: a whole text or binary message in one frame.

        Reads straight from the received chunk, or the frame decoder's buffer, at
        ``self._pos`` when nothing else is in progress; waits (``NEED_DATA``) until such a
        frame is complete. Returns ``None`` for anything else (control frames, fragments,
        odd or invalid headers, frames over the size limit), which the general path then
        handles, errors included.
        """
        buf: bytes | bytearray = self._decoder.buffer.buffer if self._chunk is None else self._chunk
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return NEED_DATA if avail == 0 or buf[pos] in (0x81, 0x82) else None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if (b0 != 0x81 and b0 != 0x82) or (b1 >= 0x80) is self._client:
            return None
        length = b1 & 0x7F
        start = pos + 2
        if length == 126:
            if avail < 4:
                return NEED_DATA
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            if length < 126:
                return None
            start += 2
        elif length == 127:
            if avail < 10:
                return NEED_DATA
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if length < 65536 or length >= 1 << 63:
                return None  # not the shortest form, or the top bit set: the general path says
            start += 8
        if length > self.max_message_size:
            return None
        if not self._client:
            start += 4
        end = start + length
        if end > len(buf):
            return NEED_DATA
        self._pos = end
        try:
            if self._client:
                # Straight from the buffer: one copy into the str (or bytes), no slice first.
                with memoryview(buf) as view, view[start:end] as payload:
                    if b0 == 0x82:
                        return BinaryMessage(bytes(payload))
                    return TextMessage(str(payload, "utf-8"))
            unmasked = _unmask(bytes(buf[start:end]), bytes(buf[start - 4 : start]))
            if b0 == 0x82:
                return BinaryMessage(unmasked)
            return TextMessage(unmasked.decode("utf-8"))
        except UnicodeDecodeError as exc:
            from wsproto.frame_protocol import CloseReason, ParseFailed

            raise ParseFailed(
                f"text message is not UTF-8: {exc}", CloseReason.INVALID_FRAME_PAYLOAD_DATA
            ) from None

    def _next_frame_event(self) -> WSEvent | NeedData:
        from wsproto.frame_protocol import CloseReason, Opcode, ParseFailed

        decoder = self._decoder
        if decoder.header is None and self._msg_opcode is None:
            event = self._whole_frame()
            if self._chunk is not None:
                if event is NEED_DATA or event is None:
                    self._spill()
                if event is not None:
                    return event
            elif event is NEED_DATA and self._pos:
                # Drop the messages already read, once per received chunk, not per message.
                del decoder.buffer.buffer[: self._pos]
                self._pos = 0
            if event is not None:
                return event
        if self._pos:
            del decoder.buffer.buffer[: self._pos]
            self._pos = 0
        while True:
            frame = decoder.process_buffer()
            if frame is None:
                header = decoder.header
                if header is not None and not header.opcode.iscontrol():
                    self._check_size(header.payload_len - decoder.payload_consumed)
                return NEED_DATA
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if self._msg_opcode is not None:
                    raise ParseFailed(f"expected a continuation frame, got {opcode.name}")
                payload = frame.payload
                assert isinstance(payload, bytes)
                if frame.frame_finished and frame.message_finished:
                    # The common case: a whole message in one piece.
                    if len(payload) > self.max_message_size:
                        raise ParseFailed("message too big", CloseReason.MESSAGE_TOO_BIG)
                    if opcode is Opcode.TEXT:
                        try:
                            return TextMessage(payload.decode("utf-8"))
                        except UnicodeDecodeError as exc:
                            raise ParseFailed(
                                f"text message is not UTF-8: {exc}",
                                CloseReason.INVALID_FRAME_PAYLOAD_DATA,
                            ) from None
                    return BinaryMessage(payload)
                self._msg_opcode = opcode
                self._msg_size = 0
                if opcode is Opcode.TEXT:
                    self._msg_utf8 = codecs.getincrementaldecoder("utf-8")()
                event = self._add_piece(frame.payload, frame.frame_finished, frame.message_finished)
                if event is not None:
                    return event
                continue
            if opcode is Opcode.CONTINUATION:
                if self._msg_opcode is None:
                    raise ParseFailed("continuation frame without a message to continue")
                event = self._add_piece(frame.payload, frame.frame_finished, frame.message_finished)
                if event is not None:
                    return event
                continue
            payload = frame.payload
            assert isinstance(payload, bytes)
            if opcode is Opcode.PING:
                if not self._close_sent:
                    self._outgoing += self._writer.pong(payload)
                return Ping(payload)
            if opcode is Opcode.PONG:
                return Pong(payload)
            # Opcode.CLOSE
            code, reason = _parse_close_payload(payload)
            self._close_received = True
            if not self._close_sent:
                self._outgoing += self._writer.close(None if code == NO_STATUS else code)
                self._close_sent = True
            self._state = WebSocketState.CLOSED
            return CloseReceived(code, reason)

    def _check_size(self, more: int) -> None:
        if self._msg_size + more > self.max_message_size:
            from wsproto.frame_protocol import CloseReason, ParseFailed

            raise ParseFailed(
                f"message larger than the limit of {self.max_message_size} bytes",
                CloseReason.MESSAGE_TOO_BIG,
            )

    def _add_piece(
        self, payload: bytes | str | tuple[int, str], frame_done: bool, message_done: bool
    ) -> TextMessage | BinaryMessage | None:
        from wsproto.frame_protocol import CloseReason, Opcode, ParseFailed

        assert isinstance(payload, bytes)
        self._check_size(len(payload))
        self._msg_size += len(payload)
        done = frame_done and message_done
        if self._msg_opcode is Opcode.TEXT:
            decoder = self._msg_utf8
            assert decoder is not None
            try:
                self._msg_text.append(decoder.decode(payload, done))
            except UnicodeDecodeError as exc:
                raise ParseFailed(
                    f"text message is not UTF-8: {exc}", CloseReason.INVALID_FRAME_PAYLOAD_DATA
                ) from None
        else:
            self._msg_parts.append(payload)
        if not done:
            header = self._decoder.header
            if header is not None:
                self._check_size(header.payload_len - self._decoder.payload_consumed)
            return None
        message: TextMessage | BinaryMessage
        if self._msg_opcode is Opcode.TEXT:
            message = TextMessage("".join(self._msg_text))
        else:
            message = BinaryMessage(b"".join(self._msg_parts))
        self._msg_opcode = None
        self._msg_parts = []
        self._msg_text = []
        self._msg_utf8 = None
        self._msg_size = 0
        return message

    # -- sending ----------------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        self._check_usable()
        if self._state is not WebSocketState.OPEN:
            raise LocalProtocolError(f"cannot send {what} in state {self._state.value}")

    def _with_pending(self, frame: bytes | bytearray) -> bytes:
        if self._outgoing:
            data = bytes(self._outgoing) + frame
            self._outgoing.clear()
            return data
        return bytes(frame)

    def send_text(self, text: str) -> bytes:
        """Bytes of one text message."""
        self._check_open("a message")
        if not isinstance(text, str):
            raise LocalProtocolError(f"send_text takes a str, got {type(text).__name__}")
        try:
            frame = self._writer.send_data(text)
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"text cannot be encoded as UTF-8: {exc}") from None
        return self._with_pending(frame)

    def send_binary(self, data: bytes) -> bytes:
        """Bytes of one binary message."""
        self._check_open("a message")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send_binary takes bytes, got {type(data).__name__}")
        return self._with_pending(self._writer.send_data(bytes(data)))

    def send_ping(self, payload: bytes = b"") -> bytes:
        """Bytes of a ping (payload at most 125 bytes)."""
        self._check_open("a ping")
        return self._with_pending(self._writer.ping(self._control_payload(payload)))

    def send_pong(self, payload: bytes = b"") -> bytes:
        """Bytes of an unsolicited pong (pings are already answered automatically)."""
        self._check_open("a pong")
        return self._with_pending(self._writer.pong(self._control_payload(payload)))

    @staticmethod
    def _control_payload(payload: bytes) -> bytes:
        if not isinstance(payload, bytes | bytearray):
            raise LocalProtocolError("a control frame payload must be bytes")
        if len(payload) > 125:
            raise LocalProtocolError("a control frame payload is at most 125 bytes")
        return bytes(payload)

    def send_close(self, code: int = 1000, reason: str = "") -> bytes:
        """Bytes of a close frame (plus queued replies); idempotent once closing.

        After a :class:`RemoteProtocolError` this is allowed once, to send its ``close_code``.
        """
        _check_close_code(code)
        if not isinstance(reason, str):
            raise LocalProtocolError("a close reason must be a str")
        encoded = reason.encode("utf-8", "strict")
        if len(encoded) > 123:
            raise LocalProtocolError("a close reason is at most 123 bytes of UTF-8")
        if self._error is not None:
            if not (self._error_reply_allowed and self._state is WebSocketState.ERROR):
                self._check_usable()
            self._error_reply_allowed = False
            if self._close_sent or not self._opened:
                return b""
            self._close_sent = True
            return bytes(self._writer.close(code, reason))
        if self._state is WebSocketState.CONNECTING:
            raise LocalProtocolError("cannot close before the handshake is done")
        if self._close_sent:
            return self.data_to_send()
        self._close_sent = True
        self._state = WebSocketState.CLOSING
        return self._with_pending(self._writer.close(code, reason))
