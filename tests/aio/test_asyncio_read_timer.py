"""hopx_asyncio's read deadlines: one timer serves a run of reads, and each read still gets
exactly its own deadline (a later one is not cut short, an earlier one is not missed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hopx_asyncio._stream import AsyncioByteStream, open_stream
from hopx_proto import TimeoutError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A server that echoes each chunk back, after the delay its first byte gives in tenths
    of a second."""

    writers: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(data[0] / 10)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    for writer in writers:
        writer.close()
    await server.wait_closed()
    for writer in writers:
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def connect(port: int) -> AsyncioByteStream:
    return await open_stream("127.0.0.1", port, tls=None, server_hostname=None)


async def test_a_run_of_reads_with_deadlines_arms_one_timer(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = await connect(echo)
    loop = asyncio.get_running_loop()
    armed: list[Any] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(callback, "__self__", None) is stream.protocol or args:
            armed.append(callback)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    try:
        for i in range(50):
            await stream.send_all(bytes([0, i]))
            assert await stream.receive_some(2, timeout=30) == bytes([0, i])
    finally:
        monkeypatch.undo()
        await stream.aclose()
    # one read after the other, each with a deadline later than the last: a timer per read
    # before, one for the whole run now
    assert len(armed) <= 2, len(armed)


async def test_a_later_deadline_outlives_the_timer_of_an_earlier_read(echo: int) -> None:
    stream = await connect(echo)
    try:
        await stream.send_all(b"\x00a")
        assert await stream.receive_some(2, timeout=0.05) == b"\x00a"
        # the timer armed for the first read fires long before this reply: it must re-arm
        # for this read's deadline, not end the read
        await stream.send_all(b"\x03b")
        assert await stream.receive_some(2, timeout=60) == b"\x03b"
    finally:
        await stream.aclose()


async def test_an_earlier_deadline_replaces_a_later_timer(echo: int) -> None:
    stream = await connect(echo)
    try:
        await stream.send_all(b"\x00a")
        assert await stream.receive_some(2, timeout=3600) == b"\x00a"
        # the timer of the first read is an hour away; this read's deadline comes first
        await stream.send_all(b"\x32b")  # echoed after 5 s
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stream.receive_some(2, timeout=0.1), timeout=30)
    finally:
        await stream.aclose()


async def test_closing_drops_the_timer(echo: int) -> None:
    stream = await connect(echo)
    await stream.send_all(b"\x00a")
    assert await stream.receive_some(2, timeout=3600) == b"\x00a"
    await stream.aclose()
    timer = stream.protocol.read_timer
    assert timer is None
