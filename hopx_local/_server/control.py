"""The control plane: ``/v1/sandboxes``, ``/v1/templates`` and ``/health`` on one port.

Requests are parsed by the shared operations (``Operation.parse``), answered by the fleet of
sandboxes, and rendered by the same operations; errors use the control-plane envelope.
Handlers are found by operation, never by name or path.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from hopx_local._runtime.errors import SandboxFault
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
from hopx_proto.ops import (
    HEALTH,
    SANDBOXES_CREATE,
    SANDBOXES_DELETE,
    SANDBOXES_GET,
    SANDBOXES_LIST,
    SANDBOXES_PAUSE,
    SANDBOXES_REFRESH_TOKEN,
    SANDBOXES_RESUME,
    SANDBOXES_SET_TIMEOUT,
    SANDBOXES_START,
    SANDBOXES_STOP,
    TEMPLATES_BUILD,
    TEMPLATES_BUILD_LOGS,
    TEMPLATES_BUILD_STATUS,
    TEMPLATES_DELETE,
    TEMPLATES_GET,
    TEMPLATES_LIST,
    TEMPLATES_UPLOAD,
    TEMPLATES_UPLOAD_LINK,
)

from .bodies import LARGE_BODY, parse_arguments
from .connection import Exchange
from .envelope import Problem, control_error
from .fleet import Fleet

__all__ = ["ControlPlane"]

Handler = Callable[[Any], Awaitable[Any]]

#: The template build operations (the API key comes as ``Authorization: Bearer``).
BUILDS = frozenset(
    {TEMPLATES_UPLOAD_LINK, TEMPLATES_BUILD, TEMPLATES_BUILD_STATUS, TEMPLATES_BUILD_LOGS}
)
#: Operations that also take the API key as ``Authorization: Bearer <key>`` (the template API).
BEARER_KEY = frozenset({TEMPLATES_LIST, TEMPLATES_GET, TEMPLATES_DELETE, *BUILDS})

#: The head of a build log streamed as Server-Sent Events.
SSE_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


#: The control plane's error code for a request it could not parse, by what was wrong with it.
PARSE_ERROR_CODES: dict[RemoteErrorKind | None, str] = {
    "invalid_json": "invalid_json",
    "missing_field": "missing_field",
    "unknown_field": "unknown_field",
}

#: Control-plane parsing of large bodies runs in at most this many threads at once.
_PARSERS = 2


class ControlPlane:
    """The control-plane application served by the main listener."""

    def __init__(self, fleet: Fleet, api_key: str) -> None:
        self.fleet = fleet
        self._api_key = api_key.encode("utf-8")
        self._parsers: anyio.CapacityLimiter | None = None
        self._handlers: dict[Operation[Any, Any], Handler] = {
            HEALTH: self._health,
            SANDBOXES_LIST: fleet.list_sandboxes,
            SANDBOXES_CREATE: fleet.create,
            SANDBOXES_GET: fleet.get,
            SANDBOXES_DELETE: fleet.delete,
            SANDBOXES_PAUSE: fleet.pause,
            SANDBOXES_RESUME: fleet.resume,
            SANDBOXES_START: fleet.start,
            SANDBOXES_STOP: fleet.stop,
            SANDBOXES_SET_TIMEOUT: fleet.set_timeout,
            SANDBOXES_REFRESH_TOKEN: fleet.refresh_token,
            TEMPLATES_LIST: fleet.list_templates,
            TEMPLATES_GET: fleet.get_template,
            TEMPLATES_DELETE: fleet.delete_template,
            TEMPLATES_UPLOAD_LINK: fleet.upload_link,
            TEMPLATES_UPLOAD: fleet.upload,
            TEMPLATES_BUILD: fleet.build,
            TEMPLATES_BUILD_STATUS: fleet.build_status,
            TEMPLATES_BUILD_LOGS: fleet.build_logs,
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
            if response is None:
                return  # streamed already
        except Problem as problem:
            response = control_error(
                problem.status,
                problem.message,
                request_id=exchange.request_id,
                code=problem.code,
                details=problem.details,
                headers=problem.headers,
            )
        except SandboxFault as fault:
            response = control_error(
                fault.status,
                fault.message,
                request_id=exchange.request_id,
                details=fault.details,
            )
        except RemoteProtocolError as exc:
            status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
            code = PARSE_ERROR_CODES.get(exc.kind, "validation_error") if status == 400 else None
            response = control_error(status, exc.message, request_id=exchange.request_id, code=code)
        await exchange.respond(response)

    # -- dispatch -------------------------------------------------------------------------------

    async def _answer(self, exchange: Exchange) -> Response | None:
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
        handler = self._handlers.get(op)
        if handler is None:
            raise Problem(501, f"{op.name} is not supported locally", code="not_supported")
        request = Request(exchange.method, exchange.target, exchange.head.headers, body)
        if len(body) >= LARGE_BODY:
            if self._parsers is None:
                self._parsers = anyio.CapacityLimiter(_PARSERS)
            args = await anyio.to_thread.run_sync(
                parse_arguments, op, request, "validation_error", limiter=self._parsers
            )
        else:
            args = parse_arguments(op, request, "validation_error")
        if op is TEMPLATES_BUILD_LOGS and "text/event-stream" in (exchange.header("accept") or ""):
            events = self.fleet.builds.log_events(args)
            first = await anext(events)  # a missing build is a 404 before the stream starts
            await exchange.respond_stream(200, SSE_HEADERS, _prepend(first, events))
            return None
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
        if authorization is not None and op in BEARER_KEY:
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
