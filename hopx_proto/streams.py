"""Streams: the WebSocket machine, one machine per stream endpoint, and server-sent events.

:class:`WebSocket` turns bytes into WebSocket events and back (client or server role, the
upgrade handshake over HTTP/1.1 included). Each stream machine (``ExecuteStreamClient``,
``TerminalServer``, ...) works one level up: JSON text in, typed events out; :data:`STREAMS`
holds every stream's rules by endpoint path. :class:`SSEParser` reads the template build log,
an ``text/event-stream`` body.
"""

from __future__ import annotations

from . import _sse, _streams, _ws
from ._sse import *
from ._streams import *
from ._ws import *

__all__: list[str] = []
__all__ += _ws.__all__
__all__ += _streams.__all__
__all__ += _sse.__all__
