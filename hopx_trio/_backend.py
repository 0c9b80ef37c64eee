"""The trio implementation of :class:`hopx_proto.aio.Backend`.

trio and ssl are imported by the methods that use them (a trio program has trio loaded
already), so importing the package stays cheap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from hopx_proto._errors import NetworkError, TimeoutError
from hopx_proto.aio._backend import ByteStream, Deadline, LockLike

if TYPE_CHECKING:
    import ssl

    import trio

__all__ = ["TrioBackend", "TrioByteStream"]

T = TypeVar("T")

_default_tls: ssl.SSLContext | None = None

#: The most one read asks for (below the size at which the C allocator maps memory of its own).
MAX_CHUNK = 120 << 10


def _network_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the connection is unusable."""
    import ssl

    import trio

    return (OSError, ssl.SSLError, trio.BrokenResourceError, trio.ClosedResourceError)


def _socket_is_readable(fd: int) -> bool:
    """Would reading ``fd`` not block (data, EOF or an error waiting)? A closed descriptor
    counts as readable: there is nothing to wait for on it."""
    if fd < 0:
        return True
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class _Uncontended:
    """A trio lock or semaphore whose uncontended acquire does not yield to the scheduler.

    trio's own acquire is a checkpoint, a full scheduler round even when the lock is free;
    the pool takes one per request. The calls that follow it (the socket's send and receive)
    are checkpoints anyway, so cancellation is still seen at once. A contended acquire waits
    in trio's fair queue as usual.
    """

    def __init__(self, inner: trio.Lock | trio.Semaphore) -> None:
        self._inner = inner

    async def __aenter__(self) -> None:
        import trio

        try:
            self._inner.acquire_nowait()
        except trio.WouldBlock:
            await self._inner.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._inner.release()


class TrioByteStream:
    """A trio stream (TCP, maybe TLS) with errors mapped to :class:`NetworkError`."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        import trio

        try:
            if timeout is None:
                await self.stream.send_all(data)
                return
            with trio.move_on_after(timeout):
                await self.stream.send_all(data)
                return
        except _network_errors() as exc:
            raise NetworkError(f"connection lost while sending: {exc!r}") from exc
        raise TimeoutError(f"sending took longer than {timeout:g} s", request_sent=False)

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        import trio

        # trio allocates the whole size asked for before reading; past 128 KiB the C allocator
        # maps (and page-faults) fresh memory for it on every read.
        max_bytes = min(max_bytes, MAX_CHUNK)
        try:
            if timeout is None:
                return bytes(await self.stream.receive_some(max_bytes))
            with trio.move_on_after(timeout):
                return bytes(await self.stream.receive_some(max_bytes))
        except _network_errors() as exc:
            raise NetworkError(f"connection lost while receiving: {exc!r}") from exc
        raise TimeoutError(f"nothing received within {timeout:g} s")

    def is_stale(self) -> bool:
        import trio

        stream: object = self.stream
        while isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        if not isinstance(stream, trio.SocketStream):
            return False
        return _socket_is_readable(stream.socket.fileno())

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        except _network_errors():
            pass


class TrioBackend:
    """Sockets, TLS, deadlines and locks from trio."""

    name = "trio"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        import trio

        try:
            sock = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot connect to {host}:{port}: {exc}", request_sent=False
            ) from exc
        stream = TrioByteStream(sock)
        if tls is None:
            return stream
        return await self.start_tls(stream, tls=tls, server_hostname=server_hostname or host)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        import ssl

        import trio

        if not isinstance(stream, TrioByteStream) or not isinstance(tls, ssl.SSLContext):
            raise NetworkError("TLS needs a trio stream and an ssl.SSLContext", request_sent=False)
        wrapped = trio.SSLStream(
            stream.stream, tls, server_hostname=server_hostname, https_compatible=True
        )
        try:
            await wrapped.do_handshake()
        except _network_errors() as exc:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc.__cause__ or exc}",
                request_sent=False,
            ) from exc
        return TrioByteStream(wrapped)

    def default_tls(self) -> object:
        global _default_tls
        import ssl

        if _default_tls is None:
            _default_tls = ssl.create_default_context()
        return _default_tls

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> Deadline:
        import trio

        return trio.CancelScope() if seconds is None else trio.move_on_after(seconds)

    def shielded(self, seconds: float) -> Deadline:
        import trio

        scope = trio.move_on_after(seconds)
        scope.shield = True
        return scope

    def lock(self) -> LockLike:
        import trio

        return _Uncontended(trio.Lock())

    def semaphore(self, value: int) -> LockLike:
        import trio

        return _Uncontended(trio.Semaphore(value))

    def event(self) -> trio.Event:
        import trio

        return trio.Event()

    def monotonic(self) -> float:
        import trio

        return trio.current_time()

    def wall_clock(self) -> float:
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        return os.urandom(count)  # what secrets.token_bytes returns

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        import trio

        return await trio.to_thread.run_sync(fn, *args)
