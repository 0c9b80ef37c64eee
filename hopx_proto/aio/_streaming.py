"""Drive a stream machine over a WebSocket session: send the first message, yield events.

The session is closed however the loop ends: after the final event, when the consumer stops
early (``break``, an exception, cancellation), or when the server closes first (the machine
then says whether the stream ended too soon).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ._websocket import WebSocketSession

__all__ = ["StreamMachine", "stream_messages"]


class StreamMachine(Protocol):
    """The client side of a stream: JSON text in, typed events out."""

    def receive(self, message: str | bytes) -> list[Any]: ...

    def finish(self) -> None: ...

    @property
    def done(self) -> bool: ...


async def stream_messages(
    session: WebSocketSession, machine: StreamMachine, first: str | None
) -> AsyncIterator[Any]:
    """Events of ``machine`` fed from ``session``; the session is always closed at the end."""
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
