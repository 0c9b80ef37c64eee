"""The synchronous client under load: 200 sandboxes with streams and terminals, and 16
threads sharing one Client, leave no file descriptor behind and raise nothing.

The emulator runs in a child process, so ``/proc/self/fd`` counts only the client's (and the
test's worker threads, which hold none of their own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hopx_sync import Client, PoolLimits, Sandbox, TimeoutError
from tests.e2e.emulator_process import EmulatorProcess, emulator_process

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd"),
]

SANDBOXES = 200
WORKERS = 8
THREADS = 16
ROUNDS = 4


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    # Isolation does not matter for the client's descriptors; plain processes start faster.
    with emulator_process(isolation="none") as server:
        yield server


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def one_sandbox(emulator: EmulatorProcess, index: int) -> None:
    with Sandbox.create(
        template="base", api_key=emulator.api_key, base_url=emulator.base_url
    ) as sb:
        if index % 2 == 0:
            events = list(sb.run_code_stream("echo hi", language="bash"))
            assert events[-1]["type"] == "complete"
        else:
            with sb.run_code_stream("echo start; sleep 30", language="bash") as stream:
                for event in stream:
                    if event["type"] == "stdout":
                        break
        if index % 4 < 2:
            with sb.terminal.connect() as term:
                term.send_input("exit\n")
                for _event in term.iter_output(idle_timeout=30):
                    pass
        else:
            sb.terminal.connect().close()
        if index % 10 == 0:
            with pytest.raises(TimeoutError):
                for _change in sb.files.watch("/workspace", idle_timeout=0.2):
                    pass


def test_no_descriptor_leak(emulator: EmulatorProcess) -> None:
    # Warm up once so that lazily created process-wide resources exist before counting.
    one_sandbox(emulator, 0)
    before = open_fds()
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(one_sandbox, emulator, i) for i in range(SANDBOXES)]:
            future.result(timeout=240)
    after = open_fds()
    assert after <= before, f"{after - before} file descriptors leaked"


def test_sixteen_threads_share_one_client(emulator: EmulatorProcess) -> None:
    limits = PoolLimits(max_per_host=8, max_idle_per_host=4)
    before = open_fds()
    client = Client(api_key=emulator.api_key, base_url=emulator.base_url, limits=limits)

    def work(thread: int) -> int:
        done = 0
        for round_ in range(ROUNDS):
            with Sandbox.create(template="base", client=client) as sb:
                text = f"{thread}-{round_}"
                sb.files.write("/workspace/t.txt", text)
                assert sb.files.read("/workspace/t.txt") == text
                assert sb.commands.run(f"echo {text}").stdout == f"{text}\n"
                assert sb.run_code(f"echo {text}", language="bash").stdout == f"{text}\n"
                events = list(sb.commands.stream("echo streamed"))
                assert "streamed" in "".join(str(e.get("data", "")) for e in events)
                done += 1
        return done

    with ThreadPoolExecutor(THREADS) as pool:
        results = [f.result(timeout=300) for f in [pool.submit(work, t) for t in range(THREADS)]]
    assert results == [ROUNDS] * THREADS
    client.close()
    assert client.transport.open_connections() == 0
    assert open_fds() <= before, "file descriptors leaked"
