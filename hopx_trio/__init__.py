"""The HOPX sandbox client for trio programs: ``from hopx_trio import AsyncSandbox``.

The API is ``hopx_ai.AsyncSandbox``'s (same names, parameters and results), running on
trio (natively).
"""

from __future__ import annotations

import importlib.util as _importlib_util

if _importlib_util.find_spec("trio") is None:
    raise ModuleNotFoundError(
        "hopx_trio runs on trio, which is not installed: pip install 'hopx-sansio[trio]'",
        name="trio",
    )

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hopx_proto import aio as _aio
from hopx_proto._errors import AgentError as AgentError
from hopx_proto._errors import APIError as APIError
from hopx_proto._errors import AuthenticationError as AuthenticationError
from hopx_proto._errors import CodeExecutionError as CodeExecutionError
from hopx_proto._errors import CommandExecutionError as CommandExecutionError
from hopx_proto._errors import DesktopNotAvailableError as DesktopNotAvailableError
from hopx_proto._errors import FileNotFoundError as FileNotFoundError
from hopx_proto._errors import FileOperationError as FileOperationError
from hopx_proto._errors import HopxError as HopxError
from hopx_proto._errors import LocalProtocolError as LocalProtocolError
from hopx_proto._errors import NetworkError as NetworkError
from hopx_proto._errors import NotFoundError as NotFoundError
from hopx_proto._errors import ProtocolError as ProtocolError
from hopx_proto._errors import RateLimitError as RateLimitError
from hopx_proto._errors import RemoteProtocolError as RemoteProtocolError
from hopx_proto._errors import ResourceLimitError as ResourceLimitError
from hopx_proto._errors import SandboxExpiredError as SandboxExpiredError
from hopx_proto._errors import SandboxNotRunningError as SandboxNotRunningError
from hopx_proto._errors import ServerError as ServerError
from hopx_proto._errors import StreamEndedError as StreamEndedError
from hopx_proto._errors import TemplateBuildError as TemplateBuildError
from hopx_proto._errors import TemplateNotFoundError as TemplateNotFoundError
from hopx_proto._errors import TimeoutError as TimeoutError
from hopx_proto._errors import TokenExpiredError as TokenExpiredError
from hopx_proto._errors import ValidationError as ValidationError
from hopx_proto._lazy import lazy_exports
from hopx_proto._models.agent import CommandResult as CommandResult
from hopx_proto._models.agent import ExecutionResult as ExecutionResult
from hopx_proto._models.agent import RichOutput as RichOutput
from hopx_proto._models.control import SandboxInfo as SandboxInfo
from hopx_proto._models.control import Template as SandboxTemplate
from hopx_proto._models.control import TemplateResources as TemplateResources
from hopx_proto._models.files import FileInfo as FileInfo
from hopx_proto.aio import ExpiryInfo as ExpiryInfo
from hopx_proto.aio import PoolLimits as PoolLimits
from hopx_proto.aio import ProxyConfig as ProxyConfig

from ._backend import TrioBackend as TrioBackend

__all__ = [
    "APIError",
    "AgentError",
    "AsyncSandbox",
    "AuthenticationError",
    "Client",
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
    "TrioBackend",
    "VNCInfo",
    "ValidationError",
    "WindowInfo",
]


class Client(_aio.Client):
    """Credentials and one connection pool, to share between sandboxes (``client=``).

    Takes the keyword arguments of :class:`hopx_proto.aio.Client`, plus ``environ`` (the
    mapping read for ``HOPX_API_KEY``, ``HOPX_BASE_URL`` and proxies; ``os.environ``).
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(TrioBackend(environ), **kwargs)


class AsyncSandbox(_aio.AsyncSandbox):
    """A HOPX sandbox; see :class:`hopx_proto.aio.AsyncSandbox`."""

    _backend_factory: ClassVar[Any] = TrioBackend


if TYPE_CHECKING:
    from hopx_proto._models.desktop import DisplayInfo as DisplayInfo
    from hopx_proto._models.desktop import RecordingInfo as RecordingInfo
    from hopx_proto._models.desktop import VNCInfo as VNCInfo
    from hopx_proto._models.desktop import WindowInfo as WindowInfo
    from hopx_proto.aio import TerminalSession as TerminalSession

# Loaded on first use, with the desktop and terminal code they belong to.
_SOURCES = {
    "DisplayInfo": ("hopx_proto._models.desktop", "DisplayInfo"),
    "RecordingInfo": ("hopx_proto._models.desktop", "RecordingInfo"),
    "VNCInfo": ("hopx_proto._models.desktop", "VNCInfo"),
    "WindowInfo": ("hopx_proto._models.desktop", "WindowInfo"),
    "TerminalSession": ("hopx_proto.aio", "TerminalSession"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES, __all__)
