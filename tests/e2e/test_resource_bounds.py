"""200 sandboxes with streams and terminals leave no file descriptor behind (both loops).

The emulator runs in a child process, so ``/proc/self/fd`` counts only the client's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from .emulator_process import EmulatorProcess, emulator_process

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd"),
]

SANDBOXES = 200
CONCURRENCY = 20


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    # Isolation does not matter for the client's descriptors; plain processes start faster.
    with emulator_process(isolation="none") as server:
        yield server


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def one_sandbox(adapter: Any, emulator: EmulatorProcess, index: int) -> None:
    cls = adapter.AsyncSandbox
    async with cls.create(
        template="base", api_key=emulator.api_key, base_url=emulator.base_url
    ) as sb:
        if index % 2 == 0:
            events = [e async for e in sb.run_code_stream("echo hi", language="bash")]
            assert events[-1]["type"] == "complete"
        else:
            async with sb.run_code_stream("echo start; sleep 30", language="bash") as stream:
                async for event in stream:
                    if event["type"] == "stdout":
                        break
        if index % 4 < 2:
            async with await sb.terminal.connect() as term:
                await term.send_input("exit\n")
                async for _event in term.iter_output():
                    pass
        else:
            term = await sb.terminal.connect()
            await term.aclose()
        if index % 10 == 0:
            with anyio.move_on_after(0.01):
                await sb.run_code("import time; time.sleep(5)")


async def test_no_descriptor_leak(adapter: Any, emulator: EmulatorProcess) -> None:
    # Warm up once so that lazily created process-wide resources exist before counting.
    await one_sandbox(adapter, emulator, 0)
    before = open_fds()
    limiter = anyio.Semaphore(CONCURRENCY)

    async def guarded(index: int) -> None:
        async with limiter:
            await one_sandbox(adapter, emulator, index)

    with anyio.fail_after(240):
        async with anyio.create_task_group() as tg:
            for index in range(SANDBOXES):
                tg.start_soon(guarded, index)
    await anyio.lowlevel.checkpoint()
    after = open_fds()
    assert after <= before, f"{after - before} file descriptors leaked"
