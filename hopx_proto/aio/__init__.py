"""The asynchronous client, written once against :class:`Backend` (no event-loop imports).

``hopx_trio`` and ``hopx_asyncio`` bind it to their event loop; a custom loop implements
:class:`Backend` and passes it to :class:`Client`.

:class:`AsyncDesktop` lives in a submodule few programs use, loaded by the first read of
``AsyncSandbox.desktop`` or of this package's ``AsyncDesktop``; so does
:class:`WebSocketSession` with the WebSocket layer under it, loaded by the first stream opened
or the first read of this package's ``WebSocketSession``; and the template builder
(:class:`Template` and the names of a build's description), by the first read of one of its
names here or in :mod:`hopx_proto.aio.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import TemplateBuildErrorMetadata as TemplateBuildErrorMetadata
from .._models.control import ExpiryInfo as ExpiryInfo
from ._adapter import adapter_package as adapter_package
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
from ._env import AsyncCache as AsyncCache, AsyncEnvironmentVariables as AsyncEnvironmentVariables
from ._files import AsyncFiles as AsyncFiles
from ._pool import ConnectionPool as ConnectionPool, PoolLimits as PoolLimits
from ._sandbox import AsyncSandbox as AsyncSandbox
from ._streaming import EventStream as EventStream
from ._terminal import AsyncTerminal as AsyncTerminal, TerminalSession as TerminalSession
from ._transport import (
    HTTPTransport as HTTPTransport,
    ProxyConfig as ProxyConfig,
    Timeouts as Timeouts,
)

if TYPE_CHECKING:
    from .._template import (
        AWSRegistryAuth as AWSRegistryAuth,
        BuildOptions as BuildOptions,
        CopyOptions as CopyOptions,
        CreateVMOptions as CreateVMOptions,
        GCPRegistryAuth as GCPRegistryAuth,
        LogEntry as LogEntry,
        LogsResponse as LogsResponse,
        ReadyCheck as ReadyCheck,
        ReadyCheckType as ReadyCheckType,
        RegistryAuth as RegistryAuth,
        StatusUpdate as StatusUpdate,
        Step as Step,
        StepType as StepType,
        wait_for_command as wait_for_command,
        wait_for_file as wait_for_file,
        wait_for_port as wait_for_port,
        wait_for_process as wait_for_process,
        wait_for_url as wait_for_url,
    )
    from ._desktop import AsyncDesktop as AsyncDesktop
    from ._template import (
        VM as VM,
        BuildResult as BuildResult,
        Template as Template,
        template_factory as template_factory,
    )
    from ._websocket import WebSocketSession as WebSocketSession


def __getattr__(name: str) -> object:
    """``AsyncDesktop``, ``WebSocketSession`` and the template builder's names: each one's
    submodule loads on first use (PEP 562)."""
    if name == "AsyncDesktop":
        from ._desktop import AsyncDesktop

        globals()[name] = AsyncDesktop
        return AsyncDesktop
    if name == "WebSocketSession":
        from ._websocket import WebSocketSession

        globals()[name] = WebSocketSession
        return WebSocketSession
    if name in __all__:
        from .. import _template as description
        from . import _template as flow

        for module in (flow, description):
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AWSRegistryAuth",
    "Agent",
    "AsyncCache",
    "AsyncCommands",
    "AsyncDesktop",
    "AsyncEnvironmentVariables",
    "AsyncFiles",
    "AsyncSandbox",
    "AsyncTerminal",
    "Backend",
    "BuildOptions",
    "BuildResult",
    "ByteStream",
    "CancelScope",
    "Client",
    "ConnectionPool",
    "CopyOptions",
    "CreateVMOptions",
    "DEFAULT_BASE_URL",
    "Deadline",
    "EventStream",
    "ExpiryInfo",
    "GCPRegistryAuth",
    "HTTPTransport",
    "LockLike",
    "LogEntry",
    "LogsResponse",
    "PoolLimits",
    "ProxyConfig",
    "ReadyCheck",
    "ReadyCheckType",
    "RegistryAuth",
    "StatusUpdate",
    "Step",
    "StepType",
    "Template",
    "TemplateBuildErrorMetadata",
    "TerminalSession",
    "Timeouts",
    "VM",
    "WebSocketSession",
    "adapter_package",
    "template_factory",
    "wait_for_command",
    "wait_for_file",
    "wait_for_port",
    "wait_for_process",
    "wait_for_url",
]
