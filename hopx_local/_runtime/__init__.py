"""The part of the local emulator that really runs code: isolated sandboxes and their registry."""

from __future__ import annotations

from .errors import FAULT_STATUS as FAULT_STATUS, SandboxFault as SandboxFault
from .file_api import UploadWriter as UploadWriter
from .isolation import (
    IsolationMode as IsolationMode,
    isolation_warning as isolation_warning,
    resolve_isolation as resolve_isolation,
)
from .languages import available_languages as available_languages
from .limits import Limits as Limits, SandboxResources as SandboxResources
from .records import ExecOutcome as ExecOutcome, ProcessRecord as ProcessRecord
from .registry import Registry as Registry, SandboxRecord as SandboxRecord
from .sandbox import SandboxRuntime as SandboxRuntime
from .terminal import TerminalSession as TerminalSession

__all__ = [
    "FAULT_STATUS",
    "ExecOutcome",
    "IsolationMode",
    "Limits",
    "ProcessRecord",
    "Registry",
    "SandboxRecord",
    "SandboxFault",
    "SandboxResources",
    "SandboxRuntime",
    "TerminalSession",
    "UploadWriter",
    "available_languages",
    "isolation_warning",
    "resolve_isolation",
]
