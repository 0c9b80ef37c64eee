"""The opening handshake (RFC 6455 section 4): an HTTP/1.1 upgrade, parsed and written with h11.

:class:`ClientHandshake` writes the upgrade request and reads the reply; :class:`ServerHandshake`
reads the request (or takes one another parser read) and writes the ``101`` or a refusal. A
reply or request that breaks the rules raises :class:`RemoteProtocolError` (``close_code``
``None``: no frame may be sent yet; a server answers with ``status_hint``). Neither decides
what the connection may do next: :class:`~hopx_proto._ws.WebSocket` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
from collections.abc import Iterable

import attrs
import h11

from .._errors import LocalProtocolError, RemoteProtocolError
from .._http import NEED_DATA, Headers, NeedData, normalize_headers
from .._url import BaseURL
from .._value import Value
from ._events import Accepted, UpgradeRequest

__all__ = [
    "DEFAULT_MAX_HANDSHAKE_SIZE",
    "MAX_REJECTION_BODY",
    "ClientHandshake",
    "Rejection",
    "ServerHandshake",
    "accept_token",
    "check_key",
]

DEFAULT_MAX_HANDSHAKE_SIZE = 64 * 1024
#: How much of a refusal's body is kept for the error (the rest is not waited for).
MAX_REJECTION_BODY = 64 * 1024

#: Section 1.3: the server proves it read the key by hashing it with this GUID.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Headers the handshake writes itself; a caller may not set them.
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
# Headers a refusal writes itself.
_REJECTION_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"connection"})


def accept_token(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value that answers the ``Sec-WebSocket-Key`` ``key``."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def check_key(key: object) -> bytes:
    """``key`` if it is a valid ``Sec-WebSocket-Key`` (base64 of 16 bytes), else an error."""
    if not isinstance(key, bytes) or not _valid_key(key):
        raise LocalProtocolError("key must be the base64 form of 16 bytes")
    return key


def _valid_key(value: bytes) -> bool:
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _tokens(value: str | None) -> set[str]:
    if not value:
        return set()
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _header_value(headers: Headers, name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def _extra_headers(
    headers: Iterable[tuple[str | bytes, str | bytes]],
    reserved_names: frozenset[bytes] = _HANDSHAKE_HEADERS,
) -> Headers:
    """The caller's headers, checked: well-formed, and none of those the reply writes itself."""
    extra = normalize_headers(headers)
    for name, value in extra:
        if not name or any(c in name for c in b" \t\r\n:\x00"):
            raise LocalProtocolError(f"invalid header name {name!r}")
        if any(c in value for c in b"\r\n\x00"):
            raise LocalProtocolError(f"invalid value for header {name.decode('latin-1')!r}")
    reserved = sorted({k.decode("latin-1") for k, _ in extra if k in reserved_names})
    if reserved:
        raise LocalProtocolError(f"headers set by the WebSocket handshake: {reserved}")
    return extra


def _response(status: int, headers: Headers, body: bytes = b"") -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    head = [f"HTTP/1.1 {status} {phrase}".encode("latin-1")]
    head += [k + b": " + v for k, v in headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _refused(message: str, status_hint: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=status_hint)


@attrs.frozen(repr=False, eq=False, slots=False)
class Rejection(Value):
    """The server refused the upgrade: its status, headers and (the start of) its body."""

    status: int
    headers: Headers
    body: bytes


class ClientHandshake:
    """The client's half: the upgrade request, then the server's reply."""

    def __init__(self, max_size: int = DEFAULT_MAX_HANDSHAKE_SIZE) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_size)
        self._key = b""
        self._rejection: tuple[int, Headers, bytearray] | None = None
        #: Bytes read past the ``101`` reply: the server's first frames.
        self.trailing_data = b""

    def request(
        self,
        base: BaseURL,
        path: str,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        key: bytes,
    ) -> bytes:
        """The upgrade request for ``path`` under ``base``, with ``key`` as its nonce."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise LocalProtocolError(f"path must start with '/', got {path!r}")
        check_key(key)
        extra = _extra_headers(headers)
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
        self._key = key
        return data

    def receive_data(self, data: bytes) -> None:
        """Bytes of the reply; ``b""`` is EOF."""
        self._h11.receive_data(bytes(data))

    def next_event(self) -> Accepted | Rejection | NeedData:
        """``Accepted`` for a valid ``101``, a :class:`Rejection`, or ``NEED_DATA``."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._rejection is not None:
                    return self._rejected()
                raise _refused(f"bad handshake reply: {exc}") from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return NEED_DATA
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._accepted(tuple((bytes(k), bytes(v)) for k, v in event.headers))
                continue  # 100 Continue and the like
            if isinstance(event, h11.Response):
                headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
                self._rejection = (event.status_code, headers, bytearray())
                continue
            if isinstance(event, h11.Data) and self._rejection is not None:
                body = self._rejection[2]
                body += event.data[: MAX_REJECTION_BODY - len(body)]
                if len(body) >= MAX_REJECTION_BODY:
                    return self._rejected()
                continue
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self._rejection is not None:
                    return self._rejected()
                raise _refused("connection closed before the handshake reply")
            raise _refused(f"unexpected handshake event {type(event).__name__}")

    def _rejected(self) -> Rejection:
        assert self._rejection is not None
        status, headers, body = self._rejection
        return Rejection(status, headers, bytes(body))

    def _accepted(self, headers: Headers) -> Accepted:
        if "websocket" not in _tokens(_header_value(headers, b"upgrade")):
            raise _refused("101 reply without 'Upgrade: websocket'")
        if "upgrade" not in _tokens(_header_value(headers, b"connection")):
            raise _refused("101 reply without 'Connection: Upgrade'")
        accept = _header_value(headers, b"sec-websocket-accept")
        if accept is None or accept.strip().encode() != accept_token(self._key):
            raise _refused("101 reply with a wrong Sec-WebSocket-Accept")
        if _header_value(headers, b"sec-websocket-extensions"):
            raise _refused("the server chose an extension that was not offered")
        if _header_value(headers, b"sec-websocket-protocol"):
            raise _refused("the server chose a subprotocol that was not offered")
        self.trailing_data = bytes(self._h11.trailing_data[0])
        return Accepted(headers)


