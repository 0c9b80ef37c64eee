"""One sandbox's huge file work does not hold the server: while it lists or removes a
directory of 100,000 entries, another sandbox's ``/health`` keeps being answered.

These assert the mechanism (replies to the other sandbox arrive while the big request is in
progress), not a latency: ``bench/emulator_fairness.py`` measures the delay. Bounded in time
and count; loopback only.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import pytest
from test_server_support import WAIT, RawHTTP, bearer, create_sandbox

import hopx_local
from hopx_local import LocalServer
from hopx_proto._http import Request

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

KEY = "fairness-key"
ENTRIES = 100_000
#: Replies to the other sandbox that must arrive while the big request is in progress. With
#: the event loop held by the big request there is at most the one already being answered.
MIN_ANSWERED = 5


@pytest.fixture
async def local(tmp_path: pathlib.Path) -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key=KEY, state_dir=tmp_path / "state") as server:
        yield server


def _fill(directory: pathlib.Path, count: int) -> None:
    directory.mkdir()
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index in range(count):
            os.close(os.open(f"f{index:06d}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


async def _first_byte(host: str, request: Request) -> tuple[float, float]:
    """Send ``request`` on a new connection: (when it was sent, when the reply's first byte
    came), then read the reply to its end."""
    client = await RawHTTP.connect(host)
    try:
        await client.send_bytes(client.conn.send_request(request))
        sent = time.monotonic()
        with anyio.fail_after(WAIT * 4):
            first = await client.stream.receive(65536)
        arrived = time.monotonic()
        client.conn.receive_data(first)
        reply = await client.read_response()
        assert reply.status == 200, reply.body
        return sent, arrived
    finally:
        await client.aclose()


async def _answered_during(
    local: LocalServer, big: Callable[[], Awaitable[tuple[float, float]]]
) -> tuple[int, int]:
    """(answers, requests) of another sandbox's ``/health`` sent and answered while ``big``
    ran, asked back to back on one connection."""
    other = await create_sandbox(local.base_url, KEY)
    answers: list[tuple[float, float]] = []
    window: list[tuple[float, float]] = []
    client = await RawHTTP.connect(other["public_host"])
    try:
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                for _attempt in range(100_000):
                    asked = time.monotonic()
                    reply = await client.request("GET", "/health")
                    assert reply.status == 200
                    answers.append((asked, time.monotonic()))

            async def run_big() -> None:
                window.append(await big())
                tg.cancel_scope.cancel()

            tg.start_soon(ask)
            await anyio.sleep(0.2)  # the other sandbox is being answered already
            tg.start_soon(run_big)
    finally:
        await client.aclose()
    [(start, end)] = window
    inside = [1 for asked, answered in answers if asked >= start and answered <= end]
    return len(inside), len(answers)


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/files/list?path=/workspace/big"), ("DELETE", "/files/remove?path=/workspace/big")],
    ids=["list", "remove"],
)
async def test_100000_entries_do_not_hold_other_sandboxes(
    local: LocalServer, method: str, target: str
) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    live = local.fleet.live(sandbox["id"])
    assert live is not None
    big = live.runtime.layout.workspace / "big"  # on the sandbox's volume when it has one
    await anyio.to_thread.run_sync(_fill, big, ENTRIES)
    request = Request(method, target, (("host", "x"), *bearer(sandbox["auth_token"])), b"")
    inside, total = await _answered_during(
        local, lambda: _first_byte(sandbox["public_host"], request)
    )
    assert inside >= MIN_ANSWERED, (inside, total)
    # The big request did what it was asked.
    assert await anyio.to_thread.run_sync(big.exists) is (method == "GET")
