"""``sandbox.terminal``: interactive PTY sessions over ``/terminal``."""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from .._ops import agent as agent_ops
from ._agent import Agent
from ._streaming import EventStream

if TYPE_CHECKING:
    from .._streams import TerminalClient, TerminalServerEvent
    from ._websocket import WebSocketSession

__all__ = ["AsyncTerminal", "TerminalSession"]


class TerminalSession:
    """One open terminal: send keystrokes, resize, read output; close with ``aclose``.

    Args:
        session: the terminal's WebSocket.
        machine: the client side of the terminal stream.
    """

    def __init__(self, session: WebSocketSession, machine: TerminalClient) -> None:
        self._session = session
        self._machine = machine

    @property
    def closed(self) -> bool:
        """Whether the terminal's WebSocket is closed."""
        return self._session.closed

    async def send_input(self, data: str) -> None:
        """Send ``data`` as keystrokes (include ``\\n`` to submit a line).

        Raises:
            NetworkError: the terminal is closed.
        """
        await self._session.send_text(self._machine.input(data))

    async def resize(self, cols: int, rows: int) -> None:
        """Change the terminal size to ``cols`` x ``rows`` character cells.

        Each must be an integer from 1 to 65535 (a PTY window size); anything else raises
        :class:`~hopx_proto.LocalProtocolError` before a byte is sent, and the session stays
        usable.
        """
        message = self._machine.resize(cols, rows)  # checks the size first
        await self._session.send_text(message)

    def iter_output(self, *, idle_timeout: float | None = None) -> EventStream[TerminalServerEvent]:
        """Output events, then ``exit`` when the shell ends (readable as dicts).

        Ends after ``exit`` or when the connection closes.

        Args:
            idle_timeout: seconds without output after which the iteration raises
                :class:`~hopx_proto.TimeoutError` (the terminal stays open); ``None`` waits as
                long as the terminal is open, since a shell may be quiet for hours.
        """
        return EventStream(self._output(idle_timeout))

    async def _output(
        self, idle_timeout: float | None
    ) -> AsyncGenerator[TerminalServerEvent, None]:
        while not self._machine.done:
            message = await self._session.receive(timeout=idle_timeout)
            if message is None:
                return
            for event in self._machine.receive(message):
                yield event

    async def aclose(self) -> None:
        """Close the terminal's WebSocket (the shell is ended by the agent)."""
        await self._session.aclose()

    async def __aenter__(self) -> TerminalSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncTerminal:
    """Open terminals; also the official function shapes taking the session first.

    Args:
        agent: the sandbox's agent (``sandbox.terminal`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def connect(self, *, timeout: int | None = 30) -> TerminalSession:
        """Open a terminal (``timeout`` bounds the handshake, in seconds)."""
        session = await self._agent.open_ws(
            agent_ops.TERMINAL, timeout=float(timeout) if timeout is not None else None
        )
        # The stream's machine is a submodule only streams use: the first stream loads it.
        from .._streams import TerminalClient

        return TerminalSession(session, TerminalClient())

    async def send_input(self, ws: TerminalSession, data: str) -> None:
        """Send ``data`` as keystrokes to the terminal ``ws``."""
        await ws.send_input(data)

    async def resize(self, ws: TerminalSession, cols: int, rows: int) -> None:
        """Resize ``ws`` to ``cols`` x ``rows`` cells (each from 1 to 65535, else
        :class:`LocalProtocolError`)."""
        await ws.resize(cols, rows)

    def iter_output(
        self, ws: TerminalSession, *, idle_timeout: float | None = None
    ) -> EventStream[TerminalServerEvent]:
        """Events of ``ws`` until it closes (``idle_timeout`` as for
        :meth:`TerminalSession.iter_output`)."""
        return ws.iter_output(idle_timeout=idle_timeout)