class ServerHandshake:
    """The server's half: the upgrade request, then the ``101`` or a refusal."""

    def __init__(self, max_size: int = DEFAULT_MAX_HANDSHAKE_SIZE) -> None:
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_size)
        self._head: h11.Request | None = None
        self._key = b""
        #: The valid request, once read; it waits for :meth:`accept` or :meth:`reject`.
        self.request: UpgradeRequest | None = None
        #: Bytes read past the request: the client's first frames.
        self.trailing_data = b""

    def receive_data(self, data: bytes) -> None:
        """Bytes of the request (and, once it is read, of the frames after it); ``b""`` is EOF."""
        if self.request is not None:
            self.trailing_data += data
        else:
            self._h11.receive_data(bytes(data))

    def next_event(self) -> UpgradeRequest | NeedData:
        """The valid upgrade request, or ``NEED_DATA`` (also while it waits for an answer)."""
        if self.request is not None:
            return NEED_DATA
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise _refused(f"bad upgrade request: {exc}", exc.error_status_hint) from None
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.Request):
                self._head = event
                continue
            if isinstance(event, h11.Data):
                raise _refused("an upgrade request must not have a body")
            head = self._head
            if head is not None and (isinstance(event, h11.EndOfMessage) or event is h11.PAUSED):
                return self.adopt(
                    head.method.decode("ascii"),
                    head.target.decode("latin-1"),
                    tuple((bytes(k), bytes(v)) for k, v in head.headers),
                    bytes(head.http_version),
                    bytes(self._h11.trailing_data[0]),
                )
            if isinstance(event, h11.ConnectionClosed):
                raise _refused("connection closed before the upgrade request")
            raise _refused(f"unexpected handshake event {type(event).__name__}")

    def adopt(
        self, method: str, target: str, headers: Headers, version: bytes, trailing: bytes
    ) -> UpgradeRequest:
        """Check a request read by any parser; the :class:`UpgradeRequest`, or an error."""
        if method != "GET":
            raise _refused(f"an upgrade request must be GET, not {method}", 405)
        if version != b"1.1":
            raise _refused("an upgrade request must be HTTP/1.1")
        if "websocket" not in _tokens(_header_value(headers, b"upgrade")):
            raise _refused("not a WebSocket upgrade (no 'Upgrade: websocket')", 426)
        if "upgrade" not in _tokens(_header_value(headers, b"connection")):
            raise _refused("not a WebSocket upgrade (no 'Connection: Upgrade')")
        if (_header_value(headers, b"sec-websocket-version") or "").strip() != "13":
            raise _refused("unsupported Sec-WebSocket-Version (13 expected)", 426)
        key = _header_value(headers, b"sec-websocket-key")
        if key is None or not _valid_key(key.encode("latin-1")):
            raise _refused("missing or malformed Sec-WebSocket-Key")
        self._key = key.strip().encode("latin-1")
        self.trailing_data = trailing
        self.request = UpgradeRequest(headers=headers, target=target)
        return self.request

    def accept(self, headers: Iterable[tuple[str | bytes, str | bytes]]) -> bytes:
        """The ``101`` reply (no extension, no subprotocol) with the caller's ``headers``."""
        extra = _extra_headers(headers)
        reply = (
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_token(self._key)),
            *extra,
        )
        return _response(101, reply)

    @staticmethod
    def reject(
        status: int, body: bytes | str, headers: Iterable[tuple[str | bytes, str | bytes]]
    ) -> bytes:
        """An error reply (status 400-599) that ends the connection."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise LocalProtocolError(f"a rejection status must be 400-599, got {status!r}")
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        extra = _extra_headers(headers, _REJECTION_HEADERS)
        reply = (*extra, (b"content-length", str(len(payload)).encode()), (b"connection", b"close"))
        return _response(status, reply, payload)
