# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
"""Code execution on the agent: run, stream, background and queued runs, processes, metrics.

A mixin of :class:`~hopx_proto.aio.AsyncSandbox`, which provides the agent plumbing
(``_agent`` for REST calls, ``_open_ws`` for WebSockets) and ``ensure_healthy``.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, TypeVar

from .._codec import to_wire
from .._models.agent import ExecutionResult
from .._ops import agent as agent_ops
from .._ops._base import Operation
from ._streaming import EventStream, stream_messages

if TYPE_CHECKING:
    from .._streams import ExecuteEvent
    from ._websocket import WebSocketSession

__all__ = ["ExecutionAPI"]

A = TypeVar("A")
R = TypeVar("R")


class ExecutionAPI:
    """``run_code`` and friends."""

    if TYPE_CHECKING:

        async def _agent(
            self,
            op: Operation[A, R],
            args: A,
            *,
            read_timeout: float | None = None,
            error_path: str | None = None,
            **kw: Any,
        ) -> R: ...

        async def _open_ws(
            self, op: Operation[Any, Any], *, timeout: float | None = ...
        ) -> WebSocketSession: ...

        async def ensure_healthy(self) -> None: ...

    # -- execution --------------------------------------------------------------------------

    async def run_code(
        self,
        code: str,
        *,
        language: str = "python",
        timeout_seconds: int = 120,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        preflight: bool = False,
    ) -> ExecutionResult:
        """Run code and wait for it; stdout, stderr, exit code and rich outputs."""
        if preflight:
            await self.ensure_healthy()
        args = agent_ops.ExecuteArgs(
            language=language, code=code, workdir=working_dir, timeout=timeout_seconds, env=env
        )
        return await self._agent(agent_ops.EXECUTE, args, read_timeout=timeout_seconds + 30)

    def run_code_stream(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 60,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
    ) -> EventStream[ExecuteEvent]:
        """Stream output events (readable as dicts) until ``complete``.

        ``async for`` over the result; use ``async with`` around it to stop early: leaving
        the block closes the WebSocket, which stops the remote process.
        """
        from .._streams import ExecuteStreamClient, ExecuteStreamRequest

        machine = ExecuteStreamClient()
        first = machine.start(
            ExecuteStreamRequest(
                code=code, language=language, timeout=timeout, workdir=working_dir, env=env
            )
        )
        return EventStream(
            stream_messages(lambda: self._open_ws(agent_ops.EXECUTE_STREAM), machine, first)
        )

    async def run_code_background(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 300,
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Start code in the background; the process record (``process_id`` ...)."""
        args = agent_ops.BackgroundExecuteArgs(
            code=code, language=language, timeout=timeout, env=env, name=name
        )
        reply = await self._agent(agent_ops.EXECUTE_BACKGROUND, args, read_timeout=30)
        return dict(to_wire(reply))

    async def run_code_async(
        self,
        code: str,
        callback_url: str,
        *,
        language: str = "python",
        timeout: int = 1800,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        callback_headers: dict[str, str] | None = None,
        callback_signature_secret: str | None = None,
    ) -> dict[str, Any]:
        """Queue code; the agent posts the result to ``callback_url``."""
        args = agent_ops.AsyncExecuteArgs(
            code=code,
            language=language,
            timeout=timeout,
            workdir=working_dir,
            callback_url=callback_url,
            env=env,
            callback_headers=callback_headers,
            callback_signature_secret=callback_signature_secret,
        )
        reply = await self._agent(agent_ops.EXECUTE_ASYNC, args, read_timeout=30)
        return dict(to_wire(reply))

    async def list_processes(self) -> builtins.list[dict[str, Any]]:
        """Background executions (``/execute/processes``)."""
        reply = await self._agent(agent_ops.EXECUTE_PROCESSES, agent_ops.NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def kill_process(self, process_id: str) -> dict[str, Any]:
        """Kill a background execution."""
        return await self._agent(
            agent_ops.EXECUTE_KILL, agent_ops.ProcessIdQuery(process_id=process_id)
        )

    async def list_system_processes(self) -> builtins.list[dict[str, Any]]:
        """Operating-system processes inside the sandbox (``/processes``)."""
        reply = await self._agent(agent_ops.PROCESSES_LIST, agent_ops.NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def get_metrics_snapshot(self) -> dict[str, Any]:
        """The agent's metrics (``/metrics/snapshot``)."""
        return dict(to_wire(await self._agent(agent_ops.METRICS_SNAPSHOT, agent_ops.NoArgs())))

    async def get_agent_metrics(self) -> dict[str, Any]:
        """The agent's own metrics (``/metrics``)."""
        return dict(to_wire(await self._agent(agent_ops.METRICS, agent_ops.NoArgs())))

    async def get_agent_info(self) -> dict[str, Any]:
        """Agent version, platform and endpoints (``/info``)."""
        return dict(to_wire(await self._agent(agent_ops.AGENT_INFO, agent_ops.NoArgs())))

    async def get_jupyter_sessions(self) -> builtins.list[dict[str, Any]]:
        """Jupyter kernel sessions."""
        reply = await self._agent(agent_ops.JUPYTER_SESSIONS, agent_ops.NoArgs())
        return [dict(to_wire(s)) for s in reply.sessions]
