"""The control plane: ``/v1/sandboxes``, ``/v1/templates`` and ``/health`` on one port.

Requests are parsed by the shared operations (``Operation.parse``), answered by the fleet of
sandboxes, and rendered by the same operations; errors use the control-plane envelope.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from hopx_proto import (
    Auth,
    Operation,
    Plane,
    RemoteErrorKind,
    RemoteProtocolError,
    Request,
    Response,
    allowed_methods,
    route,
)

from .connection import Exchange
from .envelope import Problem, control_error
from .fleet import Fleet

__all__ = ["ControlPlane"]

Handler = Callable[[Any], Awaitable[Any]]

_NOT_LOCAL = (
    "Template builds are not supported by the local emulator: it runs the built-in templates "
    "(see GET /v1/templates) on this machine"
)


#: The control plane's error code for a request it could not parse, by what was wrong with it.
PARSE_ERROR_CODES: dict[RemoteErrorKind | None, str] = {
    "invalid_json": "invalid_json",
    "missing_field": "missing_field",
    "unknown_field": "unknown_field",
}


class ControlPlane:
    """The control-plane application served by the main listener."""

    def __init__(self, fleet: Fleet, api_key: str) -> None:
        self.fleet = fleet
        self._api_key = api_key.encode("utf-8")
        self._handlers: dict[str, Handler] = {
            "health": self._health,
            "sandboxes.list": fleet.list_sandboxes,
            "sandboxes.create": fleet.create,
            "sandboxes.get": fleet.get,
            "sandboxes.delete": fleet.delete,
            "sandboxes.pause": fleet.pause,
            "sandboxes.resume": fleet.resume,
            "sandboxes.start": fleet.start,
            "sandboxes.stop": fleet.stop,
            "sandboxes.set_timeout": fleet.set_timeout,
            "sandboxes.refresh_token": fleet.refresh_token,
            "templates.list": fleet.list_templates,
            "templates.get": fleet.get_template,
            "templates.delete": fleet.delete_template,
            "templates.upload_link": self._not_supported,
            "templates.build": self._not_supported,
            "templates.build_status": self._not_supported,
            "templates.build_logs": self._not_supported,
        }

    # -- application protocol -----------------------------------------------------------------

    def error_response(
        self, status: int, message: str, *, request_id: str, path: str | None = None
    ) -> Response:
        """An error in the control-plane envelope."""
        return control_error(status, message, request_id=request_id)

    async def handle(self, exchange: Exchange) -> None:
        """Answer one control-plane request."""
        try:
            response = await self._answer(exchange)
        except Problem as problem:
            response = control_error(
                problem.status,
                problem.message,
                request_id=exchange.request_id,
                code=problem.code,
                details=problem.details,
                headers=problem.headers,
            )
        except RemoteProtocolError as exc:
            status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
            code = PARSE_ERROR_CODES.get(exc.kind, "validation_error") if status == 400 else None
            response = control_error(status, exc.message, request_id=exchange.request_id, code=code)
        await exchange.respond(response)

    # -- dispatch -------------------------------------------------------------------------------

    async def _answer(self, exchange: Exchange) -> Response:
        found = route(Plane.CONTROL, exchange.method, exchange.path)
        if found is None:
            methods = allowed_methods(Plane.CONTROL, exchange.path)
            if methods:
                raise Problem(
                    405,
                    f"{exchange.method} is not allowed on {exchange.path}",
                    code="method_not_allowed",
                    details={"allowed": methods},
                    headers=((b"allow", ", ".join(methods).encode()),),
                )
            raise Problem(404, f"No endpoint at {exchange.path}", code="not_found")
        op, _params = found
        self._authenticate(op, exchange)
        body = await exchange.read_body()
        request = Request(exchange.method, exchange.target, exchange.head.headers, body)
        handler = self._handlers.get(op.name)
        if handler is None:
            raise Problem(501, f"{op.name} is not supported locally", code="not_supported")
        if handler == self._not_supported:
            # Refuse builds before looking at the body: no request shape makes them work here.
            raise Problem(501, _NOT_LOCAL, code="not_supported")
        args = op.parse(request)
        result = await handler(args)
        return self._render(op, result)

    @staticmethod
    def _render(op: Operation[Any, Any], result: Any) -> Response:
        if isinstance(result, Response):
            return result
        return op.render(result)

    def _authenticate(self, op: Operation[Any, Any], exchange: Exchange) -> None:
        credential = op.credential
        if credential is Auth.NONE:
            return
        presented: list[str] = []
        key = exchange.header("x-api-key")
        if key is not None:
            presented.append(key.strip())
        authorization = exchange.header("authorization")
        if authorization is not None and exchange.path.startswith("/v1/templates"):
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                presented.append(value.strip())
        if not presented:
            raise Problem(
                401, "Missing API key: send it in the X-API-Key header", code="unauthorized"
            )
        for candidate in presented:
            if hmac.compare_digest(candidate.encode("utf-8", "replace"), self._api_key):
                return
        raise Problem(401, "Invalid API key", code="unauthorized")

    async def _health(self, _args: Any) -> dict[str, Any]:
        return {"status": "ok", "service": "hopx-local", "sandboxes": self.fleet.live_count()}

    async def _not_supported(self, _args: Any) -> None:
        raise Problem(501, _NOT_LOCAL, code="not_supported")
