"""A WebSocket over an anyio byte stream, driven by the :class:`WebSocket` machine.

A pump task reads frames, answers pings and close frames, and queues text for the handler;
sends are serialised so an automatic reply never interleaves with a message.
"""

from __future__ import annotations

import math

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from hopx_proto import NEED_DATA, ProtocolError, RemoteProtocolError
from hopx_proto.streams import (
    BinaryMessage,
    CloseReceived,
    Ping,
    TextMessage,
    WebSocket,
    WebSocketState,
)

from .text import sendable

__all__ = ["WSChannel"]

_IO_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)

#: Bytes of UTF-8 a close reason may hold (RFC 6455: 125 of payload, 2 of them the code).
_MAX_REASON = 123


def _close_reason(reason: str) -> str:
    """``reason`` as a close frame can carry it: lone surrogates escaped, cut to
    :data:`_MAX_REASON` bytes at a character boundary."""
    text: str = sendable(reason)
    return text.encode()[:_MAX_REASON].decode("utf-8", "ignore")


class WSChannel:
    """An open server-side WebSocket.

    Use it as a context manager: leaving the block releases the message queue, whichever
    way the session ended.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, ws: WebSocket, *, write_timeout: float
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._lock = anyio.Lock()
        self._write_timeout = write_timeout
        send, receive = anyio.create_memory_object_stream[str | bytes](math.inf)
        self._inbox_send: MemoryObjectSendStream[str | bytes] = send
        self.inbox: MemoryObjectReceiveStream[str | bytes] = receive
        #: Set once the peer is gone (close frame, EOF or a protocol error).
        self.peer_gone = anyio.Event()
        self._close_sent = False

    def __enter__(self) -> WSChannel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        async with self._lock:
            with anyio.fail_after(self._write_timeout):
                await self._stream.send(data)

    async def pump(self) -> None:
        """Read until the peer closes; then the inbox ends and :attr:`peer_gone` is set."""
        try:
            while True:
                try:
                    data = await self._stream.receive(65536)
                except _IO_ERRORS:
                    data = b""
                try:
                    self._ws.receive_data(data)
                    while (event := self._ws.next_event()) is not NEED_DATA:
                        if isinstance(event, TextMessage):
                            await self._inbox_send.send(event.text)
                        elif isinstance(event, BinaryMessage):
                            await self._inbox_send.send(event.data)
                        elif isinstance(event, Ping):
                            await self._write(self._ws.data_to_send())
                        elif isinstance(event, CloseReceived):
                            await self._reply_close()
                            return
                except RemoteProtocolError as exc:
                    await self._send_close_quietly(exc.close_code or 1002)
                    return
                if not data:
                    return
        except (*_IO_ERRORS, TimeoutError, ProtocolError):
            return
        finally:
            self.peer_gone.set()
            self._inbox_send.close()

    async def _reply_close(self) -> None:
        reply = self._ws.data_to_send()
        if reply:
            self._close_sent = True
            try:
                await self._write(reply)
            except (*_IO_ERRORS, TimeoutError):
                pass

    async def _send_close_quietly(self, code: int) -> None:
        try:
            data = self._ws.send_close(code)
        except ProtocolError:
            return
        self._close_sent = True
        try:
            await self._write(data)
        except (*_IO_ERRORS, TimeoutError):
            pass

    async def send_text(self, text: str) -> bool:
        """Send one text message; False if the peer is gone."""
        if self.peer_gone.is_set() or self._ws.state is not WebSocketState.OPEN:
            return False
        try:
            data = self._ws.send_text(text)
        except ProtocolError:
            return False
        try:
            await self._write(data)
        except (*_IO_ERRORS, TimeoutError):
            self.peer_gone.set()
            return False
        return True

    async def receive(self, patience: float) -> str | bytes | None:
        """The next message from the peer, or None when it has gone (or stayed silent for
        ``patience`` seconds)."""
        with anyio.move_on_after(patience):
            try:
                return await self.inbox.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return None
        return None

    def release(self) -> None:
        """Drop the message queue (after the session and the pump have ended)."""
        self._inbox_send.close()
        self.inbox.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once) unless the peer already went away."""
        if self._close_sent or self._ws.state is not WebSocketState.OPEN:
            return
        try:
            data = self._ws.send_close(code, _close_reason(reason))
        except ProtocolError:
            return
        self._close_sent = True
        try:
            await self._write(data)
        except (*_IO_ERRORS, TimeoutError):
            pass
