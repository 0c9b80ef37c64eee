"""The exception tree, and the pure functions that turn an HTTP error reply into one of it.

Class names match the official ``hopx_ai.errors`` module so that ``except`` clauses carry over.
Every error carries the HTTP status, the service's error code, the request id, the operation
that failed and, where known, the sandbox id.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple, TypeAlias

__all__ = [
    "APIError",
    "AgentError",
    "AuthenticationError",
    "CodeExecutionError",
    "CommandExecutionError",
    "DesktopNotAvailableError",
    "FileNotFoundError",
    "FileOperationError",
    "HopxError",
    "LocalProtocolError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitError",
    "RemoteErrorKind",
    "RemoteProtocolError",
    "ResourceLimitError",
    "SandboxExpiredError",
    "SandboxKilledError",
    "SandboxNotRunningError",
    "ServerError",
    "StreamEndedError",
    "TemplateBuildError",
    "TemplateNotFoundError",
    "TimeoutError",
    "TokenExpiredError",
    "ValidationError",
    "error_from_agent_response",
    "error_from_control_response",
]

_EXCERPT = 200


def excerpt(body: bytes | str, limit: int = _EXCERPT) -> str:
    """A short, printable excerpt of a body for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


class HopxError(Exception):
    """Base class of every error this library raises."""

    default_code: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        request_id: str | None = None,
        status_code: int | None = None,
        details: Mapping[str, Any] | None = None,
        operation: str | None = None,
        sandbox_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.request_id = request_id
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})
        self.operation = operation
        self.sandbox_id = sandbox_id

    def __str__(self) -> str:
        parts = []
        if self.operation:
            where = f" on sandbox {self.sandbox_id}" if self.sandbox_id else ""
            parts.append(f"{self.operation}{where}:")
        elif self.sandbox_id:
            parts.append(f"sandbox {self.sandbox_id}:")
        parts.append(self.message or type(self).__name__)
        if self.status_code is not None:
            parts.append(f"(HTTP {self.status_code})")
        if self.code:
            parts.append(f"(code: {self.code})")
        if self.request_id:
            parts.append(f"[request_id: {self.request_id}]")
        return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Wire-level errors


