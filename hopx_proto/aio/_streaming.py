"""Drive a stream machine over a WebSocket session: send the first message, yield events.

The session is closed however the loop ends: after the final event, when the consumer stops
early (``break``, an exception, cancellation), or when the server closes first (the machine
then says whether the stream ended too soon).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, Protocol, Self, TypeVar

from ._websocket import WebSocketSession

__all__ = ["EventStream", "StreamMachine", "stream_messages"]

E = TypeVar("E")


class StreamMachine(Protocol):
    """The client side of a stream: JSON text in, typed events out."""

    def receive(self, message: str | bytes) -> list[Any]: ...

    def finish(self) -> None: ...

    @property
    def done(self) -> bool: ...


async def stream_messages(
    open_session: Callable[[], Awaitable[WebSocketSession]],
    machine: StreamMachine,
    first: str | None,
) -> AsyncGenerator[Any, None]:
    """Events of ``machine`` fed from a session opened on first use; the session is always
    closed at the end."""
    session = await open_session()
    try:
        if first is not None:
            await session.send_text(first)
        while not machine.done:
            message = await session.receive()
            if message is None:
                machine.finish()
                return
            for event in machine.receive(message):
                yield event
    finally:
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
