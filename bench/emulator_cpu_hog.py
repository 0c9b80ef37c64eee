"""How much one sandbox's CPU hog slows another sandbox's ``run_code``.

A ``hopx-local serve`` child process runs two sandboxes of the ``code-interpreter`` template.
Each round measures the other sandbox's ``run_code("print(1)")`` back to back with nothing
else running (quiet), and while the hog sandbox spins ``while True: pass`` in several
processes and threads of a Python program started in the background (more of them than the
machine has cores); the hog is killed before the next phase. The hog's phase is measured
from five seconds after its processes run (the server lowers the CPU weight of a sandbox that
kept busy over a window of three seconds). Quiet comes first in even rounds and second in odd
ones, so a change in the machine's load during the run affects both alike. The table shows
each round's medians and ratio (and, where the benchmark can read the server's cgroup v1
``cpu`` hierarchy, both sandboxes' ``cpu.shares`` at the end of the hog's phase), then the
medians over all rounds and their ratio; the target is at most 1.20.

    .venv/bin/python bench/emulator_cpu_hog.py [--rounds 8] [--runs 15] [--hogs 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from hopx_asyncio import AsyncSandbox

KEY = "sk_local_bench_cpu_hog"
WARMUP = 3
#: Seconds from the hog's start to the first measurement: the server lowers a sandbox's CPU
#: weight once a thread of it has kept busy over a window of three seconds (see CpuGovernor).
SETTLE = 5.0


def hog_code(processes: int, threads: int) -> str:
    """Source that keeps ``processes`` processes of ``threads`` spinning threads each busy."""
    return (
        "import os, threading\n"
        "os.makedirs('/tmp/hog-ready', exist_ok=True)\n"
        "def spin():\n"
        "    while True:\n"
        "        pass\n"
        f"for _ in range({processes} - 1):\n"
        "    if os.fork() == 0:\n"
        "        break\n"
        "open(f'/tmp/hog-ready/{os.getpid()}', 'w').close()\n"
        f"for _ in range({threads} - 1):\n"
        "    threading.Thread(target=spin, daemon=True).start()\n"
        "spin()\n"
    )


@asynccontextmanager
async def emulator(scratch: pathlib.Path) -> AsyncIterator[tuple[str, int]]:
    """``python -m hopx_local serve`` on a free port: (base URL, pid); SIGTERM on exit."""
    log = scratch / "emulator.out"
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0"]
    command += ["--state-dir", str(scratch / "state"), "--api-key", KEY]
    with log.open("wb") as out:
        process = await anyio.open_process(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            found = re.search(r"HOPX_BASE_URL=(\S+)", log.read_text(errors="replace"))
            if found:
                break
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start:\n{log.read_text()}")
            await anyio.sleep(0.05)
        yield found[1], process.pid
    finally:
        with anyio.CancelScope(shield=True):
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()


def cgroup_counters(server_pid: int, sandbox_id: str) -> dict[str, int]:
    """The sandbox's CPU counters from a cgroup v1 ``cpu`` hierarchy, if readable."""
    found: dict[str, int] = {}
    for base in (pathlib.Path("/sys/fs/cgroup/cpu"), pathlib.Path("/sys/fs/cgroup/cpu,cpuacct")):
        for directory in base.rglob(f"hopx-local-{server_pid}-{sandbox_id}"):
            try:
                for line in (directory / "cpu.stat").read_text().splitlines():
                    key, value = line.split()
                    found[key] = int(value)
                found["cpu.shares"] = int((directory / "cpu.shares").read_text())
            except (OSError, ValueError):
                continue
            return found
    return found


async def print_one(sandbox: AsyncSandbox) -> float:
    """Seconds for ``run_code("print(1)")``, checked."""
    started = time.perf_counter()
    result = await sandbox.run_code("print(1)")
    elapsed = time.perf_counter() - started
    if result.stdout.strip() != "1":
        raise RuntimeError(f"unexpected output {result.stdout!r} {result.stderr!r}")
    return elapsed


async def wait_spinning(hog: AsyncSandbox, processes: int) -> None:
    """Until the hog's processes all run (bounded)."""
    with anyio.fail_after(60):
        while True:
            listed = await hog.commands.run("ls /tmp/hog-ready 2>/dev/null | wc -l")
            if int(listed.stdout.strip() or 0) >= processes:
                return
            await anyio.sleep(0.1)


