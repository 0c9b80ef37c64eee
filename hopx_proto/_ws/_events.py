"""What a :class:`~hopx_proto._ws.WebSocket` reports: its states and the events it returns."""

from __future__ import annotations

import enum
from typing import TypeAlias

import attrs

from .._http import Headers, _HeaderLookup
from .._value import Value

__all__ = [
    "Accepted",
    "BinaryMessage",
    "CloseReceived",
    "Ping",
    "Pong",
    "TextMessage",
    "UpgradeRequest",
    "WSEvent",
    "WebSocketState",
]


class WebSocketState(enum.Enum):
    """Where a :class:`WebSocket` is in its life."""

    CONNECTING = "CONNECTING"  #: the opening handshake is not finished
    OPEN = "OPEN"  #: messages flow both ways
    CLOSING = "CLOSING"  #: we sent a close frame and wait for the peer's
    CLOSED = "CLOSED"  #: both close frames were exchanged, the handshake was refused, or EOF
    ERROR = "ERROR"  #: a protocol error happened; the connection must be dropped


@attrs.frozen(repr=False, eq=False)
class Accepted(_HeaderLookup, Value):
    """Client side: the server accepted the upgrade (its ``101`` reply headers)."""

    headers: Headers


@attrs.frozen(repr=False, eq=False)
class UpgradeRequest(_HeaderLookup, Value):
    """Server side: a valid WebSocket upgrade request; answer with ``accept`` or ``reject``."""

    headers: Headers
    target: str

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


@attrs.frozen(repr=False, eq=False)
class TextMessage(Value):
    """A whole text message (fragments already joined)."""

    text: str


@attrs.frozen(repr=False, eq=False)
class BinaryMessage(Value):
    """A whole binary message (fragments already joined)."""

    data: bytes


@attrs.frozen(repr=False, eq=False)
class Ping(Value):
    """The peer pinged; the pong is already queued in :meth:`WebSocket.data_to_send`."""

    payload: bytes = b""


@attrs.frozen(repr=False, eq=False)
class Pong(Value):
    """The peer answered a ping (or sent an unsolicited pong)."""

    payload: bytes = b""


@attrs.frozen(repr=False, eq=False)
class CloseReceived(Value):
    """The conversation is over: the peer's close frame (answered already), or EOF (1006).

    ``code`` is 1005 when the peer's close frame carried no code.
    """

    code: int
    reason: str = ""


WSEvent: TypeAlias = (
    Accepted | UpgradeRequest | TextMessage | BinaryMessage | Ping | Pong | CloseReceived
)
