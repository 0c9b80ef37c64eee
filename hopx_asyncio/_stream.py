"""A byte stream on asyncio's own transports, for the hot path of every connection.

anyio's asyncio streams resume the transport before each read and pause it after, two
``epoll_ctl`` calls and a wake-up per read. This stream lets the transport read ahead and
pauses it only past a high-water mark, so a busy stream costs one ``recv`` per chunk and
nothing more. The transport reads into one buffer per connection (a buffered protocol), not
into a new 256 KiB object per read: allocations that size are mapped and unmapped by the C
allocator each time, a page fault for every page the data touches. TLS (direct or through a
proxy tunnel) is asyncio's own ``start_tls`` on the same protocol.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from hopx_io import MAX_CHUNK
from hopx_proto import NetworkError, TimeoutError

__all__ = ["AsyncioByteStream", "open_stream"]

#: Bytes queued before the transport stops reading, and the level at which it reads again.
HIGH_WATER = 1 << 20
LOW_WATER = 256 << 10
#: The receive buffer's starting size (one read hands out at most ``MAX_CHUNK`` of it).
BUFFER_SIZE = 256 << 10
#: Free space below which the buffer is compacted (or grown) before the next read.
MIN_SPACE = 16 << 10
#: Seconds before the next address is tried while earlier attempts go on (RFC 8305).
ATTEMPT_DELAY = 0.25
#: Seconds a TLS close may take to exchange close_notify before the socket is dropped.
CLOSE_GRACE = 1.0


class _Protocol(asyncio.BufferedProtocol):
    """Keeps what the transport reads in one buffer (unread bytes are ``buffer[start:end]``)
    and wakes the one reader and the one writer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray(BUFFER_SIZE)
        self.start = 0
        self.end = 0
        self.eof = False
        self.error: BaseException | None = None
        self.read_paused = False
        self.write_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        # The read deadline's timer, kept from one read to the next (see wait_readable).
        self.read_deadline: float | None = None
        self.read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    @property
    def queued(self) -> int:
        """Bytes received and not yet read."""
        return self.end - self.start

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer = self.buffer
        if len(buffer) - self.end < MIN_SPACE:
            unread = self.end - self.start
            if self.start:  # move the unread bytes to the front
                buffer[:unread] = buffer[self.start : self.end]
            else:  # full of unread bytes (below the high-water mark): grow
                self.buffer = buffer = buffer + bytes(len(buffer))
            self.start, self.end = 0, unread
        return memoryview(buffer)[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        if self.end - self.start >= HIGH_WATER and not self.read_paused:
            assert self.transport is not None
            self.read_paused = True
            self.transport.pause_reading()
        self._wake("read_waiter")

    def eof_received(self) -> bool:
        self.eof = True
        self._wake("read_waiter")
        return False  # let the transport close itself: nothing is sent after the peer's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None
        if exc is not None and self.error is None:
            self.error = exc
        self._wake("read_waiter")
        self._wake("drain_waiter")
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake("drain_waiter")

    def _wake(self, name: str) -> None:
        waiter: asyncio.Future[None] | None = getattr(self, name)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, name: str, deadline: float | None) -> None:
        """Until woken, or :class:`TimeoutError` at ``deadline`` (loop time)."""
        waiter: asyncio.Future[None] = self.loop.create_future()
        setattr(self, name, waiter)
        timer = None if deadline is None else self.loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            setattr(self, name, None)
            if timer is not None:
                timer.cancel()

    async def wait_readable(self, deadline: float | None) -> None:
        """Until bytes (or EOF) arrive, or :class:`TimeoutError` at ``deadline`` (loop time).

        Each read of a busy stream has a later deadline than the one before. Rather than a
        timer made and cancelled per read (a heap push and a handle each), one timer stays
        armed across reads: when it fires before the current read's deadline, it re-arms
        itself for that deadline; only an earlier deadline replaces it.
        """
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.read_waiter = waiter
        self.read_deadline = deadline
        if deadline is not None:
            timer = self.read_timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self.read_timer = self.loop.call_at(deadline, self._read_timer_fired)
        try:
            await waiter
        finally:
            self.read_waiter = None
            self.read_deadline = None

    def _read_timer_fired(self) -> None:
        self.read_timer = None
        deadline, waiter = self.read_deadline, self.read_waiter
        if deadline is None or waiter is None or waiter.done():
            return  # no read waits with a deadline: the next one arms a timer afresh
        if self.loop.time() < deadline:
            self.read_timer = self.loop.call_at(deadline, self._read_timer_fired)
        else:
            waiter.set_exception(TimeoutError("the deadline passed"))


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("the deadline passed"))


