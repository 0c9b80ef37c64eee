"""``sandbox.commands``: shell commands, waited for, in the background, or streamed."""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._models.agent import ExecutionResult
from .._ops import agent as agent_ops
from ._agent import Agent
from ._execution import EXECUTION_MARGIN, one_timeout
from ._streaming import EventStream, stream_messages

if TYPE_CHECKING:
    from .._streams import CommandEvent

__all__ = ["AsyncCommands"]

OutputCallback = Callable[[str], Awaitable[None] | None]
#: The code of the stream's ``error`` message for a command killed at its timeout.
TIMEOUT_CODE = "EXECUTION_TIMEOUT"


class AsyncCommands:
    """Run ``bash -c <command>`` in the sandbox.

    Args:
        agent: the sandbox's agent (``sandbox.commands`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def run(
        self,
        command: str,
        *,
        timeout_seconds: int = 120,
        background: bool = False,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        timeout: int | None = None,
    ) -> ExecutionResult:
        """Run a command and wait for it.

        Args:
            command: the shell command line (run as ``bash -c command``).
            timeout_seconds: how long the agent lets it run.
            background: start it and return at once (``stdout`` then names the process).
            env: environment variables for this command only.
            working_dir: the directory it runs in.
            on_stdout: called with each chunk of standard output as it comes (over
                ``/commands/stream``; may be a coroutine function).
            on_stderr: the same for standard error.
            timeout: another spelling of ``timeout_seconds`` (the synchronous API's).

        Returns:
            Its output and exit code (the whole output, callbacks or not); past
            ``timeout_seconds`` the command is killed, ``timed_out`` is true and ``error``
            says it timed out.

        Raises:
            CommandExecutionError: the agent could not run it.
            TimeoutError: no reply within ``timeout_seconds`` plus a margin.
        """
        timeout_seconds = (
            one_timeout(
                "commands.run", ("timeout_seconds", timeout_seconds), ("timeout", timeout), 120
            )
            or 120
        )
        args = agent_ops.CommandArgs.shell(
            command, timeout=timeout_seconds, workdir=working_dir, env=env
        )
        if background:
            started = await self._agent.call(agent_ops.COMMANDS_BACKGROUND, args, read_timeout=60)
            return ExecutionResult(
                stdout=f"Background process started: {started.process_id}",
                stderr="",
                exit_code=0,
                execution_time=0.0,
                success=True,
            )
        if on_stdout is not None or on_stderr is not None:
            return await self._run_streamed(
                command, timeout_seconds, env, working_dir, on_stdout, on_stderr
            )
        reply = await self._agent.call(
            agent_ops.COMMANDS_RUN,
            args,
            read_timeout=timeout_seconds + EXECUTION_MARGIN,
            deadline=timeout_seconds + self._agent.client.deadline_margin,
        )
        return ExecutionResult(
            stdout=reply.stdout,
            stderr=reply.stderr,
            exit_code=reply.exit_code,
            execution_time=reply.execution_time,
            success=reply.exit_code == 0 and not reply.timed_out,
            timed_out=reply.timed_out,
            error=reply.error,
        )

    async def _run_streamed(
        self,
        command: str,
        timeout_seconds: int,
        env: dict[str, str] | None,
        working_dir: str,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
    ) -> ExecutionResult:
        out: list[str] = []
        err: list[str] = []
        exit_code = -1
        elapsed = 0.0
        timed_out: bool | None = None
        error: str | None = None
        stream = self.stream(
            command, timeout_seconds=timeout_seconds, env=env, working_dir=working_dir
        )
        async with stream:
            async for event in stream:
                kind = event.get("type")
                if kind in ("stdout", "stderr"):
                    data = str(event.get("data", ""))
                    (out if kind == "stdout" else err).append(data)
                    callback = on_stdout if kind == "stdout" else on_stderr
                    if callback is not None:
                        pending = callback(data)
                        if pending is not None:
                            await pending
                elif kind == "error":
                    error = str(event.get("error") or "") or error
                    if event.get("code") == TIMEOUT_CODE:
                        timed_out = True
                elif kind in ("result", "complete") and event.get("exit_code") is not None:
                    exit_code = int(event["exit_code"])
                    elapsed = float(event.get("execution_time") or elapsed)
        return ExecutionResult(
            stdout="".join(out),
            stderr="".join(err),
            exit_code=exit_code,
            execution_time=elapsed,
            success=exit_code == 0 and not timed_out,
            timed_out=timed_out,
            error=error,
        )

    def stream(
        self,
        command: str,
        *,
        timeout_seconds: int = 120,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        timeout: int | None = None,
    ) -> EventStream[CommandEvent]:
        """Output events of a command as they happen (``/commands/stream``).

        Use ``async with`` around it to stop early: leaving the block closes the WebSocket,
        which stops the remote command.

        Args:
            command: the shell command line (run as ``bash -c command``).
            timeout_seconds: how long the agent lets it run.
            env: environment variables for this command only.
            working_dir: the directory it runs in.
            timeout: another spelling of ``timeout_seconds``.

        Returns:
            The events (readable as dicts), read with ``async for``.

        Raises:
            TimeoutError: the stream did not end within ``timeout_seconds`` plus the client's
                ``deadline_margin`` (the WebSocket is then closed).
        """
        timeout_seconds = (
            one_timeout(
                "commands.stream", ("timeout_seconds", timeout_seconds), ("timeout", timeout), 120
            )
            or 120
        )
        # The stream's machine is a submodule only streams use: the first stream loads it.
        from .._streams import CommandStreamClient, CommandStreamRequest

        machine = CommandStreamClient()
        first = machine.start(
            CommandStreamRequest(
                command="bash",
                args=("-c", command),
                timeout=timeout_seconds,
                workdir=working_dir,
                env=env,
            )
        )
        return EventStream(
            stream_messages(
                self._agent,
                agent_ops.COMMANDS_STREAM,
                machine,
                first,
                deadline=timeout_seconds + self._agent.client.deadline_margin,
            )
        )
