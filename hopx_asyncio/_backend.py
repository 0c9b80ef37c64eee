"""The anyio implementation of :class:`hopx_proto.aio.Backend` (asyncio, or trio via anyio).

Deadlines, locks and threads come from anyio. Connections on an asyncio loop are asyncio's own
transports (:mod:`hopx_asyncio._stream`), which read ahead without the per-read bookkeeping of
anyio's streams; under another anyio backend they are anyio streams.

anyio and ssl are imported by the methods that use them, on the first connection, deadline or
lock, so that importing the package stays cheap; from then on the import is a dictionary look-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from hopx_proto._errors import NetworkError, TimeoutError
from hopx_proto.aio._backend import ByteStream, Deadline, EventLike, LockLike

if TYPE_CHECKING:
    import ssl

    import anyio
    import anyio.abc

__all__ = ["AnyioBackend", "AnyioByteStream"]

T = TypeVar("T")

_default_tls: ssl.SSLContext | None = None


def _network_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the connection is unusable."""
    import ssl

    import anyio

    return (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.ClosedResourceError)


def _end_of_stream() -> type[BaseException]:
    import anyio

    return anyio.EndOfStream


def _on_asyncio() -> bool:
    """Is this an asyncio event loop (rather than trio run through anyio)?"""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _socket_is_readable(fd: int) -> bool:
    """Would reading ``fd`` not block (data, EOF or an error waiting)? A closed descriptor
    counts as readable: there is nothing to wait for on it."""
    if fd < 0:
        return True
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class AnyioByteStream:
    """An anyio byte stream with EOF as ``b""`` and errors mapped to :class:`NetworkError`."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        import anyio

        try:
            with anyio.move_on_after(timeout):
                await self.stream.send(data)
                return
        except _network_errors() as exc:
            raise NetworkError(f"connection lost while sending: {exc!r}") from exc
        raise TimeoutError(f"sending took longer than {timeout:g} s", request_sent=False)

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        import anyio

        try:
            with anyio.move_on_after(timeout):
                return await self.stream.receive(max_bytes)
        except _end_of_stream():
            return b""
        except _network_errors() as exc:
            raise NetworkError(f"connection lost while receiving: {exc!r}") from exc
        raise TimeoutError(f"nothing received within {timeout:g} s")

    def is_stale(self) -> bool:
        import anyio.abc

        sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        return sock is not None and _socket_is_readable(sock.fileno())

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        except _network_errors():
            pass


class AnyioBackend:
    """Sockets, TLS, deadlines and locks from anyio."""

    name = "asyncio"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        if _on_asyncio():
            from hopx_asyncio._stream import open_stream

            tls_context = None
            if tls is not None:
                import ssl

                if not isinstance(tls, ssl.SSLContext):
                    raise NetworkError("TLS needs an ssl.SSLContext", request_sent=False)
                tls_context = tls
            return await open_stream(host, port, tls=tls_context, server_hostname=server_hostname)
        import anyio

        try:
            sock = await anyio.connect_tcp(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot connect to {host}:{port}: {exc}", request_sent=False
            ) from exc
        stream = AnyioByteStream(sock)
        if tls is None:
            return stream
        return await self.start_tls(stream, tls=tls, server_hostname=server_hostname or host)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        import ssl

        from hopx_asyncio._stream import AsyncioByteStream

        if isinstance(stream, AsyncioByteStream):
            if not isinstance(tls, ssl.SSLContext):
                await stream.aclose()
                raise NetworkError("TLS needs an ssl.SSLContext", request_sent=False)
            return await stream.start_tls(tls, server_hostname)

        import anyio
        import anyio.streams.tls

        if not isinstance(stream, AnyioByteStream) or not isinstance(tls, ssl.SSLContext):
            raise NetworkError(
                "TLS needs an anyio stream and an ssl.SSLContext", request_sent=False
            )
        try:
            wrapped = await anyio.streams.tls.TLSStream.wrap(
                stream.stream, hostname=server_hostname, ssl_context=tls, standard_compatible=False
            )
        except _network_errors() as exc:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc}", request_sent=False
            ) from exc
        return AnyioByteStream(wrapped)

    def default_tls(self) -> object:
        global _default_tls
        import ssl

        if _default_tls is None:
            _default_tls = ssl.create_default_context()
        return _default_tls

    async def sleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> Deadline:
        import anyio

        return anyio.move_on_after(seconds)

    def shielded(self, seconds: float) -> Deadline:
        import anyio

        return anyio.move_on_after(seconds, shield=True)

    # On asyncio, asyncio's own primitives: an uncontended acquire returns at once, where
    # anyio's yields to the event loop first (one loop turn per request through the pool).

    def lock(self) -> LockLike:
        if _on_asyncio():
            import asyncio

            return asyncio.Lock()
        import anyio

        return anyio.Lock()

    def semaphore(self, value: int) -> LockLike:
        if _on_asyncio():
            import asyncio

            return asyncio.Semaphore(value)
        import anyio

        return anyio.Semaphore(value)

    def event(self) -> EventLike:
        if _on_asyncio():
            import asyncio

            return asyncio.Event()
        import anyio

        return anyio.Event()

    def monotonic(self) -> float:
        import anyio

        return anyio.current_time()

    def wall_clock(self) -> float:
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        return os.urandom(count)  # what secrets.token_bytes returns

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(fn, *args)
