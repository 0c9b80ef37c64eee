"""One sandbox's agent: routing, the JWT check, the paused check, parsing and rendering.

A request whose ``Host`` names another port of the sandbox (``<port>-<id>.localhost``) is
passed to that port (:mod:`.preview`). Every other request needs the sandbox's JWT
(``Authorization: Bearer``) except ``/``, ``/health``, ``/info``, ``/ping`` and ``/system``;
WebSocket upgrades are checked before they are accepted. Handlers live in :mod:`.agent_exec`,
:mod:`.agent_files` and :mod:`.agent_info`; streams in :mod:`.websocket`.
"""

from __future__ import annotations

import errno
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from hopx_local._jwt import TokenRejected, verify_token
from hopx_local._runtime.errors import SandboxFault
from hopx_proto import (
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
    AGENT_HEALTH,
    AGENT_INFO,
    AGENT_PING,
    AGENT_ROOT,
    AGENT_SYSTEM,
    COMMANDS_BACKGROUND,
    COMMANDS_RUN,
    COMMANDS_STREAM,
    EXECUTE,
    EXECUTE_ASYNC,
    EXECUTE_BACKGROUND,
    EXECUTE_IPYTHON,
    EXECUTE_STREAM,
    STREAM,
    STREAM_IPYTHON,
    TERMINAL,
)

from .bodies import LARGE_BODY, parse_arguments
from .connection import Exchange
from .envelope import Problem, agent_error
from .preview import preview_port, serve_preview

if TYPE_CHECKING:
    from hopx_local._runtime.sandbox import SandboxRuntime

    from .fleet import Fleet, LiveSandbox

__all__ = ["AgentContext", "AgentPlane", "Counters"]

#: Operations the agent answers without a token.
OPEN = frozenset({AGENT_ROOT, AGENT_HEALTH, AGENT_INFO, AGENT_PING, AGENT_SYSTEM})

#: Operations a paused sandbox refuses (they would run code).
RUNS_CODE = frozenset(
    {
        EXECUTE,
        EXECUTE_BACKGROUND,
        EXECUTE_ASYNC,
        EXECUTE_IPYTHON,
        COMMANDS_RUN,
        COMMANDS_BACKGROUND,
        EXECUTE_STREAM,
        COMMANDS_STREAM,
        STREAM,
        STREAM_IPYTHON,
        TERMINAL,
    }
)


#: The agent's error code for a request it could not parse, by what was wrong with it.
PARSE_ERROR_CODES: dict[RemoteErrorKind | None, str] = {
    "invalid_json": "INVALID_JSON",
    "missing_field": "MISSING_PARAMETER",
}


#: What a failure to start a process means, by errno: (status, code, what to say).
SPAWN_ERRORS: dict[int, tuple[int, str, str]] = {
    errno.E2BIG: (
        400,
        "INVALID_REQUEST",
        "the command line and environment together are too large to start a process",
    ),
    errno.EAGAIN: (
        429,
        "RESOURCE_LIMIT_EXCEEDED",
        "the sandbox has reached its process limit; wait for some processes to end",
    ),
    errno.EMFILE: (503, "SERVICE_UNAVAILABLE", "the server is out of file descriptors"),
    errno.ENFILE: (503, "SERVICE_UNAVAILABLE", "the system is out of file descriptors"),
}


@attrs.define
class Counters:
    """Request and execution counters for the metrics endpoints."""

    requests: int = 0
    errors: int = 0
    executions: int = 0
    active_executions: int = 0
    active_streams: int = 0
    by_endpoint: dict[str, dict[str, int]] = attrs.field(factory=dict)
    duration_ms: dict[str, float] = attrs.field(factory=dict)

    def record(self, name: str, ok: bool, elapsed_ms: float) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        slot = self.by_endpoint.setdefault(name, {"success": 0, "error": 0})
        slot["success" if ok else "error"] += 1
        self.duration_ms[name] = self.duration_ms.get(name, 0.0) + elapsed_ms


@attrs.define
class AgentContext:
    """What a handler sees: the fleet, the sandbox and the exchange."""

    fleet: Fleet
    live: LiveSandbox
    counters: Counters
    exchange: Exchange

    @property
    def runtime(self) -> SandboxRuntime:
        return self.live.runtime

    @property
    def sandbox_id(self) -> str:
        return self.live.id


Handler = Callable[[AgentContext, Any], Awaitable[Any]]
#: Handlers that read the request themselves (streamed uploads) or answer with a stream.
RawHandler = Callable[[AgentContext, Operation[Any, Any]], Awaitable[Response | None]]


@functools.cache
def _tables() -> tuple[dict[Operation[Any, Any], Handler], dict[Operation[Any, Any], RawHandler]]:
    """(handlers, raw handlers) by operation, gathered from the handler modules once."""
    from . import agent_exec, agent_files, agent_info

    handlers = {**agent_info.HANDLERS, **agent_exec.HANDLERS, **agent_files.HANDLERS}
    return handlers, dict(agent_files.RAW_HANDLERS)


