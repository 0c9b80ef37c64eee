"""The asynchronous client, written once against :class:`Backend` (no event-loop imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .._models.control import ExpiryInfo as ExpiryInfo
from ._backend import Backend as Backend
from ._backend import ByteStream as ByteStream
from ._client import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client import Client as Client
from ._commands import AsyncCommands as AsyncCommands
from ._env import AsyncCache as AsyncCache
from ._env import AsyncEnvironmentVariables as AsyncEnvironmentVariables
from ._files import AsyncFiles as AsyncFiles
from ._pool import ConnectionPool as ConnectionPool
from ._pool import PoolLimits as PoolLimits
from ._sandbox import AsyncSandbox as AsyncSandbox
from ._streaming import EventStream as EventStream
from ._transport import HTTPTransport as HTTPTransport
from ._transport import ProxyConfig as ProxyConfig
from ._transport import Timeouts as Timeouts

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncCache",
    "AsyncCommands",
    "AsyncDesktop",
    "AsyncEnvironmentVariables",
    "AsyncFiles",
    "AsyncSandbox",
    "AsyncTerminal",
    "Backend",
    "ByteStream",
    "Client",
    "ConnectionPool",
    "EventStream",
    "ExpiryInfo",
    "HTTPTransport",
    "PoolLimits",
    "ProxyConfig",
    "TerminalSession",
    "Timeouts",
    "WebSocketSession",
]

if TYPE_CHECKING:
    from ._desktop import AsyncDesktop as AsyncDesktop
    from ._terminal import AsyncTerminal as AsyncTerminal
    from ._terminal import TerminalSession as TerminalSession
    from ._websocket import WebSocketSession as WebSocketSession

# Loaded on first use: the desktop, the terminal and the WebSocket session bring the stream
# machines and the desktop models with them.
_SOURCES = {
    "AsyncDesktop": ("._desktop", "AsyncDesktop"),
    "AsyncTerminal": ("._terminal", "AsyncTerminal"),
    "TerminalSession": ("._terminal", "TerminalSession"),
    "WebSocketSession": ("._websocket", "WebSocketSession"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES, __all__)
