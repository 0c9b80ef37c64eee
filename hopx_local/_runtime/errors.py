"""Typed failures of the sandbox runtime, carrying the agent's wire error code and status."""

from __future__ import annotations

from typing import Any

__all__ = ["FAULT_STATUS", "SandboxFault", "fault"]

#: The HTTP status that accompanies each agent error code the runtime raises.
FAULT_STATUS: dict[str, int] = {
    "INVALID_REQUEST": 400,
    "INVALID_PATH": 400,
    "PATH_NOT_ALLOWED": 403,
    "PERMISSION_DENIED": 403,
    "FILE_NOT_FOUND": 404,
    "DIRECTORY_NOT_FOUND": 404,
    "PROCESS_NOT_FOUND": 404,
    "FILE_ALREADY_EXISTS": 409,
    "SANDBOX_PAUSED": 409,
    "INTERNAL_ERROR": 500,
    "COMMAND_FAILED": 500,
    "EXECUTION_FAILED": 500,
    "FILE_OPERATION_FAILED": 500,
}


class SandboxFault(Exception):
    """A request the sandbox refuses or cannot carry out.

    ``code`` is the agent error code sent on the wire (``FILE_NOT_FOUND``...), ``status`` the HTTP
    status of the error reply, ``path`` the sandbox path involved (file operations) and
    ``details`` extra machine-readable facts for the error body.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        path: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.path = path
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"SandboxFault({self.code!r}, {self.message!r}, {self.status!r}, path={self.path!r})"


def fault(
    code: str, message: str, *, path: str | None = None, details: dict[str, Any] | None = None
) -> SandboxFault:
    """Build a :class:`SandboxFault` whose status comes from :data:`FAULT_STATUS`."""
    return SandboxFault(code, message, FAULT_STATUS.get(code, 500), path=path, details=details)