async def hog_phase(
    other: AsyncSandbox, hog: AsyncSandbox, runs: int, processes: int, threads: int
) -> list[float]:
    """The other sandbox's latencies while the hog spins (killed before this returns)."""
    await hog.commands.run("rm -rf /tmp/hog-ready")
    # A program of its own (bash execs it): Python code sent to run_code_background would
    # run in the sandbox's kernel, whose spinning threads a kill interrupts but cannot end.
    source = shlex.quote(hog_code(processes, threads))
    started = await hog.run_code_background(
        f"exec python3 -c {source}", language="bash", timeout=600
    )
    try:
        await wait_spinning(hog, processes)
        await anyio.sleep(SETTLE)
        return [await print_one(other) for _ in range(runs)]
    finally:
        await hog.kill_process(started["process_id"])


async def run(rounds: int, runs: int, processes: int, threads: int) -> None:
    quiet_rounds: list[list[float]] = []
    hog_rounds: list[list[float]] = []
    weights: list[tuple[int | None, int | None]] = []
    with tempfile.TemporaryDirectory(prefix="hopx-bench-hog-") as temp:
        async with emulator(pathlib.Path(temp)) as (url, server_pid):
            options = {"template": "code-interpreter", "api_key": KEY, "base_url": url}
            async with (
                AsyncSandbox.create(**options) as other,
                AsyncSandbox.create(**options) as hog,
            ):
                for _ in range(WARMUP):
                    await print_one(other)
                before = cgroup_counters(server_pid, hog.sandbox_id)
                for number in range(rounds):
                    # Quiet first in even rounds, the hog first in odd ones.
                    if number % 2 == 0:
                        quiet_rounds.append([await print_one(other) for _ in range(runs)])
                    hog_rounds.append(await hog_phase(other, hog, runs, processes, threads))
                    weights.append(
                        (
                            cgroup_counters(server_pid, hog.sandbox_id).get("cpu.shares"),
                            cgroup_counters(server_pid, other.sandbox_id).get("cpu.shares"),
                        )
                    )
                    await anyio.sleep(0.5)
                    if number % 2 == 1:
                        quiet_rounds.append([await print_one(other) for _ in range(runs)])
                after = cgroup_counters(server_pid, hog.sandbox_id)
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average now {load:.1f}; hog: {processes} processes x "
        f"{threads} threads of 'while True: pass'; {runs} run_code('print(1)') per phase"
    )
    print(
        f"  {'round':>5} {'quiet median ms':>16} {'hog median ms':>14} {'ratio':>6}"
        "  cpu.shares (hog, other)"
    )
    ratios = []
    for number, (quiet, busy) in enumerate(zip(quiet_rounds, hog_rounds, strict=True), 1):
        q, h = statistics.median(quiet) * 1000, statistics.median(busy) * 1000
        ratios.append(h / q)
        hog_weight, other_weight = weights[number - 1]
        shown = f"{hog_weight}, {other_weight}" if hog_weight is not None else ""
        print(f"  {number:>5} {q:>16.2f} {h:>14.2f} {h / q:>6.2f}  {shown}")
    quiet_all = statistics.median(s for r in quiet_rounds for s in r) * 1000
    hog_all = statistics.median(s for r in hog_rounds for s in r) * 1000
    print(f"  {'all':>5} {quiet_all:>16.2f} {hog_all:>14.2f} {hog_all / quiet_all:>6.2f}")
    print(f"  median of the rounds' ratios: {statistics.median(ratios):.2f} (target: <= 1.20)")
    if after:
        throttled = after.get("nr_throttled", 0) - before.get("nr_throttled", 0)
        periods = after.get("nr_periods", 0) - before.get("nr_periods", 0)
        print(f"  hog's cgroup: {throttled} of {periods} CFS periods throttled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--hogs", type=int, default=4, help="spinning processes in the hog")
    parser.add_argument("--threads", type=int, default=2, help="spinning threads per process")
    args = parser.parse_args()
    anyio.run(run, args.rounds, args.runs, args.hogs, args.threads)


if __name__ == "__main__":
    main()
