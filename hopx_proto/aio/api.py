"""The names every adapter exports besides its ``AsyncSandbox`` and ``Client``: those of
``hopx_ai``'s public API (errors, result models), plus the client's settings.

``hopx_trio`` and ``hopx_asyncio`` re-export this list as it is, so both offer the same API and
a name is added in one place.
"""

from __future__ import annotations

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

__all__ = [
    "APIError",
    "AgentError",
    "AuthenticationError",
    "CodeExecutionError",
    "CommandExecutionError",
    "CommandResult",
    "DesktopNotAvailableError",
    "DisplayInfo",
    "ExecutionResult",
    "ExpiryInfo",
    "FileInfo",
    "FileNotFoundError",
    "FileOperationError",
    "HopxError",
    "LocalProtocolError",
    "NetworkError",
    "NotFoundError",
    "PoolLimits",
    "ProtocolError",
    "ProxyConfig",
    "RateLimitError",
    "RecordingInfo",
    "RemoteProtocolError",
    "ResourceLimitError",
    "RichOutput",
    "SandboxExpiredError",
    "SandboxInfo",
    "SandboxKilledError",
    "SandboxNotRunningError",
    "SandboxTemplate",
    "ServerError",
    "StreamEndedError",
    "TemplateBuildError",
    "TemplateNotFoundError",
    "TemplateResources",
    "TerminalSession",
    "TimeoutError",
    "TokenExpiredError",
    "VNCInfo",
    "ValidationError",
    "WindowInfo",
]