@functools.cache
def served_operations() -> frozenset[Operation[Any, Any]]:
    """Every agent operation the local agent serves (REST handlers and WebSocket sessions)."""
    from .websocket import SESSIONS

    handlers, raw = _tables()
    return frozenset({*handlers, *raw, *SESSIONS})


class AgentPlane:
    """The agent application of one sandbox."""

    def __init__(self, fleet: Fleet, live: LiveSandbox) -> None:
        self.fleet = fleet
        self.live = live
        self.counters = Counters()
        self._handlers, self._raw = _tables()

    def error_response(
        self, status: int, message: str, *, request_id: str, path: str | None = None
    ) -> Response:
        """An error in the agent envelope."""
        return agent_error(status, message, request_id=request_id)

    async def handle(self, exchange: Exchange) -> None:
        """Answer one agent request (or take a WebSocket over)."""
        started = time.monotonic()
        name = "unknown"
        try:
            port = preview_port(exchange.header("host"), self.live.id)
            if port is not None:
                name = "preview"
                await serve_preview(self.live, exchange, port)
                response = None
            else:
                op = self._route(exchange)
                name = op.name
                response = await self._answer(op, exchange)
        except Problem as problem:
            response = agent_error(
                problem.status,
                problem.message,
                request_id=exchange.request_id,
                code=problem.code,
                details=problem.details,
                path=problem.path,
                headers=problem.headers,
            )
        except SandboxFault as fault:
            exchange.must_close = exchange.must_close or exchange.started
            response = agent_error(
                fault.status,
                fault.message,
                request_id=exchange.request_id,
                code=fault.code,
                details=fault.details,
                path=fault.path,
            )
        except RemoteProtocolError as exc:
            status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
            code = PARSE_ERROR_CODES.get(exc.kind, "INVALID_REQUEST") if status == 400 else None
            response = agent_error(status, exc.message, request_id=exchange.request_id, code=code)
        except OSError as exc:
            known = SPAWN_ERRORS.get(exc.errno or 0)
            if known is None:
                raise
            status, code, message = known
            response = agent_error(status, message, request_id=exchange.request_id, code=code)
        if response is not None and not exchange.started and not exchange.taken_over:
            await exchange.respond(response)
        elapsed = (time.monotonic() - started) * 1000.0
        status = exchange.status or 101
        self.counters.record(name, status < 400, elapsed)

    def _route(self, exchange: Exchange) -> Operation[Any, Any]:
        found = route(Plane.AGENT, exchange.method, exchange.path)
        if found is None:
            methods = allowed_methods(Plane.AGENT, exchange.path)
            if methods:
                raise Problem(
                    405,
                    f"{exchange.method} is not allowed on {exchange.path}",
                    code="METHOD_NOT_ALLOWED",
                    details={"allowed": methods},
                    headers=((b"allow", ", ".join(methods).encode()),),
                )
            raise Problem(404, f"No endpoint at {exchange.path}", code="NOT_FOUND")
        return found[0]

    def _authenticate(self, op: Operation[Any, Any], exchange: Exchange) -> None:
        if op in OPEN:
            return
        authorization = exchange.header("authorization")
        if authorization is None:
            raise Problem(401, "Missing Authorization: Bearer <token> header", code="TOKEN_INVALID")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Authorization must be 'Bearer <token>'", code="TOKEN_INVALID")
        try:
            verify_token(
                self.fleet.secret,
                token.strip(),
                sandbox_id=self.live.id,
                now=time.time(),
                generation=self.live.generation,
            )
        except TokenRejected as exc:
            raise Problem(401, exc.message, code=exc.code) from None

    def _check_running(self, op: Operation[Any, Any]) -> None:
        if op in RUNS_CODE and self.live.runtime.paused:
            raise Problem(
                409, f"Sandbox {self.live.id} is paused; resume it first", code="SANDBOX_PAUSED"
            )

    async def _answer(self, op: Operation[Any, Any], exchange: Exchange) -> Response | None:
        ctx = AgentContext(self.fleet, self.live, self.counters, exchange)
        self._authenticate(op, exchange)
        self._check_running(op)
        if op.websocket or exchange.is_upgrade:
            from .websocket import serve_websocket

            await serve_websocket(ctx, op)
            return None
        raw = self._raw.get(op)
        if raw is not None:
            return await raw(ctx, op)
        handler = self._handlers.get(op)
        if handler is None:
            from .agent_info import unavailable

            raise unavailable(op)
        body = await exchange.read_body()
        request = Request(exchange.method, exchange.target, exchange.head.headers, body)
        if len(body) >= LARGE_BODY:
            args = await self.live.runtime.run_blocking(parse_arguments, op, request)
        else:
            args = parse_arguments(op, request)
        result = await handler(ctx, args)
        if exchange.started:  # the handler streamed its own reply
            return None
        if isinstance(result, Response):
            return result
        return op.render(result)
