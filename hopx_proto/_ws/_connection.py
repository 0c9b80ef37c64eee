"""The WebSocket connection machine (RFC 6455), client and server role.

Same API shape as :class:`~hopx_proto._http.HTTPConnection`: ``send_*(...) -> bytes`` returns
what to write, ``receive_data(bytes)`` takes what was read (``b""`` is EOF), and
``next_event()`` returns an event or ``NEED_DATA``. The handshake is in ``_handshake`` (over
h11), the reading of frames in ``_reader``, their wire format in ``_frames``; this module keeps
the state, answers the peer's pings and close, and writes frames.

Rules:

* Messages are reassembled from fragments; one larger than ``max_message_size`` is refused as
  soon as a frame header announces it.
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
* A client masks each frame with 4 fresh bytes from the ``random_bytes`` it was given, and
  draws its default handshake key from it too; the machine has no random source of its own.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

from .._errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    error_from_agent_response,
)
from .._http import NEED_DATA, NeedData, Request, RequestHead, Role
from .._url import BaseURL
from ._events import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    TextMessage,
    UpgradeRequest,
    WebSocketState,
    WSEvent,
)
from ._frames import (
    ABNORMAL_CLOSURE,
    BINARY,
    CLOSE,
    MAX_CLOSE_REASON,
    MAX_CONTROL_PAYLOAD,
    NO_STATUS,
    PING,
    PONG,
    TEXT,
    check_close_code,
    close_payload,
    encode_frame,
)
from ._handshake import DEFAULT_MAX_HANDSHAKE_SIZE, ClientHandshake, Rejection, ServerHandshake
from ._reader import FrameReader

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "WebSocket"]

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20

_CONNECTING = WebSocketState.CONNECTING
_OPEN = WebSocketState.OPEN
_CLOSING = WebSocketState.CLOSING
_CLOSED = WebSocketState.CLOSED
_ERROR = WebSocketState.ERROR


def _no_random_bytes(count: int) -> bytes:
    raise LocalProtocolError("a server draws no random bytes")


class WebSocket:
    """One WebSocket connection, client or server side.

    Args:
        role: which side we play.
        max_message_size: the largest reassembled message accepted (bytes); a larger one
            raises :class:`RemoteProtocolError` with ``close_code`` 1009.
        max_handshake_size: the largest handshake head accepted.
        random_bytes: ``random_bytes(n)`` returns ``n`` unpredictable bytes (``os.urandom``,
            ``secrets.token_bytes``, a backend's ``random_bytes``; a recorded source replays a
            session exactly). A client needs it: it masks every frame with a fresh 4-byte key
            (RFC 6455 5.3) and makes its default handshake key from it. A server sends
            unmasked frames and never calls it.

    Raises:
        LocalProtocolError: ``max_message_size`` is not a positive integer, or a client was
            given no ``random_bytes``.

    Client::

        ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
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
        random_bytes: Callable[[int], bytes] | None = None,
    ) -> None:
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
            raise LocalProtocolError("max_message_size must be an integer")
        if max_message_size <= 0:
            raise LocalProtocolError("max_message_size must be > 0")
        self._client = role is Role.CLIENT
        if self._client and random_bytes is None:
            raise LocalProtocolError(
                "a client masks its frames with random keys: pass random_bytes "
                "(os.urandom, secrets.token_bytes or a backend's random_bytes)"
            )
        self.role = role
        self.max_message_size = max_message_size
        self._random_bytes = random_bytes or _no_random_bytes
        self._state = _CONNECTING
        self._error: ProtocolError | None = None
        self._error_reply_allowed = False  # one send_close (or reject) after a remote error
        self._outgoing = bytearray()
        self._eof = False
        self._opened = False
        self._close_sent = False
        self._close_received = False
        # The opening handshake.
        self._handshake = (
            ClientHandshake(max_handshake_size)
            if self._client
            else ServerHandshake(max_handshake_size)
        )
        self._request_sent = False
        self._operation: str | None = None
        self._sandbox_id: str | None = None
        self._responded = False
        self._reader = FrameReader(self._client, max_message_size)

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

    def _fail(self, error: RemoteProtocolError) -> None:
        """Record a remote error: the machine is unusable but for one reply."""
        self._error = error
        self._error_reply_allowed = True
        self._state = _ERROR

    def data_to_send(self) -> bytes:
        """Queued automatic replies (pong, close reply) to write; empty if none.

        Never raises, so a driver may call it after any event or error.
        """
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # -- the opening handshake --------------------------------------------------------------

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

        Args:
            base: the server's URL; its path prefix goes before ``path``.
            path: the endpoint, starting with ``/``.
            headers: added as given (``authorization`` belongs here); none of the handshake's
                own (``host``, ``upgrade``, ``sec-websocket-*`` ...).
            operation: names the operation in the error raised if the server refuses.
            sandbox_id: names the sandbox in that error.
            key: the ``Sec-WebSocket-Key`` (base64 of 16 bytes); by default one made from
                16 bytes of ``random_bytes``.

        Returns:
            The bytes of the request.

        Raises:
            LocalProtocolError: a server, a second call, a bad path, key or header; nothing
                was produced and the machine is as before.
        """
        self._check_usable()
        handshake = self._handshake
        if not isinstance(handshake, ClientHandshake):
            raise LocalProtocolError("only a client connects")
        if self._request_sent:
            raise LocalProtocolError("connect() was already called")
        if key is None:
            key = base64.b64encode(self._random_bytes(16))
        data = handshake.request(base, path, headers, key)
        self._request_sent = True
        self._operation = operation
        self._sandbox_id = sandbox_id
        return data

    def _client_handshake_event(self, handshake: ClientHandshake) -> Accepted | NeedData:
        if not self._request_sent:
            raise LocalProtocolError("call connect() before reading the handshake reply")
        event = handshake.next_event()
        if isinstance(event, Rejection):
            self._state = _CLOSED
            self._error = LocalProtocolError(
                f"the server refused the upgrade (HTTP {event.status})"
            )
            raise error_from_agent_response(
                event.status,
                event.headers,
                event.body,
                operation=self._operation,
                sandbox_id=self._sandbox_id,
            )
        if isinstance(event, Accepted):
            self._open(handshake.trailing_data)
        return event

    def _open(self, trailing: bytes) -> None:
        self._state = _OPEN
        self._opened = True
        if trailing:
            self._reader.feed(trailing)

    def receive_upgrade_request(
        self, request: Request | RequestHead, *, trailing_data: bytes = b""
    ) -> UpgradeRequest:
        """Server: take over a request already parsed by an :class:`HTTPConnection`.

        Args:
            request: the request (or its head) that connection read.
            trailing_data: what that connection read past the request
                (``HTTPConnection.trailing_data``): the client's first frames.

        Returns:
            The :class:`UpgradeRequest`; answer it with :meth:`accept` or :meth:`reject`.

        Raises:
            RemoteProtocolError: not a valid upgrade (``status_hint`` is the status to refuse
                it with, through one :meth:`reject`).
            LocalProtocolError: a client, or a request was already received.
        """
        self._check_usable()
        handshake = self._handshake
        if not isinstance(handshake, ServerHandshake):
            raise LocalProtocolError("only a server receives upgrade requests")
        if handshake.request is not None or self._state is not _CONNECTING:
            raise LocalProtocolError("an upgrade request was already received")
        try:
            if isinstance(request, Request) and request.body:
                raise RemoteProtocolError("an upgrade request must not have a body")
            return handshake.adopt(
                request.method, request.target, request.headers, b"1.1", trailing_data
            )
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise

    def accept(self, headers: Iterable[tuple[str | bytes, str | bytes]] = ()) -> bytes:
        """Server: the ``101`` reply accepting the upgrade. No extension is accepted.

        Args:
            headers: extra reply headers, none of the handshake's own.

        Returns:
            The bytes of the reply; the connection is then open.

        Raises:
            LocalProtocolError: no request is waiting, or a bad header (the machine is as
                before).
        """
        self._check_usable()
        handshake = self._handshake
        if (
            not isinstance(handshake, ServerHandshake)
            or handshake.request is None
            or self._state is not _CONNECTING
        ):
            raise LocalProtocolError("no upgrade request is waiting for an answer")
        reply = handshake.accept(headers)
        self._open(handshake.trailing_data)
        handshake.trailing_data = b""
        return reply

    def reject(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Iterable[tuple[str | bytes, str | bytes]] = (),
    ) -> bytes:
        """Server: an error reply refusing the upgrade (status 400-599); the connection ends.

        Allowed once after :meth:`next_event` raised for a bad upgrade request (use the error's
        ``status_hint``).

        Args:
            status: the HTTP status, 400-599.
            body: the reply body (a ``str`` is sent as UTF-8).
            headers: extra headers; not ``content-length``, ``transfer-encoding`` or
                ``connection``, which the reply sets.

        Returns:
            The bytes of the reply.

        Raises:
            LocalProtocolError: a client, no request waiting (and no bad one to answer), a bad
                status or header.
        """
        handshake = self._handshake
        if not isinstance(handshake, ServerHandshake):
            raise LocalProtocolError("only a server rejects upgrade requests")
        after_error = (
            self._error is not None
            and self._error_reply_allowed
            and not self._responded
            and not self._opened
        )
        if not after_error:
            self._check_usable()
            if handshake.request is None or self._state is not _CONNECTING:
                raise LocalProtocolError("no upgrade request is waiting for an answer")
        reply = handshake.reject(status, body, headers)
        self._responded = True
        self._error_reply_allowed = False
        if not after_error:
            self._state = _CLOSED
            self._error = LocalProtocolError("the upgrade was rejected")
        return reply

    # -- receiving --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed its side.

        Raises:
            LocalProtocolError: after an error, after EOF, or ``data`` is not bytes-like.
        """
        self._check_usable()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"receive_data takes bytes, got {type(data).__name__}")
        if self._eof:
            if data:
                raise LocalProtocolError("data received after EOF")
            return
        if not data:
            self._eof = True
        if self._state is _CONNECTING:
            self._handshake.receive_data(bytes(data))
        elif data and not self._close_received and self._state is not _CLOSED:
            self._reader.feed(data)  # (nothing may follow a close frame: that is ignored)

    def next_event(self) -> WSEvent | NeedData:
        """The next event from received bytes, or ``NEED_DATA``.

        Raises:
            RemoteProtocolError: the peer broke the protocol (``close_code`` says how); during
                the handshake, a bad reply or request (``status_hint`` for a server).
            HopxError: the server refused the upgrade: the error its reply maps to.
            LocalProtocolError: after an earlier error, or before ``connect()``.
        """
        state = self._state
        if state is _OPEN or state is _CLOSING:  # (no error: that would be state ERROR)
            try:
                event = self._reader.next()
            except RemoteProtocolError as exc:
                self._fail(exc)
                raise
            kind = event.__class__
            if kind is TextMessage or kind is BinaryMessage or kind is Pong:
                return event
            return self._answer(event)
        self._check_usable()
        if state is _CLOSED:
            return NEED_DATA
        handshake = self._handshake
        try:
            if isinstance(handshake, ClientHandshake):
                return self._client_handshake_event(handshake)
            return handshake.next_event()
        except RemoteProtocolError as exc:
            if self._error is None:
                self._fail(exc)
            raise

    def _answer(self, event: WSEvent | NeedData) -> WSEvent | NeedData:
        """Queue the reply a ping or a close frame needs; turn EOF into ``CloseReceived``."""
        if isinstance(event, Ping):
            if not self._close_sent:
                self._outgoing += self._frame(PONG, event.payload)
            return event
        if event is NEED_DATA:
            if not self._eof:
                return NEED_DATA
            event = CloseReceived(ABNORMAL_CLOSURE, "")
        elif isinstance(event, CloseReceived) and not self._close_sent:
            code = None if event.code == NO_STATUS else event.code
            self._outgoing += self._frame(CLOSE, close_payload(code))
            self._close_sent = True
        self._close_received = True
        self._state = _CLOSED
        return event

    # -- sending ----------------------------------------------------------------------------

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        if not self._client:
            return encode_frame(opcode, payload, None)
        key = self._random_bytes(4)
        if type(key) is not bytes or len(key) != 4:
            raise LocalProtocolError(f"random_bytes(4) returned {key!r}, not 4 bytes")
        return encode_frame(opcode, payload, key)

    def _check_open(self, what: str) -> None:
        self._check_usable()
        if self._state is not _OPEN:
            raise LocalProtocolError(f"cannot send {what} in state {self._state.value}")

    def _with_pending(self, frame: bytes) -> bytes:
        if self._outgoing:
            data = bytes(self._outgoing) + frame
            self._outgoing.clear()
            return data
        return frame

    def send_text(self, text: str) -> bytes:
        """Bytes of one text message (after any queued replies).

        Raises:
            LocalProtocolError: not open, or ``text`` is not a ``str`` that UTF-8 can encode.
        """
        self._check_open("a message")
        if not isinstance(text, str):
            raise LocalProtocolError(f"send_text takes a str, got {type(text).__name__}")
        try:
            payload = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"text cannot be encoded as UTF-8: {exc}") from None
        return self._with_pending(self._frame(TEXT, payload))

    def send_binary(self, data: bytes) -> bytes:
        """Bytes of one binary message (after any queued replies).

        Raises:
            LocalProtocolError: not open, or ``data`` is not bytes-like.
        """
        self._check_open("a message")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send_binary takes bytes, got {type(data).__name__}")
        return self._with_pending(self._frame(BINARY, bytes(data)))

    def send_ping(self, payload: bytes = b"") -> bytes:
        """Bytes of a ping (payload at most 125 bytes).

        Raises:
            LocalProtocolError: not open, or a payload that is not bytes or too long.
        """
        self._check_open("a ping")
        return self._with_pending(self._frame(PING, self._control_payload(payload)))

    def send_pong(self, payload: bytes = b"") -> bytes:
        """Bytes of an unsolicited pong (pings are already answered automatically).

        Raises:
            LocalProtocolError: not open, or a payload that is not bytes or too long.
        """
        self._check_open("a pong")
        return self._with_pending(self._frame(PONG, self._control_payload(payload)))

    @staticmethod
    def _control_payload(payload: bytes) -> bytes:
        if not isinstance(payload, bytes | bytearray):
            raise LocalProtocolError("a control frame payload must be bytes")
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError(
                f"a control frame payload is at most {MAX_CONTROL_PAYLOAD} bytes"
            )
        return bytes(payload)

    def send_close(self, code: int = 1000, reason: str = "") -> bytes:
        """Bytes of a close frame (plus queued replies); idempotent once closing.

        After a :class:`RemoteProtocolError` this is allowed once, to send its ``close_code``.

        Args:
            code: the close code: 1000-1003, 1007-1013 or 3000-4999.
            reason: at most 123 bytes of UTF-8.

        Returns:
            The bytes to write (empty if the handshake never completed, or when closing
            already and nothing is queued).

        Raises:
            LocalProtocolError: a code or reason that may not be sent, before the handshake is
                done, or after an error (but for that one reply).
        """
        check_close_code(code)
        if not isinstance(reason, str):
            raise LocalProtocolError("a close reason must be a str")
        try:
            encoded = reason.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"a close reason cannot be encoded as UTF-8: {exc}") from None
        if len(encoded) > MAX_CLOSE_REASON:
            raise LocalProtocolError(f"a close reason is at most {MAX_CLOSE_REASON} bytes of UTF-8")
        frame_payload = close_payload(code, encoded)
        if self._error is not None:
            if not (self._error_reply_allowed and self._state is _ERROR):
                self._check_usable()
            self._error_reply_allowed = False
            if self._close_sent or not self._opened:
                return b""
            self._close_sent = True
            return self._frame(CLOSE, frame_payload)
        if self._state is _CONNECTING:
            raise LocalProtocolError("cannot close before the handshake is done")
        if self._close_sent:
            return self.data_to_send()
        self._close_sent = True
        if self._state is _OPEN:
            self._state = _CLOSING
        return self._with_pending(self._frame(CLOSE, frame_payload))
