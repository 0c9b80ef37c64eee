"""WebSocket endpoints of the agent: the upgrade, then the stream machine for the path.

The token was checked before this runs. The upgrade is validated by the WebSocket machine
(a bad one is answered over HTTP in the agent envelope); then output streams send ``stdout``
and ``stderr`` as produced, a ``result`` and ``complete`` last; the terminal bridges a PTY to
``input``/``resize``/``output``/``exit``; the watcher sends ``change`` events until the client
closes. A client that goes away mid-stream gets its process killed.
"""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from hopx_local._runtime.errors import SandboxFault
from hopx_proto import Operation, ProtocolError, RemoteProtocolError, Role
from hopx_proto.ops import (
    COMMANDS_STREAM,
    EXECUTE_STREAM,
    FILES_WATCH,
    STREAM,
    STREAM_IPYTHON,
    TERMINAL,
)
from hopx_proto.streams import (
    CommandStreamServer,
    Complete,
    ErrorMessage,
    ExecuteStreamServer,
    IPythonStreamServer,
    Result,
    RichOutput,
    RichStreamServer,
    Stderr,
    Stdout,
    TerminalServer,
    WatchServer,
    WebSocket,
)

from .agent import AgentContext
from .checks import argv, seconds
from .envelope import Problem, utc_now_text
from .text import invalid_text
from .ws_channel import WSChannel

__all__ = ["serve_websocket"]

#: How long a client may take to send its first message.
FIRST_MESSAGE_WAIT = 30.0
#: How long to wait for the client's close reply after ours.
CLOSE_WAIT = 2.0
#: Policy violation: the client's first message was not what this path expects.
BAD_REQUEST_CLOSE = 1008
MAX_MESSAGE = 1 << 20

Session = Callable[[AgentContext, WSChannel], Awaitable[None]]


async def serve_websocket(ctx: AgentContext, op: Operation[Any, Any]) -> None:
    """Accept the upgrade on ``op``'s path and run its session until either side closes."""
    exchange = ctx.exchange
    session = SESSIONS.get(op)
    if session is None or not op.websocket:
        raise Problem(
            400, f"{exchange.path} does not accept WebSocket upgrades", code="INVALID_REQUEST"
        )
    await exchange.read_body()
    ws = WebSocket(Role.SERVER, max_message_size=MAX_MESSAGE)
    try:
        ws.receive_upgrade_request(exchange.head, trailing_data=exchange.trailing_data)
    except RemoteProtocolError as exc:
        status = exc.status_hint if 400 <= exc.status_hint < 600 else 400
        raise Problem(
            status, f"Bad WebSocket upgrade: {exc.message}", code="INVALID_REQUEST"
        ) from None
    stream, _trailing = exchange.take_over()
    exchange.status = 101
    await exchange.send_raw(ws.accept([("x-request-id", exchange.request_id)]))
    with WSChannel(stream, ws, write_timeout=exchange.limits.write_timeout) as channel:
        ctx.counters.active_streams += 1
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(channel.pump)
                try:
                    await session(ctx, channel)
                finally:
                    await channel.close()
                    with anyio.move_on_after(CLOSE_WAIT):
                        await channel.peer_gone.wait()
                    tg.cancel_scope.cancel()
        finally:
            ctx.counters.active_streams -= 1


# ---------------------------------------------------------------------------------------------
# Output streams (/execute/stream, /commands/stream, /stream, /stream/ipython)


async def _first_message(channel: WSChannel) -> str | bytes | None:
    return await channel.receive(FIRST_MESSAGE_WAIT)


