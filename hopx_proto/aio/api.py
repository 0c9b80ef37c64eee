"""The names every adapter exports besides its ``AsyncSandbox`` and ``Client``: those of
``hopx_ai``'s public API (errors, result models), plus the client's settings.

``hopx_trio`` and ``hopx_asyncio`` re-export this list as it is, so both offer the same API and
a name is added in one place. The template builder's names are in a part few programs use:
its submodules load with the first access to one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import (
    AgentError as AgentError,
    APIError as APIError,
    AuthenticationError as AuthenticationError,
    CodeExecutionError as CodeExecutionError,
    CommandExecutionError as CommandExecutionError,
    DesktopNotAvailableError as DesktopNotAvailableError,
    FileNotFoundError as FileNotFoundError,
    FileOperationError as FileOperationError,
    HopxError as HopxError,
    LocalProtocolError as LocalProtocolError,
    NetworkError as NetworkError,
    NotFoundError as NotFoundError,
    ProtocolError as ProtocolError,
    RateLimitError as RateLimitError,
    RemoteProtocolError as RemoteProtocolError,
    ResourceLimitError as ResourceLimitError,
    SandboxExpiredError as SandboxExpiredError,
    SandboxKilledError as SandboxKilledError,
    SandboxNotRunningError as SandboxNotRunningError,
    ServerError as ServerError,
    StreamEndedError as StreamEndedError,
    TemplateBuildError as TemplateBuildError,
    TemplateBuildErrorMetadata as TemplateBuildErrorMetadata,
    TemplateNotFoundError as TemplateNotFoundError,
    TimeoutError as TimeoutError,
    TokenExpiredError as TokenExpiredError,
    ValidationError as ValidationError,
)
from .._models.agent import (
    CommandResult as CommandResult,
    ExecutionResult as ExecutionResult,
    RichOutput as RichOutput,
)
from .._models.control import (
    ExpiryInfo as ExpiryInfo,
    SandboxInfo as SandboxInfo,
    Template as SandboxTemplate,
    TemplateResources as TemplateResources,
)
from .._models.desktop import (
    DisplayInfo as DisplayInfo,
    RecordingInfo as RecordingInfo,
    VNCInfo as VNCInfo,
    WindowInfo as WindowInfo,
)
from .._models.files import FileInfo as FileInfo
from ._pool import PoolLimits as PoolLimits
from ._terminal import TerminalSession as TerminalSession
from ._transport import ProxyConfig as ProxyConfig

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
    from ._template import VM as VM, BuildResult as BuildResult


def __getattr__(name: str) -> object:
    """The template builder's names: its two submodules (the build's description and its
    flow) load with the first access to one of them (PEP 562)."""
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
    "APIError",
    "AWSRegistryAuth",
    "AgentError",
    "AuthenticationError",
    "BuildOptions",
    "BuildResult",
    "CodeExecutionError",
    "CommandExecutionError",
    "CommandResult",
    "CopyOptions",
    "CreateVMOptions",
    "DesktopNotAvailableError",
    "DisplayInfo",
    "ExecutionResult",
    "ExpiryInfo",
    "FileInfo",
    "FileNotFoundError",
    "FileOperationError",
    "GCPRegistryAuth",
    "HopxError",
    "LocalProtocolError",
    "LogEntry",
    "LogsResponse",
    "NetworkError",
    "NotFoundError",
    "PoolLimits",
    "ProtocolError",
    "ProxyConfig",
    "RateLimitError",
    "ReadyCheck",
    "ReadyCheckType",
    "RecordingInfo",
    "RegistryAuth",
    "RemoteProtocolError",
    "ResourceLimitError",
    "RichOutput",
    "SandboxExpiredError",
    "SandboxInfo",
    "SandboxKilledError",
    "SandboxNotRunningError",
    "SandboxTemplate",
    "ServerError",
    "StatusUpdate",
    "Step",
    "StepType",
    "StreamEndedError",
    "TemplateBuildError",
    "TemplateBuildErrorMetadata",
    "TemplateNotFoundError",
    "TemplateResources",
    "TerminalSession",
    "TimeoutError",
    "TokenExpiredError",
    "VM",
    "VNCInfo",
    "ValidationError",
    "WindowInfo",
    "wait_for_command",
    "wait_for_file",
    "wait_for_port",
    "wait_for_process",
    "wait_for_url",
]
