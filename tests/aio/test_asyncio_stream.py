"""hopx_asyncio's byte stream on asyncio transports, over real loopback sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme

from hopx_asyncio import _stream
from hopx_asyncio._backend import AsyncioBackend
from hopx_asyncio._stream import HIGH_WATER, AsyncioByteStream, open_stream
from hopx_proto._errors import NetworkError, TimeoutError

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settles_at(before: int) -> bool:
    """Do the descriptors come back to ``before`` (the in-process server closes its side of a
    connection a few loop turns after the client)?"""
    for _ in range(200):
        if open_fds() <= before:
            return True
        await asyncio.sleep(0.01)
    return False


async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await serve(handler)
    yield port_of(server)
    server.close()
    await server.wait_closed()


async def receive_exactly(stream: AsyncioByteStream, count: int) -> bytes:
    out = bytearray()
    while len(out) < count:
        data = await stream.receive_some(count - len(out))
        assert data, "EOF too early"
        out += data
    return bytes(out)


async def test_round_trip_and_close_release_the_socket(echo: int) -> None:
    before = open_fds()
    stream = await open_stream("127.0.0.1", echo, tls=None, server_hostname=None)
    await stream.send_all(b"hello")
    assert await receive_exactly(stream, 5) == b"hello"
    await stream.aclose()
    await stream.aclose()  # idempotent
    assert await settles_at(before)


@pytest.mark.parametrize("read_size", [1000, 64 * 1024, 1 << 20])
async def test_reads_ahead_but_stops_at_the_high_water_mark(read_size: int) -> None:
    total = 6 * HIGH_WATER
    payload = os.urandom(total)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await serve(handler)
    stream = await open_stream("127.0.0.1", port_of(server), tls=None, server_hostname=None)
    received = bytearray()
    most_queued = 0
    paused = False
    slept_at = -1
    while True:
        if len(received) // 65536 != slept_at:
            # A slow reader (a pause every 64 KiB): the transport must not buffer without end.
            slept_at = len(received) // 65536
            await asyncio.sleep(0.001)
        most_queued = max(most_queued, stream.protocol.queued)
        paused = paused or stream.protocol.read_paused
        data = await stream.receive_some(read_size)
        if not data:
            break
        assert len(data) <= min(read_size, _stream.MAX_CHUNK)
        received += data
    assert bytes(received) == payload
    assert paused  # the mark was reached, and reading resumed after it
    assert stream.protocol.read_paused is False
    assert most_queued <= HIGH_WATER + 512 * 1024  # one read past the mark at most
    await stream.aclose()
    server.close()
    await server.wait_closed()


async def test_a_reset_is_a_network_error_and_eof_is_empty() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if await reader.read(1) == b"r":
            # Linger on, for zero seconds: the close sends a reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.close()

    server = await serve(handler)
    stream = await open_stream("127.0.0.1", port_of(server), tls=None, server_hostname=None)
    await stream.send_all(b"e")
    assert await stream.receive_some(10) == b""
    assert await stream.receive_some(10) == b""
    with pytest.raises(NetworkError, match="while sending"):
        await stream.send_all(b"more")
    await stream.aclose()

    stream = await open_stream("127.0.0.1", port_of(server), tls=None, server_hostname=None)
    await stream.send_all(b"r")
    with pytest.raises(NetworkError, match="while receiving"):
        await stream.receive_some(10)
    await stream.aclose()
    server.close()
    await server.wait_closed()


async def test_refused_connection_is_a_network_error_that_sent_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NetworkError, match="cannot connect") as info:
        await open_stream("127.0.0.1", port, tls=None, server_hostname=None)
    assert info.value.request_sent is False


async def test_a_slow_first_address_loses_to_the_next_one(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    stalled: list[socket.socket] = []
    real_connect = loop.sock_connect

    async def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", echo))
        return [v4, v4]  # the first one will hang

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        if not stalled:
            stalled.append(sock)
            await asyncio.sleep(3600)
        await real_connect(sock, address)

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    before = open_fds()
    started = loop.time()
    stream = await open_stream("example.test", echo, tls=None, server_hostname=None)
    assert _stream.ATTEMPT_DELAY <= loop.time() - started < 2
    await asyncio.sleep(0)  # the losing attempt finishes its cancellation
    assert stalled[0].fileno() == -1  # closed
    await stream.send_all(b"x")
    assert await receive_exactly(stream, 1) == b"x"
    await stream.aclose()
    assert await settles_at(before)


async def test_cancelling_a_connect_leaks_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))] * 3

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    before = open_fds()
    task = asyncio.ensure_future(open_stream("h.test", 1, tls=None, server_hostname=None))
    await asyncio.sleep(0.6)  # three attempts under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert await settles_at(before)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_tls_direct_and_through_start_tls(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("sandbox.test").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read(100)).upper())
        await writer.drain()
        writer.close()

    server = await serve(handler, tls=server_context)
    backend = AsyncioBackend({})
    direct = await backend.connect_tcp(
        "127.0.0.1", port_of(server), tls=client_context, server_hostname="sandbox.test"
    )
    await direct.send_all(b"direct")
    assert await direct.receive_some(100) == b"DIRECT"
    await direct.aclose()

    plain = await backend.connect_tcp("127.0.0.1", port_of(server), tls=None, server_hostname=None)
    wrapped = await backend.start_tls(plain, tls=client_context, server_hostname="sandbox.test")
    await wrapped.send_all(b"tunnel")
    assert await wrapped.receive_some(100) == b"TUNNEL"
    await wrapped.aclose()

    with pytest.raises(NetworkError, match=r"TLS handshake with other\.test failed") as info:
        await backend.connect_tcp(
            "127.0.0.1", port_of(server), tls=client_context, server_hostname="other.test"
        )
    assert info.value.request_sent is False
    server.close()
    await server.wait_closed()


async def test_reads_and_writes_are_bounded_by_their_own_timeout() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()  # reads nothing and says nothing until released
        writer.write(b"late")
        await writer.drain()
        writer.close()

    server = await serve(handler)
    stream = await open_stream("127.0.0.1", port_of(server), tls=None, server_hostname=None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match=r"nothing received within 0\.2 s"):
        await stream.receive_some(100, timeout=0.2)
    assert 0.2 <= loop.time() - started < 2
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    # The peer reads nothing: the kernel's buffers fill, the transport pauses writing, and
    # the send gives up at its deadline.
    started = loop.time()
    error: TimeoutError | None = None
    for _ in range(10_000):  # at most 655 MB; the buffers fill long before
        try:
            await stream.send_all(b"x" * 65536, timeout=0.3)
        except TimeoutError as exc:
            error = exc
            break
    assert error is not None
    assert "sending took longer than 0.3 s" in str(error)
    assert error.request_sent is False
    assert loop.time() - started < 5
    release.set()
    await stream.aclose()
    server.close()
    await server.wait_closed()