class ProtocolError(HopxError):
    """A violation of the wire protocol, by us (local) or by the peer (remote)."""

    def __init__(
        self,
        message: str = "",
        *,
        status_hint: int = 400,
        close_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        #: For a server: the HTTP status to answer a bad request with.
        self.status_hint = status_hint
        #: For a WebSocket: the close code to send back to the peer.
        self.close_code = close_code


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to send something invalid; nothing was produced."""


#: What was wrong with what the peer sent, for a server that answers with an error code:
#: the body is not JSON; a required field or parameter is absent; a field is not one the
#: operation takes; a value has the wrong type or is refused; the body's framing is broken.
RemoteErrorKind: TypeAlias = Literal[
    "invalid_json", "missing_field", "unknown_field", "invalid_value", "malformed_body"
]


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid: bad framing, bad JSON, a missing or mistyped field.

    ``kind`` says which, where the parser knows (see :data:`RemoteErrorKind`); ``None`` when
    it does not. It is never part of the message.
    """

    def __init__(
        self, message: str = "", *, kind: RemoteErrorKind | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.kind: RemoteErrorKind | None = kind


class StreamEndedError(RemoteProtocolError):
    """A stream ended before its final message (``complete``, ``exit``)."""


# ---------------------------------------------------------------------------------------------
# API errors (control plane, and status-based agent errors)


class APIError(HopxError):
    """The service answered with an error status."""


class AuthenticationError(APIError):
    """Missing, wrong or expired credentials (HTTP 401)."""


class TokenExpiredError(AuthenticationError):
    """The sandbox JWT has expired."""

    default_code = "token_expired"


class NotFoundError(APIError):
    """The resource does not exist (HTTP 404)."""


class SandboxKilledError(NotFoundError):
    """This sandbox object's :meth:`kill` already deleted the sandbox, so nothing can be
    asked of it (raised before any request is sent).

    A :class:`NotFoundError`, as the service's reply would be, so that ``except
    NotFoundError`` written for the official client catches it.
    """

    default_code = "sandbox_killed"

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        if not message:
            sandbox = kwargs.get("sandbox_id") or "?"
            message = f"sandbox {sandbox} was killed with kill(); create a new sandbox to go on"
        super().__init__(message, **kwargs)


class TemplateNotFoundError(NotFoundError):
    """No template of that name; carries the names that do exist."""

    default_code = "template_not_found"

    def __init__(
        self,
        message: str = "",
        *,
        template_name: str | None = None,
        available_templates: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        self.template_name = template_name
        self.available_templates = list(available_templates)
        self.suggested_template = _closest(template_name, self.available_templates)
        if not message:
            message = f"Template {template_name!r} not found"
            if self.available_templates:
                message += ". Available templates: " + ", ".join(self.available_templates[:5])
            if self.suggested_template:
                message += f". Did you mean {self.suggested_template!r}?"
        super().__init__(message, **kwargs)


def _closest(name: str | None, candidates: list[str]) -> str | None:
    if not name:
        return None
    import difflib  # here: only a mistyped field name in an error reply needs it

    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


class ValidationError(APIError):
    """The request was rejected as invalid (HTTP 400)."""

    def __init__(self, message: str = "", *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class RateLimitError(APIError):
    """Too many requests (HTTP 429); ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ResourceLimitError(APIError):
    """An account quota was reached (HTTP 403 mentioning a limit)."""

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = self.details.get("limit")
        self.current = self.details.get("current")
        self.available = self.details.get("available")
        self.upgrade_url = self.details.get("upgrade_url")


class ServerError(APIError):
    """The service failed (HTTP 5xx)."""


# ---------------------------------------------------------------------------------------------
# Transport errors


class NetworkError(HopxError):
    """The connection failed: refused, reset, closed early, TLS failure, bad address."""

    def __init__(self, message: str = "", *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: False when the request certainly never reached the server (safe to retry anything).
        self.request_sent = request_sent


class TimeoutError(NetworkError, builtins.TimeoutError):
    """A deadline passed (connect, read or the whole call)."""


# ---------------------------------------------------------------------------------------------
# Agent errors


class AgentError(HopxError):
    """The sandbox agent answered with an error."""


class FileNotFoundError(AgentError):
    """No file at that path inside the sandbox."""

    default_code = "file_not_found"

    def __init__(self, message: str = "File not found", *, path: str | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.path = path


class FileOperationError(AgentError):
    """A file operation was refused or failed (bad path, path outside the sandbox, ...)."""

    default_code = "file_operation_failed"

    def __init__(
        self,
        message: str = "File operation failed",
        *,
        operation: str | None = None,
        path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, operation=operation, **kwargs)
        self.path = path


class CodeExecutionError(AgentError):
    """Code could not be run (failed to start, timed out)."""

    default_code = "code_execution_failed"

    def __init__(
        self, message: str = "Code execution failed", *, language: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.language = language


class CommandExecutionError(AgentError):
    """A command could not be run."""

    default_code = "command_execution_failed"

    def __init__(
        self,
        message: str = "Command execution failed",
        *,
        command: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.command = command


class DesktopNotAvailableError(AgentError):
    """The sandbox's template has no desktop environment."""

    default_code = "desktop_not_available"
    docs_url = "https://docs.hopx.ai/desktop-automation"

    def __init__(
        self,
        message: str = "Desktop automation is not available in this sandbox",
        *,
        missing_dependencies: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.missing_dependencies = list(missing_dependencies)
        self.install_command = (
            "apt-get install -y " + " ".join(self.missing_dependencies)
            if self.missing_dependencies
            else None
        )


class SandboxNotRunningError(AgentError):
    """The sandbox is paused, stopped or still being created, so it cannot do this now."""


class SandboxExpiredError(HopxError):
    """The sandbox has passed its ``expires_at`` and is gone."""

    default_code = "sandbox_expired"

    def __init__(
        self,
        message: str = "Sandbox has expired",
        *,
        expires_at: str | None = None,
        created_at: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.expires_at = expires_at
        self.created_at = created_at


@dataclasses.dataclass
class TemplateBuildErrorMetadata:
    """Where a failed template build stood (``hopx_ai.TemplateBuildErrorMetadata``).

    Attributes:
        build_id: the build's id.
        template_id: the template's id.
        build_status: the build's last status (``"failed"``, ...).
        logs_url: where the service keeps the build's log.
        error_details: the error lines of the log, or the service's error message.
    """

    build_id: str | None = None
    template_id: str | None = None
    build_status: str | None = None
    logs_url: str | None = None
    error_details: str | None = None


class TemplateBuildError(HopxError):
    """A template build failed (or cannot be done here).

    Args:
        message: what went wrong.
        metadata: the build's ids, status, log URL and error details; its fields are also
            attributes of the error (``build_id``, ``template_id``, ``build_status``,
            ``logs_url``, ``error_details``).
        build_id: the build's id, when no ``metadata`` says it.
        template_id: the template's id, when no ``metadata`` says it.
        logs: the build's log lines up to the failure (empty when unknown).
        kwargs: the fields of :class:`HopxError` (``code``, ``request_id``, ...).
    """

    default_code = "template_build_failed"

    def __init__(
        self,
        message: str = "Template build failed",
        metadata: TemplateBuildErrorMetadata | None = None,
        *,
        build_id: str | None = None,
        template_id: str | None = None,
        logs: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        if metadata is None:
            metadata = TemplateBuildErrorMetadata(build_id=build_id, template_id=template_id)
        self.metadata = metadata
        self.build_id = metadata.build_id
        self.template_id = metadata.template_id
        self.build_status = metadata.build_status
        self.logs_url = metadata.logs_url
        self.error_details = metadata.error_details
        #: The build's log lines up to the failure.
        self.logs: builtins.list[str] = builtins.list(logs)

    def __str__(self) -> str:
        text = super().__str__()
        if self.build_id:
            text += f" (build_id: {self.build_id})"
        if self.logs_url:
            text += f"\nLogs: {self.logs_url}"
        return text


# ---------------------------------------------------------------------------------------------
# Status/body -> exception


Headers = Iterable[tuple[bytes, bytes]]


def _header(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _retry_after_header(headers: Headers) -> float | None:
    raw = _header(headers, b"retry-after")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None  # HTTP-date form: the caller's clock is needed; RetryPolicy handles it
    return value if value >= 0 and value == value and value != float("inf") else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if 0 <= number < float("inf") else None


class _Reply:
    """What an error reply says, read once from its status, headers and body; ``key`` is the
    code in upper case (``""`` when there is none), what the tables match."""

    __slots__ = ("body", "code", "details", "headers", "key", "message", "path", "raw", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        message: str,
        code: str | None,
        details: dict[str, Any],
        *,
        path: str | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.message, self.code, self.details = message, code, details
        self.path, self.raw = path, raw
        self.key = code.upper() if code else ""


_Extras = Callable[[_Reply], dict[str, Any]]


def _nothing(_reply: _Reply) -> dict[str, Any]:
    return {}


def _retry_after(reply: _Reply) -> dict[str, Any]:
    retry_after = _number(reply.details.get("retry_after_seconds"))
    if retry_after is None:
        retry_after = _retry_after_header(reply.headers)
    return {"retry_after": retry_after}


def _expiry(reply: _Reply) -> dict[str, Any]:
    return {
        "expires_at": _str_or_none(reply.details.get("expires_at")),
        "created_at": _str_or_none(reply.details.get("created_at")),
    }


def _path(reply: _Reply) -> dict[str, Any]:
    return {"path": reply.path}


def _missing_dependencies(reply: _Reply) -> dict[str, Any]:
    missing = reply.details.get("missing_dependencies")
    if reply.raw is not None and missing is None:
        missing = reply.raw.get("missing_dependencies")
    return {"missing_dependencies": [str(d) for d in missing] if isinstance(missing, list) else []}


def _unexpected(reply: _Reply) -> dict[str, Any]:
    return {"message": f"unexpected HTTP status {reply.status}: {excerpt(reply.body)}"}


class _Rule(NamedTuple):
    """One row of an error table: when it ``matches`` a reply, raise ``error`` with the
    keyword arguments ``extras`` adds (``message`` among them replaces the reply's)."""

    matches: Callable[[_Reply], bool]
    error: type[HopxError]
    extras: _Extras = _nothing


def _status(*statuses: int) -> Callable[[_Reply], bool]:
    return lambda reply: reply.status in statuses


def _code(*codes: str) -> Callable[[_Reply], bool]:
    return lambda reply: reply.key in codes


def _server_failure(reply: _Reply) -> bool:
    return reply.status >= 500


def _not_an_error(reply: _Reply) -> bool:
    return reply.status < 400


def _anything(_reply: _Reply) -> bool:
    return True


#: The control plane: the first row that matches a reply makes its error.
CONTROL_ERRORS: tuple[_Rule, ...] = (
    _Rule(lambda r: r.status == 410 or r.key == "SANDBOX_EXPIRED", SandboxExpiredError, _expiry),
    _Rule(
        lambda r: r.status == 401 and r.key in ("TOKEN_EXPIRED", "JWT_EXPIRED"), TokenExpiredError
    ),
    _Rule(lambda r: r.status == 403 and "limit" in r.message.lower(), ResourceLimitError),
    _Rule(_status(400, 422), ValidationError),
    _Rule(_status(401), AuthenticationError),
    _Rule(_status(404), NotFoundError),
    _Rule(_status(429), RateLimitError, _retry_after),
    _Rule(_server_failure, ServerError),
    _Rule(_not_an_error, RemoteProtocolError, _unexpected),
    _Rule(_anything, APIError),
)

#: The agent: codes first, where the agent names one, then the status.
AGENT_ERRORS: tuple[_Rule, ...] = (
    _Rule(_code("TOKEN_EXPIRED"), TokenExpiredError),
    _Rule(
        lambda r: r.key in ("TOKEN_INVALID", "INVALID_TOKEN", "UNAUTHORIZED") or r.status == 401,
        AuthenticationError,
    ),
    _Rule(lambda r: r.key == "SANDBOX_EXPIRED" or r.status == 410, SandboxExpiredError),
    _Rule(_code("FILE_NOT_FOUND"), FileNotFoundError, _path),
    _Rule(
        _code(
            "DIRECTORY_NOT_FOUND",
            "PATH_NOT_ALLOWED",
            "PERMISSION_DENIED",
            "INVALID_PATH",
            "FILE_ALREADY_EXISTS",
            "FILE_OPERATION_FAILED",
        ),
        FileOperationError,
        _path,
    ),
    _Rule(_code("EXECUTION_FAILED", "EXECUTION_TIMEOUT"), CodeExecutionError),
    _Rule(_code("COMMAND_FAILED"), CommandExecutionError),
    _Rule(_code("DESKTOP_NOT_AVAILABLE"), DesktopNotAvailableError, _missing_dependencies),
    _Rule(_code("SANDBOX_PAUSED", "SANDBOX_STOPPED", "SANDBOX_CREATING"), SandboxNotRunningError),
    _Rule(_status(429), RateLimitError, _retry_after),
    _Rule(_server_failure, ServerError),
    _Rule(
        lambda r: r.status == 404 and r.path is not None and r.code is None,
        FileNotFoundError,
        _path,
    ),
    _Rule(_not_an_error, RemoteProtocolError, _unexpected),
    _Rule(_anything, AgentError),
)


def _raise_from(
    table: tuple[_Rule, ...],
    reply: _Reply,
    request_id: str | None,
    operation: str | None,
    sandbox_id: str | None,
) -> HopxError:
    rule = next(rule for rule in table if rule.matches(reply))
    kwargs: dict[str, Any] = {
        "message": reply.message,
        "code": reply.code,
        "request_id": request_id,
        "status_code": reply.status,
        "details": reply.details,
        "operation": operation,
        "sandbox_id": sandbox_id,
    }
    kwargs.update(rule.extras(reply))
    message = kwargs.pop("message")
    return rule.error(message, **kwargs)


def error_from_control_response(
    status: int,
    headers: Headers,
    body: bytes,
    *,
    operation: str | None = None,
    sandbox_id: str | None = None,
) -> HopxError:
    """Map a control-plane error reply, for any integer status and any body, to an exception.

    Reads the nested envelope ``{"error": {"code", "message", "request_id", "details"}}``, the
    flat forms ``{"error": "...", "code": ...}`` and ``{"message": ...}``, and falls back to the
    ``X-Request-ID`` header and a body excerpt. The class comes from :data:`CONTROL_ERRORS`.

    Args:
        status: the reply's HTTP status (any integer).
        headers: the reply's headers.
        body: the reply's body (any bytes).
        operation: the name of the operation that failed, carried by the error.
        sandbox_id: the sandbox concerned, carried by the error.

    Returns:
        The exception to raise (a :class:`RemoteProtocolError` for a status below 400).
    """
    headers = tuple(headers)
    obj = _json_object(body)
    message: str | None = None
    code: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = {}
    if obj is not None:
        err = obj.get("error")
        if isinstance(err, dict):
            message = _str_or_none(err.get("message"))
            code = _str_or_none(err.get("code"))
            request_id = _str_or_none(err.get("request_id"))
            raw_details = err.get("details")
            if isinstance(raw_details, dict):
                details = raw_details
        elif isinstance(err, str):
            message = err
        if message is None:
            message = _str_or_none(obj.get("message"))
        code = code or _str_or_none(obj.get("code"))
        request_id = request_id or _str_or_none(obj.get("request_id"))
        if not details and isinstance(obj.get("details"), dict):
            details = obj["details"]
    request_id = request_id or _header(headers, b"x-request-id")
    if message is None:
        message = excerpt(body) if body else f"HTTP {status}"
    reply = _Reply(status, headers, body, message, code, details, raw=obj)
    return _raise_from(CONTROL_ERRORS, reply, request_id, operation, sandbox_id)


def error_from_agent_response(
    status: int,
    headers: Headers,
    body: bytes,
    *,
    operation: str | None = None,
    sandbox_id: str | None = None,
    path: str | None = None,
) -> HopxError:
    """Map an agent error reply, for any integer status and any body, to an exception.

    The agent envelope is flat: ``{"error": "<message>", "code": "FILE_NOT_FOUND", "path",
    "details", "request_id", "timestamp"}``; ``message`` is read too. The class comes from
    :data:`AGENT_ERRORS`: codes where the agent names a known one, otherwise the status. A
    reply in the control plane's nested envelope (some proxies in front of the agent send
    one) is read as a control-plane reply.

    Args:
        status: the reply's HTTP status (any integer).
        headers: the reply's headers.
        body: the reply's body (any bytes).
        operation: the name of the operation that failed, carried by the error.
        sandbox_id: the sandbox concerned, carried by the error.
        path: the sandbox path the request named (a ``path`` in the body wins).

    Returns:
        The exception to raise (a :class:`RemoteProtocolError` for a status below 400).
    """
    headers = tuple(headers)
    obj = _json_object(body)
    message: str | None = None
    code: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = {}
    if obj is not None:
        err = obj.get("error")
        if isinstance(err, str):
            message = err
        elif isinstance(err, dict):
            return error_from_control_response(
                status, headers, body, operation=operation, sandbox_id=sandbox_id
            )
        if message is None:
            message = _str_or_none(obj.get("message"))
        code = _str_or_none(obj.get("code"))
        request_id = _str_or_none(obj.get("request_id"))
        if isinstance(obj.get("details"), dict):
            details = obj["details"]
        body_path = obj.get("path")
        if isinstance(body_path, str) and body_path:
            path = body_path
    request_id = request_id or _header(headers, b"x-request-id")
    if message is None:
        message = excerpt(body) if body else f"HTTP {status}"
    reply = _Reply(status, headers, body, message, code, details, path=path, raw=obj)
    return _raise_from(AGENT_ERRORS, reply, request_id, operation, sandbox_id)
