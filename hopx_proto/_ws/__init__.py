"""The WebSocket machine (RFC 6455), client and server role: bytes in, events out.

:class:`WebSocket` is the machine (``_connection``); its events are in ``_events``, the opening
handshake over h11 in ``_handshake`` and the wire format of frames in ``_frames``. No h11 type
appears in this package's public surface.
"""

from __future__ import annotations

from ._connection import DEFAULT_MAX_MESSAGE_SIZE, WebSocket
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
