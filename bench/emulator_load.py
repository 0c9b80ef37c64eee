"""The emulator under load: many sandboxes at once, and one sandbox's CPU hog next to another.

1. ``--sandboxes`` sandboxes (50 by default) are created concurrently, then each runs
   ``run_code("print(1)")`` ``--rounds`` times, all sandboxes at once; the p50 and p99 of
   ``create`` and of ``run_code``, and the server's open descriptors and resident memory
   before, at the peak and after every sandbox was killed, are printed.
2. In one run, side by side: the median ``run_code`` latency of a sandbox while the machine is
   otherwise idle and while another sandbox runs a CPU hog (as many spinning processes as
   there are CPUs), phases alternating so that a change in load affects both alike.

The emulator runs in a child process (``python -m hopx_local serve``); every loop is bounded.

    .venv/bin/python bench/emulator_load.py [--sandboxes 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import statistics
import sys
import tempfile
import time

import anyio

from hopx_asyncio import AsyncSandbox

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from emulator_latency import Endpoint, emulator_in_child, print_one

HOG = (
    "import os, time\n"
    "for _ in range(os.cpu_count() or 2):\n"
    "    if os.fork() == 0:\n"
    "        end = time.monotonic() + 600\n"
    "        while time.monotonic() < end:\n"
    "            pass\n"
    "        os._exit(0)\n"
    "os.wait()\n"
)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000


def server_usage(pid: int) -> tuple[int, float]:
    """(open descriptors, resident MiB) of the server process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0.0
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return fds, rss


async def create(endpoint: Endpoint, created: list[AsyncSandbox], times: list[float]) -> None:
    started = time.perf_counter()
    sandbox = await AsyncSandbox.create(
        template="code-interpreter", api_key=endpoint.api_key, base_url=endpoint.base_url
    )
    times.append(time.perf_counter() - started)
    created.append(sandbox)


async def run_many(sandbox: AsyncSandbox, rounds: int, times: list[float]) -> None:
    times.extend([await print_one(sandbox) for _ in range(rounds)])


async def many(endpoint: Endpoint, count: int, rounds: int) -> None:
    fds0, rss0 = server_usage(endpoint.pid)
    created: list[AsyncSandbox] = []
    create_times: list[float] = []
    run_times: list[float] = []
    with anyio.fail_after(600):
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(create, endpoint, created, create_times)
        async with anyio.create_task_group() as tg:
            for sandbox in created:
                tg.start_soon(run_many, sandbox, rounds, run_times)
        fds1, rss1 = server_usage(endpoint.pid)
        async with anyio.create_task_group() as tg:
            for sandbox in created:
                tg.start_soon(sandbox.kill)
    await anyio.sleep(1)
    fds2, rss2 = server_usage(endpoint.pid)
    print(f"{count} sandboxes, created concurrently, then {rounds} run_code each, all at once")
    print(f"  {'what':<24} {'n':>5} {'p50 ms':>9} {'p99 ms':>9}")
    for name, samples in (("create", create_times), ("run_code('print(1)')", run_times)):
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(f"  {name:<24} {len(samples):>5} {p50:>9.1f} {p99:>9.1f}")
    print(f"  server fds: {fds0} before, {fds1} with {count} sandboxes, {fds2} after kill")
    print(f"  server RSS: {rss0:.1f} MiB before, {rss1:.1f} MiB at the peak, {rss2:.1f} MiB after")


async def hog_next_door(endpoint: Endpoint, phases: int, runs: int) -> None:
    quiet: list[float] = []
    loaded: list[float] = []
    async with (
        AsyncSandbox.create(
            template="code-interpreter", api_key=endpoint.api_key, base_url=endpoint.base_url
        ) as probe,
        AsyncSandbox.create(
            template="code-interpreter", api_key=endpoint.api_key, base_url=endpoint.base_url
        ) as hog,
    ):
        for _ in range(3):
            await print_one(probe)
        for _ in range(phases):
            quiet.extend([await print_one(probe) for _ in range(runs)])
            record = await hog.run_code_background(HOG, timeout=600)
            await anyio.sleep(0.5)
            loaded.extend([await print_one(probe) for _ in range(runs)])
            await hog.kill_process(record["process_id"])
            await anyio.sleep(0.5)
    base, busy = statistics.median(quiet) * 1000, statistics.median(loaded) * 1000
    print(f"run_code('print(1)') in one sandbox, {phases} alternating phases of {runs} runs:")
    print(f"  median while idle:                 {base:8.1f} ms  (n={len(quiet)})")
    print(f"  median next to another's CPU hog:  {busy:8.1f} ms  (n={len(loaded)})")
    print(f"  change: {100 * (busy - base) / base:+.1f}%")


async def main(count: int, rounds: int, phases: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hopx-load-") as temp:
        async with emulator_in_child(pathlib.Path(temp)) as endpoint:
            print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            await many(endpoint, count, rounds)
            await hog_next_door(endpoint, phases, 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=50, help="sandboxes at once")
    parser.add_argument("--rounds", type=int, default=5, help="run_code calls per sandbox")
    parser.add_argument("--phases", type=int, default=3, help="idle/hog phase pairs")
    args = parser.parse_args()
    if args.sandboxes < 1 or args.rounds < 1 or args.phases < 1:
        parser.error("counts must be at least 1")
    anyio.run(main, args.sandboxes, args.rounds, args.phases)
