# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
"""Code execution on the agent: run, stream, background and queued runs, processes, metrics,
and the sandbox's health and expiry.

The layer of :class:`~hopx_proto.aio.AsyncSandbox` above its lifetime: every method talks to
the agent through the sandbox's :class:`~hopx_proto.aio.Agent`.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from typing import TYPE_CHECKING, Any

from .._codec import to_wire
from .._errors import HopxError, LocalProtocolError, SandboxExpiredError
from .._models.agent import ExecutionResult, ProcessOutput
from .._models.control import ExpiryInfo
from .._ops import agent as agent_ops
from .._ops._base import NoArgs
from ._classapi import SandboxClassAPI
from ._streaming import EventStream, stream_messages

if TYPE_CHECKING:
    from .._streams import ExecuteEvent, RichEvent

__all__ = ["ExecutionAPI", "one_timeout"]

#: Seconds the agent may take beyond an execution's timeout to send the reply (each read).
EXECUTION_MARGIN = 30


def one_timeout(
    operation: str,
    documented: tuple[str, int | None],
    alias: tuple[str, int | None],
    default: int | None,
) -> int | None:
    """The timeout of an execution method that accepts two spellings of it.

    ``timeout=`` and ``timeout_seconds=`` both appear in published examples of the same
    methods, so each execution method takes both: ``documented`` is ``(name, value)`` of the
    parameter in its signature (whose default is ``default``), ``alias`` the other one
    (``None`` when not passed).

    Raises:
        LocalProtocolError: both were passed, with different values.
    """
    (name, value), (other, given) = documented, alias
    if given is None:
        return value
    if value != default and value != given:
        raise LocalProtocolError(
            f"{operation}: {name} and {other} are two spellings of one setting, and were "
            f"given different values ({value!r} and {given!r}); pass one of them",
            operation=operation,
        )
    return given


class ExecutionAPI(SandboxClassAPI):
    """``run_code`` and friends, ``is_healthy`` and the expiry questions."""

    # -- health and expiry ------------------------------------------------------------------

    async def get_time_to_expiry(self) -> int | None:
        """Seconds until the sandbox expires (negative once expired), ``None`` if never."""
        return (await self.get_expiry_info()).time_to_expiry

    async def is_expiring_soon(self, threshold_seconds: int = 300) -> bool:
        """Whether the sandbox expires within ``threshold_seconds``."""
        return (await self.get_expiry_info(threshold_seconds)).is_expiring_soon

    async def get_expiry_info(self, expiring_soon_threshold: int = 300) -> ExpiryInfo:
        """Expiry facts from one ``get_info`` call.

        Args:
            expiring_soon_threshold: seconds below which ``is_expiring_soon`` is true.
        """
        info = await self.get_info()
        now = _dt.datetime.fromtimestamp(self._client.backend.wall_clock(), _dt.UTC)
        return ExpiryInfo.at(info.expires_at, now, threshold_seconds=expiring_soon_threshold)

    async def is_healthy(self) -> bool:
        """Whether the agent answers ``/health`` as healthy (any error gives False)."""
        try:
            health = await self._agent.call(agent_ops.AGENT_HEALTH, NoArgs())
        except HopxError:
            return False
        return health.status in ("healthy", "ok")

    async def ensure_healthy(self) -> None:
        """Check that the sandbox has not expired and its agent is healthy.

        Raises:
            SandboxExpiredError: the sandbox's lifetime is over.
            HopxError: the agent is not healthy (code ``sandbox_unhealthy``).
        """
        expiry = await self.get_expiry_info()
        if expiry.is_expired:
            raise SandboxExpiredError(
                sandbox_id=self.sandbox_id,
                expires_at=expiry.expires_at.isoformat() if expiry.expires_at else None,
            )
        if not await self.is_healthy():
            raise HopxError(
                "the sandbox agent is not healthy",
                code="sandbox_unhealthy",
                sandbox_id=self.sandbox_id,
            )

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
        timeout: int | None = None,
    ) -> ExecutionResult:
        """Run code and wait for it.

        Args:
            code: the source to run.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ... as the template offers.
            timeout_seconds: how long the agent lets it run.
            env: environment variables for this run only.
            working_dir: the directory it runs in.
            preflight: check first that the sandbox is alive (:meth:`ensure_healthy`).
            timeout: another spelling of ``timeout_seconds`` (the synchronous API's).

        Returns:
            stdout, stderr, the exit code and the rich outputs (images, HTML, ...). Past
            ``timeout_seconds`` the run is killed, ``timed_out`` is true and ``error`` says it
            timed out.

        Raises:
            CodeExecutionError: the agent could not run it.
            TimeoutError: no reply within ``timeout_seconds`` plus a margin.
            SandboxExpiredError: with ``preflight``, the sandbox is gone.
        """
        timeout_seconds = (
            one_timeout("run_code", ("timeout_seconds", timeout_seconds), ("timeout", timeout), 120)
            or 120
        )
        if preflight:
            await self.ensure_healthy()
        args = agent_ops.ExecuteArgs(
            language=language, code=code, workdir=working_dir, timeout=timeout_seconds, env=env
        )
        return await self._agent.call(
            agent_ops.EXECUTE,
            args,
            read_timeout=timeout_seconds + EXECUTION_MARGIN,
            deadline=timeout_seconds + self._client.deadline_margin,
        )

    def run_code_stream(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 60,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        timeout_seconds: int | None = None,
    ) -> EventStream[ExecuteEvent]:
        """Stream output events (readable as dicts) until ``complete``.

        ``async for`` over the result; use ``async with`` around it to stop early: leaving
        the block closes the WebSocket, which stops the remote process.

        Args:
            code: the source to run.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ... as the template offers.
            timeout: how long the agent lets it run, in seconds.
            env: environment variables for this run only.
            working_dir: the directory it runs in.
            timeout_seconds: another spelling of ``timeout`` (the reference page's).

        Returns:
            The events (``stdout``, ``stderr``, ``result``, ``complete``, ...).

        Raises:
            TimeoutError: the stream did not end within ``timeout`` plus the client's
                ``deadline_margin`` (the WebSocket is then closed).
        """
        timeout = (
            one_timeout(
                "run_code_stream", ("timeout", timeout), ("timeout_seconds", timeout_seconds), 60
            )
            or 60
        )
        # The stream's machine is a submodule only streams use: the first stream loads it.
        from .._streams import ExecuteStreamClient, ExecuteStreamRequest

        machine = ExecuteStreamClient()
        first = machine.start(
            ExecuteStreamRequest(
                code=code, language=language, timeout=timeout, workdir=working_dir, env=env
            )
        )
        return EventStream(
            stream_messages(
                self._agent,
                agent_ops.EXECUTE_STREAM,
                machine,
                first,
                deadline=timeout + self._client.deadline_margin,
            )
        )

    async def run_ipython(
        self, code: str, *, timeout_seconds: int = 120, env: dict[str, str] | None = None
    ) -> ExecutionResult:
        """Run code in the sandbox's IPython kernel: magics (``%timeit``) and shell escapes
        (``!ls``) work, state persists between calls, the last expression is the result.

        The service has this endpoint (``POST /execute/ipython``); the official Python client
        has no method for it, so this one is this library's.

        Args:
            code: the cell to run.
            timeout_seconds: how long the kernel may run it before it is interrupted.
            env: environment variables set in the kernel before the cell runs.

        Returns:
            stdout, stderr, the exit code and the rich outputs (images, HTML, ...).

        Raises:
            CodeExecutionError: the agent could not run it.
            TimeoutError: no reply within ``timeout_seconds`` plus a margin.
        """
        args = agent_ops.IPythonExecuteArgs(code=code, timeout=timeout_seconds, env=env)
        return await self._agent.call(
            agent_ops.EXECUTE_IPYTHON,
            args,
            read_timeout=timeout_seconds + EXECUTION_MARGIN,
            deadline=timeout_seconds + self._client.deadline_margin,
        )

    def run_ipython_stream(
        self, code: str, *, timeout: int = 60, env: dict[str, str] | None = None
    ) -> EventStream[RichEvent]:
        """Stream a cell run in the IPython kernel (``/stream/ipython``, this library's
        method): ``stdout``/``stderr`` as the kernel flushes them, a ``display`` event per rich
        output, then ``result`` and ``complete``.

        Args:
            code: the cell to run.
            timeout: how long the kernel may run it, in seconds.
            env: environment variables set in the kernel before the cell runs.

        Returns:
            The events, readable as dicts; ``async with`` around it stops early.

        Raises:
            TimeoutError: the stream did not end within ``timeout`` plus the client's
                ``deadline_margin``.
        """
        # The stream's machine is a submodule only streams use: the first stream loads it.
        from .._streams import ExecuteStreamRequest, IPythonStreamClient

        machine = IPythonStreamClient()
        first = machine.start(
            ExecuteStreamRequest(
                code=code, language="python", timeout=timeout, workdir="/workspace", env=env
            )
        )
        return EventStream(
            stream_messages(
                self._agent,
                agent_ops.STREAM_IPYTHON,
                machine,
                first,
                deadline=timeout + self._client.deadline_margin,
            )
        )

    async def run_code_background(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 300,
        env: dict[str, str] | None = None,
        name: str | None = None,
        timeout_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Start code in the background.

        Args:
            code: the source to run.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ...
            timeout: how long the agent lets it run, in seconds.
            env: environment variables for this run only.
            name: a label for the process.
            timeout_seconds: another spelling of ``timeout``.

        Returns:
            The process record (``process_id``, ...). Past ``timeout`` the process is killed
            and its record in :meth:`list_processes` has ``timed_out`` true and an ``error``.
        """
        timeout = (
            one_timeout(
                "run_code_background",
                ("timeout", timeout),
                ("timeout_seconds", timeout_seconds),
                300,
            )
            or 300
        )
        args = agent_ops.BackgroundExecuteArgs(
            code=code, language=language, timeout=timeout, env=env, name=name
        )
        reply = await self._agent.call(agent_ops.EXECUTE_BACKGROUND, args, read_timeout=30)
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
        timeout_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Queue code; the agent posts the result to ``callback_url`` when it is done.

        Args:
            code: the source to run.
            callback_url: where the agent posts the result.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ...
            timeout: how long the agent lets it run, in seconds.
            env: environment variables for this run only.
            working_dir: the directory it runs in.
            callback_headers: extra headers of the callback request.
            callback_signature_secret: signs the callback body (see
                :func:`~hopx_proto.verify_webhook`).
            timeout_seconds: another spelling of ``timeout``.

        Returns:
            The queued execution's record (``execution_id``, ...).
        """
        timeout = (
            one_timeout(
                "run_code_async", ("timeout", timeout), ("timeout_seconds", timeout_seconds), 1800
            )
            or 1800
        )
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
        reply = await self._agent.call(agent_ops.EXECUTE_ASYNC, args, read_timeout=30)
        return dict(to_wire(reply))

    async def list_processes(self) -> builtins.list[dict[str, Any]]:
        """Background executions (``/execute/processes``)."""
        reply = await self._agent.call(agent_ops.EXECUTE_PROCESSES, NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def get_process_output(
        self,
        process_id: str,
        *,
        stdout_offset: int = 0,
        stderr_offset: int = 0,
        max_bytes: int | None = None,
    ) -> ProcessOutput:
        """What a background process (``run_code_background`` or ``commands.run(...,
        background=True)``) wrote, from byte offsets on, while it runs and after it ended.

        An extension of the emulator (``GET /execute/processes/{process_id}/output``); the
        service keeps no output of background processes. To follow a process, pass the
        returned ``stdout_offset`` and ``stderr_offset`` back until ``complete`` is true.

        Args:
            process_id: the process (``process_id`` of ``run_code_background``'s reply, or the
                id in ``commands.run``'s ``Background process started: <id>``).
            stdout_offset: where to start in its stdout, in bytes.
            stderr_offset: where to start in its stderr, in bytes.
            max_bytes: the most bytes of each stream in one reply (the agent's bound, and
                never more, when ``None``).

        Returns:
            The text from the offsets, the next offsets, the sizes so far, the process's
            status and exit code, and whether it is ``complete``.

        Raises:
            LocalProtocolError: an offset is negative or ``max_bytes`` is not positive
                (nothing is sent).
            AgentError: no background process has that id (code ``PROCESS_NOT_FOUND``).
        """
        args = agent_ops.ProcessOutputArgs(
            process_id=process_id,
            stdout_offset=stdout_offset,
            stderr_offset=stderr_offset,
            max_bytes=max_bytes,
        )
        return await self._agent.call(agent_ops.EXECUTE_PROCESS_OUTPUT, args)

    async def kill_process(self, process_id: str) -> dict[str, Any]:
        """Kill the background execution ``process_id``; the agent's reply."""
        return await self._agent.call(
            agent_ops.EXECUTE_KILL, agent_ops.ProcessIdQuery(process_id=process_id)
        )

    async def list_system_processes(self) -> builtins.list[dict[str, Any]]:
        """Operating-system processes inside the sandbox (``/processes``)."""
        reply = await self._agent.call(agent_ops.PROCESSES_LIST, NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def get_metrics_snapshot(self) -> dict[str, Any]:
        """The agent's metrics (``/metrics/snapshot``)."""
        return dict(to_wire(await self._agent.call(agent_ops.METRICS_SNAPSHOT, NoArgs())))

    async def get_agent_metrics(self) -> dict[str, Any]:
        """The agent's own metrics (``/metrics``)."""
        return dict(to_wire(await self._agent.call(agent_ops.METRICS, NoArgs())))

    async def get_agent_info(self) -> dict[str, Any]:
        """Agent version, platform and endpoints (``/info``)."""
        return dict(to_wire(await self._agent.call(agent_ops.AGENT_INFO, NoArgs())))

    async def get_jupyter_sessions(self) -> builtins.list[dict[str, Any]]:
        """Jupyter kernel sessions."""
        reply = await self._agent.call(agent_ops.JUPYTER_SESSIONS, NoArgs())
        return [dict(to_wire(s)) for s in reply.sessions]
