"""The trio implementation of :class:`hopx_proto.aio.Backend`: trio's sockets, TLS streams,
cancel scopes, locks and worker threads, and trio's clock."""

from __future__ import annotations

import os
import select
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from hopx_io import MAX_CHUNK, BackendBase, socket_is_readable
from hopx_proto import NetworkError, TimeoutError
from hopx_proto.aio import ByteStream, Deadline, LockLike

__all__ = ["TrioBackend", "TrioByteStream"]

T = TypeVar("T")

#: The exceptions that mean the connection is unusable.
NETWORK_ERRORS = (OSError, ssl.SSLError, trio.BrokenResourceError, trio.ClosedResourceError)


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
        try:
            self._inner.acquire_nowait()
        except trio.WouldBlock:
            await self._inner.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._inner.release()


def _readable(fd: int) -> bool:
    """Whether a read of the socket ``fd`` returns at once: bytes, EOF or an error wait (a
    closed socket, ``fd < 0``, fails at once too)."""
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class TrioByteStream:
    """A trio stream (TCP, maybe TLS) with errors mapped to :class:`NetworkError`.

    Args:
        stream: the connected trio stream.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        # The socket of a plain TCP stream (``None`` under TLS). A cancel scope per read and
        # per write is most of what a small request costs here, and a wait that cannot
        # block needs none: a write the socket takes whole, a read with bytes (or EOF)
        # already waiting. Those go without one; only a real wait gets its deadline.
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Write all of ``data``.

        Raises:
            TimeoutError: the write took longer than ``timeout`` seconds.
            NetworkError: the connection failed.
        """
        try:
            if timeout is None:
                await self.stream.send_all(data)
                return
            if self._socket is not None and data:
                # As trio's own socket calls do: a cancel point, the write attempted at once,
                # then a schedule point. Only what the socket did not take waits, bounded.
                await trio.lowlevel.checkpoint_if_cancelled()
                try:
                    sent = os.write(self._socket.fileno(), data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return
                data = data[sent:]
            with trio.move_on_after(timeout):
                await self.stream.send_all(data)
                return
        except NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while sending: {exc!r}") from exc
        raise TimeoutError(f"sending took longer than {timeout:g} s", request_sent=False)

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Up to ``max_bytes`` received bytes; ``b""`` once the peer closed its side.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` seconds.
            NetworkError: the connection failed.
        """
        # trio allocates the whole size asked for before reading; past 128 KiB the C allocator
        # maps (and page-faults) fresh memory for it on every read.
        max_bytes = min(max_bytes, MAX_CHUNK)
        try:
            if timeout is None or (self._socket is not None and _readable(self._socket.fileno())):
                return bytes(await self.stream.receive_some(max_bytes))
            with trio.move_on_after(timeout):
                return bytes(await self.stream.receive_some(max_bytes))
        except NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while receiving: {exc!r}") from exc
        raise TimeoutError(f"nothing received within {timeout:g} s")

    def is_stale(self) -> bool:
        """Whether the idle connection was closed or reset by the peer, or has unread bytes."""
        stream = self._tcp()
        return stream is not None and socket_is_readable(stream.socket.fileno())

    def _tcp(self) -> trio.SocketStream | None:
        """The TCP stream under any TLS layers (``None`` for another kind of stream)."""
        stream: object = self.stream
        while isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        return stream if isinstance(stream, trio.SocketStream) else None

    async def aclose(self) -> None:
        """Close the stream (errors while closing are ignored)."""
        try:
            await self.stream.aclose()
        except NETWORK_ERRORS:
            pass

    def abort(self) -> None:
        """Close the socket now, without a TLS goodbye (for a collected, unclosed client)."""
        stream = self._tcp()
        if stream is None:
            return
        sock = stream.socket
        if sock.fileno() == -1:
            return
        try:
            sock.close()  # tells trio first, which needs a trio run
        except RuntimeError:
            os.close(sock.detach())  # outside one: nothing of trio waits on it


class TrioBackend(BackendBase):
    """Sockets, TLS, deadlines and locks from trio (``environ`` as for
    :class:`hopx_io.BackendBase`)."""

    name = "trio"

    async def open_tcp(self, host: str, port: int) -> TrioByteStream:
        """A TCP connection to ``host:port`` (happy eyeballs); :meth:`connect_tcp` (of
        :class:`hopx_io.BackendBase`) adds TLS.

        Raises:
            NetworkError: the connection failed (``request_sent=False``).
        """
        try:
            sock = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot connect to {host}:{port}: {exc}", request_sent=False
            ) from exc
        return TrioByteStream(sock)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        """TLS with ``tls`` (an ``ssl.SSLContext``) over the connected ``stream``, checking
        ``server_hostname``.

        Raises:
            NetworkError: the handshake failed (the stream is closed), or the arguments are
                not a trio stream and an ``ssl.SSLContext``.
        """
        if not isinstance(stream, TrioByteStream) or not isinstance(tls, ssl.SSLContext):
            raise NetworkError("TLS needs a trio stream and an ssl.SSLContext", request_sent=False)
        wrapped = trio.SSLStream(
            stream.stream, tls, server_hostname=server_hostname, https_compatible=True
        )
        try:
            await wrapped.do_handshake()
        except NETWORK_ERRORS as exc:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc.__cause__ or exc}",
                request_sent=False,
            ) from exc
        return TrioByteStream(wrapped)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``."""
        await trio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> Deadline:
        """A cancel scope that ends its block after ``seconds`` (``None``: never)."""
        return trio.CancelScope() if seconds is None else trio.move_on_after(seconds)

    def shielded(self, seconds: float) -> Deadline:
        """A cancel scope shielded from outer cancellation that gives up after ``seconds``."""
        scope = trio.move_on_after(seconds)
        scope.shield = True
        return scope

    def lock(self) -> LockLike:
        """A trio lock whose uncontended acquire does not yield."""
        return _Uncontended(trio.Lock())

    def semaphore(self, value: int) -> LockLike:
        """A trio semaphore of ``value`` slots whose uncontended acquire does not yield."""
        return _Uncontended(trio.Semaphore(value))

    def monotonic(self) -> float:
        """trio's clock (the one its deadlines use)."""
        return trio.current_time()

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread; a cancelled caller waits for it to finish."""
        return await trio.to_thread.run_sync(fn, *args)
