"""The asynchronous client, written once against :class:`Backend` (no event-loop imports).

``hopx_trio`` and ``hopx_asyncio`` bind it to their event loop; a custom loop implements
:class:`Backend` and passes it to :class:`Client`.
"""

from __future__ import annotations

from .._models.control import ExpiryInfo as ExpiryInfo
from ._agent import Agent as Agent
from ._backend import (
    Backend as Backend,
    ByteStream as ByteStream,
    CancelScope as CancelScope,
    Deadline as Deadline,
    LockLike as LockLike,
)
from ._client import DEFAULT_BASE_URL as DEFAULT_BASE_URL, Client as Client
from ._commands import AsyncCommands as AsyncCommands
from ._desktop import AsyncDesktop as AsyncDesktop
from ._env import AsyncCache as AsyncCache, AsyncEnvironmentVariables as AsyncEnvironmentVariables
from ._files import AsyncFiles as AsyncFiles
from ._pool import ConnectionPool as ConnectionPool, PoolLimits as PoolLimits
from ._sandbox import AsyncSandbox as AsyncSandbox
from ._streaming import EventStream as EventStream
from ._template import (
    VM as VM,
    BuildResult as BuildResult,
    Template as Template,
    template_factory as template_factory,
)
from ._terminal import AsyncTerminal as AsyncTerminal, TerminalSession as TerminalSession
from ._transport import (
    HTTPTransport as HTTPTransport,
    ProxyConfig as ProxyConfig,
    Timeouts as Timeouts,
)
from ._websocket import WebSocketSession as WebSocketSession

__all__ = [
    "DEFAULT_BASE_URL",
    "Agent",
    "AsyncCache",
    "AsyncCommands",
    "AsyncDesktop",
    "AsyncEnvironmentVariables",
    "AsyncFiles",
    "AsyncSandbox",
    "AsyncTerminal",
    "Backend",
    "BuildResult",
    "ByteStream",
    "CancelScope",
    "Client",
    "ConnectionPool",
    "Deadline",
    "EventStream",
    "ExpiryInfo",
    "HTTPTransport",
    "LockLike",
    "PoolLimits",
    "ProxyConfig",
    "Template",
    "TerminalSession",
    "Timeouts",
    "VM",
    "WebSocketSession",
    "template_factory",
]
