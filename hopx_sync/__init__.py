"""The HOPX sandbox client for synchronous programs: ``from hopx_sync import Sandbox``.

A drop-in replacement for ``hopx_ai.Sandbox`` (same names, parameters and results), with the
API of :mod:`hopx_proto.aio` written once and driven here by :class:`BlockingBackend`, whose
operations complete without suspending. Streams are plain iterators and context managers.
Besides :class:`Sandbox`, its resources, :class:`Client` and :class:`BlockingBackend`, the
package exports the names of :mod:`hopx_proto.aio.api` (errors and result models).

Calling it from inside a running asyncio or trio loop raises
:class:`~hopx_proto.LocalProtocolError` naming ``hopx_asyncio``/``hopx_trio`` instead.
"""

from __future__ import annotations

from hopx_proto.aio import api
from hopx_proto.aio.api import *

from ._backend import BlockingBackend as BlockingBackend
from ._driver import BlockingStream as BlockingStream, SuspendedError as SuspendedError
from ._sandbox import (  # type: ignore[assignment]  # TerminalSession: the blocking one
    Cache as Cache,
    Client as Client,
    Commands as Commands,
    Desktop as Desktop,
    EnvironmentVariables as EnvironmentVariables,
    Files as Files,
    Sandbox as Sandbox,
    Terminal as Terminal,
    TerminalSession as TerminalSession,
)
from ._template import (  # the blocking BuildResult and VM
    VM as VM,
    BuildResult as BuildResult,
    Template as Template,
    create_template as create_template,
    get_logs as get_logs,
)

__all__ = [
    "BlockingBackend",
    "BlockingStream",
    "Cache",
    "Client",
    "Commands",
    "Desktop",
    "EnvironmentVariables",
    "Files",
    "Sandbox",
    "SuspendedError",
    "Terminal",
    "Template",
    "create_template",
    "get_logs",
]
__all__ += api.__all__
