"""Drive a stream machine over a WebSocket session: send the first message, yield events.

The session is closed however the loop ends: after the final event, when the consumer stops
early (``break``, an exception, cancellation), or when the server closes first (the machine
then says whether the stream ended too soon).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Generic, Protocol, Self, TypeVar

from .._errors import TimeoutError
from .._ops._base import Operation
from ._agent import WS_CONNECT_TIMEOUT, Agent

__all__ = ["EventStream", "StreamMachine", "stream_messages"]

E = TypeVar("E")


class StreamMachine(Protocol):
    """The client side of a stream: JSON text in, typed events out."""

    def receive(self, message: str | bytes) -> list[Any]: ...

    def finish(self) -> None: ...

    @property
    def done(self) -> bool: ...


def _least(*bounds: float | None) -> float | None:
    """The smallest of the bounds that are set (``None`` when none is)."""
    known = [bound for bound in bounds if bound is not None]
    return min(known) if known else None


async def stream_messages(
    agent: Agent,
    op: Operation[Any, Any],
    machine: StreamMachine,
    first: str | None,
    *,
    deadline: float | None = None,
    handshake: float | None = WS_CONNECT_TIMEOUT,
    idle_timeout: float | None = None,
) -> AsyncGenerator[Any, None]:
    """Events of ``machine`` fed from a WebSocket to ``op`` opened on first use.

    ``deadline`` bounds the whole stream, from opening the connection to the last event, and
    ``idle_timeout`` each wait for a message (seconds; ``None``: no bound). Past either,
    :class:`TimeoutError` is raised and the connection is dropped without waiting for the
    peer; otherwise the session is closed as usual however the loop ends.
    """
    clock = agent.backend.monotonic
    end = None if deadline is None else clock() + deadline

    def left() -> float | None:
        return None if end is None else max(0.0, end - clock())

    def late() -> TimeoutError:
        return TimeoutError(
            f"{op.name}: the stream did not end within its deadline of {deadline:g} s",
            operation=op.name,
            sandbox_id=agent.sandbox_id,
        )

    with agent.backend.move_on_after(left()) as scope:
        session = await agent.open_ws(op, timeout=handshake)
    if scope.cancelled_caught:
        raise late()
    timed_out = False
    try:
        if first is not None:
            await session.send_text(first)
        while not machine.done:
            remaining = left()
            by_deadline = remaining is not None and (
                idle_timeout is None or remaining <= idle_timeout
            )
            try:
                message = await session.receive(timeout=_least(idle_timeout, remaining))
            except TimeoutError:
                timed_out = True
                if by_deadline:
                    raise late() from None
                raise
            if message is None:
                machine.finish()
                return
            for event in machine.receive(message):
                yield event
    finally:
        if timed_out:
            await session.abort()
        else:
            await session.aclose()


class EventStream(Generic[E]):
    """Events of a stream: ``async for`` over it, and close it early with ``async with``.

    Leaving an ``async with`` block (or calling :meth:`aclose`) closes the WebSocket at once,
    which stops the remote process. A plain ``async for`` that breaks out leaves the closing
    to the event loop's async-generator finalizer (trio warns about that; asyncio does not).

    Args:
        events: the generator that yields the events.
    """

    def __init__(self, events: AsyncGenerator[E, None]) -> None:
        self._events = events

    def __aiter__(self) -> EventStream[E]:
        return self

    async def __anext__(self) -> E:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
