"""A client WebSocket over a backend byte stream: handshake, messages, pings, close.

Each session owns its own TCP connection (never pooled). Closing is shielded and bounded:
a close frame is sent, the peer's close awaited briefly, and the stream closed, so breaking out
of a stream or cancelling the task never leaks a socket, and the agent sees the close (and
stops the remote process).
"""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from .._errors import HopxError, NetworkError, RemoteProtocolError, TimeoutError
from .._http import NEED_DATA, Role
from .._url import BaseURL
from .._ws import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    TextMessage,
    WebSocket,
)
from ._backend import Backend, ByteStream
from ._log import Logger

__all__ = ["WebSocketSession"]


_logger = Logger("hopx.websocket")


READ_SIZE = 256 * 1024
CLOSE_GRACE = 2.0
#: Seconds dropping a connection may spend sending its close frame.
ABORT_GRACE = 0.5


class WebSocketSession:
    """One open WebSocket: :meth:`send_text`, :meth:`receive`, :meth:`aclose`.

    Use :meth:`open` to connect; the session is also an async context manager.

    Args:
        backend: the event-loop capabilities (deadlines, shielded cleanup).
        stream: the connection, after the handshake.
        ws: the WebSocket machine of that connection.
        path: the endpoint path (for messages).
    """

    def __init__(self, backend: Backend, stream: ByteStream, ws: WebSocket, path: str) -> None:
        self._backend = backend
        self._stream = stream
        self._ws = ws
        self.path = path
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed = False
        self._stream_closed = False

    @classmethod
    async def open(
        cls,
        backend: Backend,
        stream: ByteStream,
        base: BaseURL,
        path: str,
        *,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        timeout: float | None,
        operation: str | None = None,
        sandbox_id: str | None = None,
        max_message_size: int = 1 << 20,
    ) -> WebSocketSession:
        """Run the upgrade handshake on ``stream``.

        Args:
            backend: the event-loop capabilities.
            stream: a fresh connection to ``base``.
            base: the server's base URL (its host and path prefix).
            path: the endpoint path.
            headers: extra handshake headers (``authorization``, ...).
            timeout: seconds the handshake may take (``None``: no bound).
            operation: the operation's name, carried by errors.
            sandbox_id: the sandbox concerned, carried by errors.
            max_message_size: the largest message accepted, in bytes.

        Returns:
            The open session (the stream is closed on any failure).

        Raises:
            AuthenticationError: the server refused the credentials (401).
            TimeoutError: the handshake took longer than ``timeout``.
            RemoteProtocolError: the server answered with something else than an upgrade.
        """
        # The handshake key and every frame's masking key come from the backend's generator.
        ws = WebSocket(
            Role.CLIENT, max_message_size=max_message_size, random_bytes=backend.random_bytes
        )
        session = cls(backend, stream, ws, path)
        try:
            with backend.move_on_after(timeout) as scope:
                await stream.send_all(
                    ws.connect(
                        base,
                        path,
                        headers=headers,
                        operation=operation,
                        sandbox_id=sandbox_id,
                    )
                )
                while True:
                    event = ws.next_event()
                    if isinstance(event, Accepted):
                        return session
                    if event is NEED_DATA:
                        ws.receive_data(await stream.receive_some(READ_SIZE))
                        continue
                    raise RemoteProtocolError(
                        f"unexpected {type(event).__name__} during the WebSocket handshake"
                    )
            assert scope.cancelled_caught
            raise TimeoutError(
                f"WebSocket handshake for {path} timed out after {timeout:g} s",
                operation=operation,
                sandbox_id=sandbox_id,
            )
        except BaseException:
            await session._close_stream()
            raise

    @property
    def closed(self) -> bool:
        """Whether the session is closed (by either side)."""
        return self._closed

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        if self._closed:
            raise NetworkError(f"the WebSocket {self.path} is closed")
        await self._stream.send_all(self._ws.send_text(text))

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message (text or bytes); ``None`` once the connection closed.

        Pings are answered on the way. ``timeout`` bounds the wait for one message.
        """
        if self._closed:
            return None
        if timeout is None:
            return await self._receive(None, None)
        return await self._receive(self._backend.monotonic() + timeout, timeout)

    async def _receive(self, end: float | None, timeout: float | None) -> str | bytes | None:
        """The next message; each read waits until ``end`` (the backend's clock) at most, so
        a message that comes a byte at a time cannot take longer than ``timeout``."""
        while True:
            event = self._ws.next_event()
            if event is NEED_DATA:
                wait = None
                if end is not None:
                    wait = end - self._backend.monotonic()
                    if wait <= 0:
                        raise TimeoutError(f"no message on {self.path} within {timeout:g} s")
                try:
                    data = await self._stream.receive_some(READ_SIZE, wait)
                except TimeoutError:
                    raise TimeoutError(f"no message on {self.path} within {timeout:g} s") from None
                self._ws.receive_data(data)
                continue
            if isinstance(event, TextMessage):
                return event.text
            if isinstance(event, BinaryMessage):
                return event.data
            if isinstance(event, Ping):
                await self._flush()
                continue
            if isinstance(event, Pong):
                continue
            if isinstance(event, CloseReceived):
                self.close_code, self.close_reason = event.code, event.reason
                await self._flush()
                self._closed = True
                await self._close_stream()
                return None

    async def _flush(self) -> None:
        data = self._ws.data_to_send()
        if data:
            await self._stream.send_all(data)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason``, wait briefly for the reply and
        close the connection; shielded from cancellation, and bounded."""
        if self._stream_closed:
            return
        with self._backend.shielded(CLOSE_GRACE):
            try:
                if not self._closed:
                    self._closed = True
                    await self._stream.send_all(self._ws.send_close(code, reason))
                    while True:
                        event = self._ws.next_event()
                        if isinstance(event, CloseReceived):
                            break
                        if event is NEED_DATA:
                            data = await self._stream.receive_some(READ_SIZE)
                            self._ws.receive_data(data)
                            if not data:
                                break
            except HopxError:
                _logger.debug("error while closing WebSocket %s", self.path, exc_info=True)
        await self._close_stream()

    async def abort(self, code: int = 1000, reason: str = "timed out") -> None:
        """Drop the connection without waiting for the peer: a close frame with ``code`` and
        ``reason`` is sent if it can be at once, then the stream is closed. For a peer that
        stopped answering in time; shielded from cancellation, and bounded."""
        if self._stream_closed:
            return
        with self._backend.shielded(ABORT_GRACE):
            try:
                if not self._closed:
                    self._closed = True
                    await self._stream.send_all(self._ws.send_close(code, reason), ABORT_GRACE)
            except HopxError:
                _logger.debug("could not send a close frame on %s", self.path, exc_info=True)
        await self._close_stream()

    async def _close_stream(self) -> None:
        if self._stream_closed:
            return
        self._stream_closed = True
        self._closed = True
        with self._backend.shielded(CLOSE_GRACE):
            try:
                await self._stream.aclose()
            except HopxError:
                _logger.debug("error while closing the stream of %s", self.path, exc_info=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