@contextlib.asynccontextmanager
async def _until_peer_gone(channel: WSChannel) -> AsyncIterator[anyio.CancelScope]:
    """A scope cancelled as soon as the client goes away (which kills what runs inside)."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await channel.peer_gone.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        yield tg.cancel_scope
        tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _closing(iterator: AsyncIterator[Any]) -> AsyncIterator[None]:
    """Close an async generator on the way out (which stops what it runs)."""
    try:
        yield
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


async def _refuse(channel: WSChannel, message: str, code: str) -> None:
    """Answer a bad first message with an ``error`` message and close (1008).

    The machine refuses to send after a bad request, so the message is written directly.
    """
    error = ErrorMessage(error=message, code=code, timestamp=utc_now_text())
    await channel.send_text(json.dumps(error.to_wire()))
    await channel.close(BAD_REQUEST_CLOSE, message[:100])


async def _send_rich(channel: WSChannel, machine: Any, outputs: Any) -> None:
    """``display`` messages for the rich outputs a run produced (``/stream`` only)."""
    rich = isinstance(machine, RichStreamServer | IPythonStreamServer)
    if not rich or not isinstance(outputs, list):
        return
    for item in outputs:
        if isinstance(item, dict) and item.get("type"):
            display = RichOutput(
                mime=str(item["type"]), data=item.get("data", ""), timestamp=utc_now_text()
            )
            await channel.send_text(machine.send(display))


async def _pump_output(
    ctx: AgentContext,
    channel: WSChannel,
    machine: Any,
    chunks: AsyncIterator[tuple[str, str]],
) -> None:
    """Forward ``(kind, text)`` chunks as stream messages; ``exit`` ends with result and
    complete."""
    async with _closing(chunks):
        async for kind, text in chunks:
            if kind == "stdout":
                event: Any = Stdout(data=text, timestamp=utc_now_text())
            elif kind == "stderr":
                event = Stderr(data=text, timestamp=utc_now_text())
            elif kind == "display":
                await _send_rich(channel, machine, [json.loads(text)])
                continue
            elif kind == "exit":
                summary = json.loads(text)
                await _send_rich(channel, machine, summary.get("rich"))
                exit_code = int(summary.get("exit_code", 0))
                timed_out = bool(summary.get("timed_out", False))
                if timed_out:
                    await channel.send_text(
                        machine.send(
                            ErrorMessage(
                                error=str(summary.get("error") or "Execution timed out"),
                                code="EXECUTION_TIMEOUT",
                                timestamp=utc_now_text(),
                            )
                        )
                    )
                await channel.send_text(
                    machine.send(
                        Result(
                            exit_code=exit_code,
                            execution_time=float(summary.get("execution_time", 0.0)),
                            timestamp=utc_now_text(),
                        )
                    )
                )
                await channel.send_text(
                    machine.send(
                        Complete(success=exit_code == 0 and not timed_out, exit_code=exit_code)
                    )
                )
                return
            else:
                continue
            if not await channel.send_text(machine.send(event)):
                return


async def _output_session(
    ctx: AgentContext,
    channel: WSChannel,
    machine: Any,
    start: Callable[[Any], AsyncIterator[tuple[str, str]]],
) -> None:
    first = await _first_message(channel)
    if first is None:
        return
    try:
        request = machine.receive(first)
    except ProtocolError as exc:
        await _refuse(channel, f"Invalid request: {exc.message}", "INVALID_REQUEST")
        return
    where = invalid_text(request)
    if where is not None:
        await _refuse(channel, f"Invalid request: {where} is not valid Unicode", "INVALID_REQUEST")
        return
    ctx.counters.executions += 1
    ctx.counters.active_executions += 1
    try:
        async with _until_peer_gone(channel):
            try:
                await _pump_output(ctx, channel, machine, start(request))
            except (SandboxFault, Problem) as fault:
                code = fault.code or "INVALID_REQUEST"
                await channel.send_text(
                    machine.send(
                        ErrorMessage(error=fault.message, code=code, timestamp=utc_now_text())
                    )
                )
                await channel.send_text(machine.send(Complete(success=False)))
    finally:
        ctx.counters.active_executions -= 1


def _timeout(request: Any) -> float:
    return float(seconds(request.timeout, "timeout", code="INVALID_REQUEST"))


async def execute_stream(ctx: AgentContext, channel: WSChannel) -> None:
    def start(request: Any) -> AsyncIterator[tuple[str, str]]:
        return ctx.runtime.stream_execute(
            request.code,
            request.language,
            env=dict(request.env or {}),
            workdir=request.workdir,
            timeout=_timeout(request),
        )

    await _output_session(ctx, channel, ExecuteStreamServer(), start)


async def rich_stream(ctx: AgentContext, channel: WSChannel) -> None:
    def start(request: Any) -> AsyncIterator[tuple[str, str]]:
        return ctx.runtime.stream_execute(
            request.code,
            request.language,
            env=dict(request.env or {}),
            workdir=request.workdir,
            timeout=_timeout(request),
        )

    await _output_session(ctx, channel, RichStreamServer(), start)


async def ipython_stream(ctx: AgentContext, channel: WSChannel) -> None:
    # In the sandbox's Jupyter kernel when it has one, else as a plain Python program.
    def start(request: Any) -> AsyncIterator[tuple[str, str]]:
        return ctx.runtime.stream_execute(
            request.code,
            "python",
            env=dict(request.env or {}),
            workdir=getattr(request, "workdir", "/workspace"),
            timeout=_timeout(request),
        )

    await _output_session(ctx, channel, IPythonStreamServer(), start)


async def command_stream(ctx: AgentContext, channel: WSChannel) -> None:
    def start(request: Any) -> AsyncIterator[tuple[str, str]]:
        args = list(getattr(request, "args", None) or [])
        argv([request.command, *args], "command and args", code="INVALID_REQUEST")
        return ctx.runtime.stream_command(
            request.command,
            args,
            env=dict(request.env or {}),
            workdir=request.workdir,
            timeout=_timeout(request),
        )

    await _output_session(ctx, channel, CommandStreamServer(), start)


# ---------------------------------------------------------------------------------------------
# Terminal


async def terminal(ctx: AgentContext, channel: WSChannel) -> None:
    from hopx_proto.streams import Exit, Input, Output, Resize

    machine = TerminalServer()
    session = await ctx.runtime.open_terminal(80, 24, {})
    try:
        async with anyio.create_task_group() as tg:

            async def pty_to_client() -> None:
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                while True:
                    data = await session.read()
                    if not data:
                        break
                    text = decoder.decode(data)
                    if text and not await channel.send_text(machine.send(Output(data=text))):
                        tg.cancel_scope.cancel()
                        return
                code = await session.wait()
                await channel.send_text(machine.send(Exit(code=code)))
                tg.cancel_scope.cancel()

            async def client_to_pty() -> None:
                async for frame in channel.inbox:
                    try:
                        events = machine.receive(frame)
                        for event in events:
                            if isinstance(event, Input):
                                await session.write(event.data.encode("utf-8", "replace"))
                            elif isinstance(event, Resize):
                                session.resize(event.cols, event.rows)
                    except ProtocolError as exc:
                        # A malformed message (a size out of range, a missing field) leaves
                        # the machine unusable: end the session with a policy close.
                        reason = f"Invalid request: {exc.message}"
                    except SandboxFault as fault:
                        reason = fault.message
                    else:
                        continue  # unknown messages are ignored, the shell stays usable
                    await channel.close(BAD_REQUEST_CLOSE, reason[:100])
                    break
                tg.cancel_scope.cancel()  # the client went away, or was refused

            tg.start_soon(pty_to_client)
            tg.start_soon(client_to_pty)
    finally:
        with anyio.CancelScope(shield=True):
            await session.aclose()


# ---------------------------------------------------------------------------------------------
# File watch


async def files_watch(ctx: AgentContext, channel: WSChannel) -> None:
    from hopx_proto.streams import Change

    machine = WatchServer()
    first = await _first_message(channel)
    if first is None:
        return
    try:
        request = machine.receive(first)
    except ProtocolError as exc:
        await channel.close(BAD_REQUEST_CLOSE, f"Invalid request: {exc.message}"[:100])
        return
    path = getattr(request, "path", None) or "/workspace"
    async with _until_peer_gone(channel):
        try:
            changes = await ctx.runtime.watch(path)
        except SandboxFault as fault:
            await channel.close(BAD_REQUEST_CLOSE, fault.message[:100])
            return
        async with _closing(changes):
            async for change in changes:
                message = Change(
                    path=change["path"], event=change["event"], timestamp=change["timestamp"]
                )
                if not await channel.send_text(machine.send(message)):
                    return


SESSIONS: dict[Operation[Any, Any], Session] = {
    EXECUTE_STREAM: execute_stream,
    COMMANDS_STREAM: command_stream,
    STREAM: rich_stream,
    STREAM_IPYTHON: ipython_stream,
    TERMINAL: terminal,
    FILES_WATCH: files_watch,
}
