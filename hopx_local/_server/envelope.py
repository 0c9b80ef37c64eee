"""Error replies in each plane's own envelope, and the exception handlers raise to get one.

Control plane: ``{"error": {"code", "message", "request_id", "details"}, "code", "message",
"request_id"}`` (the nested form the official Python client reads, the top-level ``code`` the
JS one reads). Agent: ``{"error": "<message>", "code": "UPPER_CASE", "path"?, "details",
"request_id", "timestamp"}``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from hopx_proto import Response
from hopx_proto.wire import dumps

from .text import sendable

__all__ = [
    "AGENT_CODES",
    "CONTROL_CODES",
    "Problem",
    "agent_error",
    "control_error",
    "json_response",
    "utc_now_text",
]

_JSON = (b"content-type", b"application/json")

#: Default control-plane code per status.
CONTROL_CODES: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_supported",
    503: "service_unavailable",
}

#: Default agent code per status.
AGENT_CODES: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "TOKEN_INVALID",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "REQUEST_TOO_LARGE",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_SUPPORTED",
    503: "SERVICE_UNAVAILABLE",
}


class Problem(Exception):
    """Raised by a handler to answer with an error in the plane's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        path: str | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details or {}
        self.path = path
        self.headers = headers


def utc_now_text() -> str:
    """Now as RFC 3339 with ``Z`` and whole seconds."""
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


def json_response(status: int, doc: Any, *headers: tuple[bytes, bytes]) -> Response:
    """A JSON response."""
    return Response(status, (_JSON, *headers), dumps(doc))


def control_error(
    status: int,
    message: str,
    *,
    request_id: str,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Response:
    """A control-plane error reply."""
    code = code or CONTROL_CODES.get(status, "error")
    message, details = sendable(message), sendable(details)
    doc = {
        "error": {
            "code": code,
            "message": message,
            "request_id": request_id,
            "details": details or {},
        },
        "code": code,
        "message": message,
        "request_id": request_id,
    }
    return json_response(status, doc, *headers)


def agent_error(
    status: int,
    message: str,
    *,
    request_id: str,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    path: str | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Response:
    """An agent error reply (``main.ErrorResponse``)."""
    message, details, path = sendable(message), sendable(details), sendable(path)
    doc: dict[str, Any] = {
        "error": message,
        "code": code or AGENT_CODES.get(status, "INTERNAL_ERROR"),
    }
    if path is not None:
        doc["path"] = path
    doc["details"] = details or {}
    doc["request_id"] = request_id
    doc["timestamp"] = utc_now_text()
    return json_response(status, doc, *headers)