class AsyncioByteStream:
    """An asyncio transport as a :class:`hopx_proto.aio.ByteStream`: EOF is ``b""`` and
    resets are :class:`NetworkError`."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self.transport = transport
        self.protocol = protocol

    def _lost(self, doing: str) -> NetworkError:
        error = self.protocol.error
        detail = repr(error) if error is not None else "the connection is closed"
        exc = NetworkError(f"connection lost while {doing}: {detail}")
        exc.__cause__ = error
        return exc

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        protocol = self.protocol
        if self.transport.is_closing() or protocol.lost.done():
            raise self._lost("sending")
        self.transport.write(data)
        if protocol.write_paused:
            deadline = None if timeout is None else protocol.loop.time() + timeout
            while protocol.write_paused:
                if protocol.lost.done():
                    raise self._lost("sending")
                try:
                    await protocol.wait("drain_waiter", deadline)
                except TimeoutError:
                    raise TimeoutError(
                        f"sending took longer than {timeout:g} s", request_sent=False
                    ) from None
        if protocol.error is not None:
            raise self._lost("sending")

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self.protocol
        if protocol.start == protocol.end:
            deadline = None if timeout is None else protocol.loop.time() + timeout
            while protocol.start == protocol.end:
                if protocol.error is not None:
                    raise self._lost("receiving")
                if protocol.eof:
                    return b""
                try:
                    await protocol.wait_readable(deadline)
                except TimeoutError:
                    raise TimeoutError(f"nothing received within {timeout:g} s") from None
        start = protocol.start
        stop = min(protocol.end, start + max_bytes, start + MAX_CHUNK)
        with memoryview(protocol.buffer) as view:
            chunk = bytes(view[start:stop])
        if stop == protocol.end:
            protocol.start = protocol.end = 0
        else:
            protocol.start = stop
        if protocol.read_paused and protocol.queued <= LOW_WATER:
            protocol.read_paused = False
            self.transport.resume_reading()
        return chunk

    def is_stale(self) -> bool:
        protocol = self.protocol
        return (
            protocol.eof
            or protocol.error is not None
            or protocol.start != protocol.end
            or self.transport.is_closing()
        )

    async def aclose(self) -> None:
        """Close the connection and wait until the socket is released.

        Plain TCP flushes what is queued and closes; TLS gets :data:`CLOSE_GRACE` seconds to
        say goodbye before the socket is dropped. If the caller is cancelled meanwhile, the
        socket is dropped at once.
        """
        protocol = self.protocol
        if protocol.lost.done():
            return
        if not self.transport.is_closing():
            self.transport.close()
        abort = protocol.loop.call_later(CLOSE_GRACE, self.transport.abort)
        try:
            await asyncio.shield(protocol.lost)
        except BaseException:
            self.transport.abort()
            raise
        finally:
            abort.cancel()

    def abort(self) -> None:
        """Drop the connection (for a collected, unclosed client, perhaps on another thread):
        its loop releases the socket on its next turn; a closed loop cannot, and asyncio's own
        finalizer then does."""
        if self.protocol.lost.done():
            return
        try:
            self.protocol.loop.call_soon_threadsafe(self.transport.abort)
        except RuntimeError:  # the loop is closed
            pass

    async def start_tls(self, tls: ssl.SSLContext, server_hostname: str) -> AsyncioByteStream:
        """This connection with TLS on top (the protocol, and its queue, stay the same)."""
        protocol = self.protocol
        if protocol.queued:
            raise NetworkError("the peer sent data before the TLS handshake", request_sent=False)
        try:
            transport = await protocol.loop.start_tls(
                self.transport, protocol, tls, server_hostname=server_hostname
            )
        except OSError as exc:
            self.transport.abort()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc}", request_sent=False
            ) from exc
        except BaseException:
            self.transport.abort()
            raise
        if transport is None:  # the peer closed during the handshake
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: the connection closed",
                request_sent=False,
            )
        protocol.transport = transport
        return AsyncioByteStream(transport, protocol)


def _interleave(infos: list[Any]) -> list[Any]:
    """Addresses alternating between families, each family in resolver order (RFC 8305)."""
    by_family: dict[int, list[Any]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    out: list[Any] = []
    while queues:
        out.extend(queue.pop(0) for queue in queues)
        queues = [queue for queue in queues if queue]
    return out


async def _connect_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A connected socket: one attempt per address, a new one started every
    :data:`ATTEMPT_DELAY` seconds while the others go on, the first to connect wins.

    Every socket but the winner is closed once its attempt has finished, cancelled or not, so
    nothing leaks when the caller is cancelled (which the standard library's happy-eyeballs
    race does on Python 3.11).
    """
    infos = _interleave(await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    if not infos:
        raise OSError(f"no address for {host}")
    attempts: dict[asyncio.Future[None], socket.socket] = {}
    errors: list[BaseException] = []

    def start(info: Any) -> None:
        family, kind, proto, _, address = info
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            task = asyncio.ensure_future(loop.sock_connect(sock, address))
        except BaseException:
            sock.close()
            raise
        attempts[task] = sock

    def close_when_done(task: asyncio.Future[None]) -> None:
        sock = attempts.pop(task)
        task.add_done_callback(lambda _task: sock.close())
        task.cancel()

    try:
        start(infos.pop(0))
        while attempts:
            done, _ = await asyncio.wait(
                attempts, timeout=ATTEMPT_DELAY if infos else None,
                return_when=asyncio.FIRST_COMPLETED,
            )  # fmt: skip
            for task in done:
                if task.cancelled():
                    close_when_done(task)
                    continue
                error = task.exception()
                if error is None:
                    return attempts.pop(task)
                errors.append(error)
                close_when_done(task)
            if infos:
                start(infos.pop(0))
        raise (
            errors[0]
            if len(errors) == 1
            else OSError(f"every address of {host} failed: " + "; ".join(str(e) for e in errors))
        )
    finally:
        for task in list(attempts):
            close_when_done(task)


async def open_stream(
    host: str, port: int, *, tls: ssl.SSLContext | None, server_hostname: str | None
) -> AsyncioByteStream:
    """Connect (racing the resolved addresses), with TLS if ``tls``."""
    loop = asyncio.get_running_loop()
    try:
        sock = await _connect_socket(loop, host, port)
        try:
            transport, protocol = await loop.create_connection(
                lambda: _Protocol(loop),
                sock=sock,
                ssl=tls,
                server_hostname=(server_hostname or host) if tls is not None else None,
            )
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        if tls is not None and isinstance(exc, ssl.SSLError):
            name = server_hostname or host
            raise NetworkError(
                f"TLS handshake with {name} failed: {exc}", request_sent=False
            ) from exc
        raise NetworkError(f"cannot connect to {host}:{port}: {exc}", request_sent=False) from exc
    assert isinstance(transport, asyncio.Transport)
    return AsyncioByteStream(transport, protocol)
