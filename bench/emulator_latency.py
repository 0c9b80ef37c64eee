"""Latency of the emulator next to the cost of the processes it starts.

Measures, side by side in one run (median and p99 of N runs each):

* spawning the sandbox's interpreter directly: ``python -c 'print(1)'`` (the very binary the
  emulator runs code with), and with ``-S`` (no ``site``: the interpreter's own floor);
* the same under a fresh bubblewrap with a sandbox's namespaces and system mounts (what each
  execution used to cost: a new instance per run);
* the emulator's whole execution chain inside a running sandbox (``SandboxRuntime.execute``
  of ``print(1)``: the request to the sandbox's init, the reaper in its own pid namespace, the
  interpreter with the start-up hooks, the source file and the rich-output directory);
* through the emulator with the asyncio client (``hopx_asyncio``): ``AsyncSandbox.create``,
  the first ``run_code("print(1)")`` of each new sandbox (which starts its Jupyter kernel when
  ipykernel is installed), the second one (the warm kernel), its ``kill``, and ``run_code`` of
  ``print(1)`` on one long-lived sandbox (a kept-alive connection).

The measurements are interleaved (each round takes one sample of every row), so a change in
the machine's load during the run affects every row alike. The emulator runs in a child
process by default (``python -m hopx_local serve``), so client and server do not share one
event loop; ``--in-process`` runs ``hopx_local.serve()`` in the benchmark's own loop.

    .venv/bin/python bench/emulator_latency.py [--runs 100] [--in-process]
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import attrs

import hopx_local
from hopx_asyncio import AsyncSandbox
from hopx_local._runtime import IsolationMode, Limits, SandboxRuntime
from hopx_local._runtime.isolation import bwrap_path, resolve_isolation
from hopx_local._runtime.languages import python_executable
from hopx_local._runtime.mounts import interpreter_prefixes, parent_dirs, system_args

WARMUP = 3
PLAIN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@attrs.define
class Row:
    """One measured thing: its name and the seconds each run took."""

    name: str
    note: str = ""
    samples: list[float] = attrs.field(factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000


@attrs.frozen
class Spawn:
    """A command line to time from spawn to exit; it must print ``1``."""

    row: Row
    argv: tuple[str, ...]
    env: dict[str, str]

    def once(self) -> float:
        started = time.perf_counter()
        done = subprocess.run(self.argv, capture_output=True, env=self.env, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or done.stdout.strip() != b"1":
            raise RuntimeError(f"{self.row.name} failed ({done.returncode}): {done.stderr!r}")
        return elapsed


def bwrap_once(python: str) -> tuple[str, ...]:
    """A fresh bubblewrap with a sandbox's namespaces and read-only system mounts."""
    argv = [bwrap_path() or "bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc"]
    argv += ["--unshare-uts", "--unshare-net", "--die-with-parent", "--new-session"]
    prefixes = list(interpreter_prefixes())
    argv += parent_dirs([*prefixes, "/etc/x"])
    argv += [*system_args(), "--proc", "/proc", "--dev", "/dev"]
    for prefix in prefixes:
        argv += ["--ro-bind", prefix, prefix]
    return (*argv, python, "-c", "print(1)")


def spawns() -> list[Spawn]:
    """Direct and bubblewrapped spawns of ``python -c 'print(1)'``."""
    python = python_executable()
    code = (python, "-c", "print(1)")
    found = [
        Spawn(Row("python -c 'print(1)'", python), code, PLAIN_ENV),
        Spawn(
            Row("python -S -c 'print(1)'", "no site import"), (python, "-S", *code[1:]), PLAIN_ENV
        ),
    ]
    if resolve_isolation("auto").value == "bwrap":
        row = Row("bwrap + python", "a fresh instance, sandbox flags")
        found.append(Spawn(row, bwrap_once(python), PLAIN_ENV))
    return found


@attrs.frozen
class Chain:
    """``print(1)`` through a running sandbox's init: the emulator's execution chain."""

    row: Row
    runtime: SandboxRuntime

    async def once(self) -> float:
        started = time.perf_counter()
        outcome = await self.runtime.execute("print(1)", "python")
        elapsed = time.perf_counter() - started
        if outcome.stdout.strip() != "1":
            raise RuntimeError(f"the chain failed: {outcome}")
        return elapsed


@attrs.frozen
class Endpoint:
    base_url: str
    api_key: str
    isolation: str
    pid: int = 0


@asynccontextmanager
async def emulator_in_child(scratch: pathlib.Path) -> AsyncIterator[Endpoint]:
    """``python -m hopx_local serve`` on a free port; SIGTERM on exit."""
    key = "sk_local_bench_" + os.urandom(6).hex()
    log = scratch / "emulator.out"
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0"]
    command += ["--state-dir", str(scratch / "state"), "--api-key", key]
    with log.open("wb") as out:
        process = await anyio.open_process(command, stdout=out, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            text = log.read_text(errors="replace")
            url = re.search(r"HOPX_BASE_URL=(\S+)", text)
            mode = re.search(r"isolation: (\w+)", text)
            if url and mode:
                break
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start:\n{text}")
            await anyio.sleep(0.05)
        yield Endpoint(url[1], key, mode[1], process.pid)
    finally:
        with anyio.CancelScope(shield=True):
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(15):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()


@asynccontextmanager
async def emulator_here() -> AsyncIterator[Endpoint]:
    async with hopx_local.serve() as local:
        yield Endpoint(local.base_url, local.api_key, local.isolation, os.getpid())


async def print_one(sandbox: AsyncSandbox) -> float:
    """Seconds for ``run_code("print(1)")``, checked."""
    started = time.perf_counter()
    result = await sandbox.run_code("print(1)")
    elapsed = time.perf_counter() - started
    if result.stdout.strip() != "1":
        raise RuntimeError(f"unexpected output {result.stdout!r} {result.stderr!r}")
    return elapsed


@attrs.frozen
class Lifecycle:
    """Rows for one sandbox's life: create, first execute, kill."""

    create: Row = attrs.field(factory=lambda: Row("AsyncSandbox.create", "new client each"))
    first: Row = attrs.field(factory=lambda: Row("first run_code('print(1)')", "after create"))
    second: Row = attrs.field(
        factory=lambda: Row("second run_code('print(1)')", "same sandbox, warm kernel")
    )
    kill: Row = attrs.field(factory=lambda: Row("kill"))

    async def once(self, endpoint: Endpoint, keep: bool) -> None:
        started = time.perf_counter()
        sandbox = await AsyncSandbox.create(
            template="code-interpreter", api_key=endpoint.api_key, base_url=endpoint.base_url
        )
        created = time.perf_counter()
        try:
            first = await print_one(sandbox)
            second = await print_one(sandbox)
        finally:
            before_kill = time.perf_counter()
            await sandbox.kill()
        if keep:
            self.create.samples.append(created - started)
            self.first.samples.append(first)
            self.second.samples.append(second)
            self.kill.samples.append(time.perf_counter() - before_kill)


async def measure(
    endpoint: Endpoint, probes: list[Spawn], chain: Chain | None, runs: int
) -> list[Row]:
    """Interleaved rounds: each takes one sample of every row."""
    lifecycle = Lifecycle()
    steady = Row("run_code('print(1)')", "one sandbox, kept-alive connection")
    async with AsyncSandbox.create(
        template="code-interpreter", api_key=endpoint.api_key, base_url=endpoint.base_url
    ) as sandbox:
        for i in range(WARMUP + runs):
            keep = i >= WARMUP
            for probe in probes:
                elapsed = await anyio.to_thread.run_sync(probe.once)
                if keep:
                    probe.row.samples.append(elapsed)
            if chain is not None:
                elapsed = await chain.once()
                if keep:
                    chain.row.samples.append(elapsed)
            elapsed = await print_one(sandbox)
            if keep:
                steady.samples.append(elapsed)
            await lifecycle.once(endpoint, keep)
    return [
        *(probe.row for probe in probes),
        *([chain.row] if chain is not None else []),
        steady,
        lifecycle.first,
        lifecycle.second,
        lifecycle.create,
        lifecycle.kill,
    ]


def print_table(rows: list[Row]) -> None:
    header = f"  {'what':<36} {'n':>4} {'median ms':>10} {'p99 ms':>9} {'min ms':>8}  note"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in rows:
        print(
            f"  {row.name:<36} {len(row.samples):>4} {row.median_ms:>10.2f} {row.p99_ms:>9.2f}"
            f" {row.min_ms:>8.2f}  {row.note}".rstrip()
        )


async def main(runs: int, in_process: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="hopx-bench-") as temp:
        scratch = pathlib.Path(temp)
        probes = await anyio.to_thread.run_sync(spawns)
        load_before = os.getloadavg()[0]
        runtime = None
        if resolve_isolation("auto") is IsolationMode.BWRAP:
            runtime = SandboxRuntime(
                "benchchain",
                scratch / "chain",
                isolation=IsolationMode.BWRAP,
                internet_access=False,
                limits=Limits(),
                output_cap=1 << 20,
            )
            await runtime.start()
        chain = (
            Chain(Row("init + hooks + python", "the emulator's chain"), runtime)
            if runtime
            else None
        )
        opener = emulator_here() if in_process else emulator_in_child(scratch)
        try:
            async with opener as endpoint:
                rows = await measure(endpoint, probes, chain, runs)
        finally:
            if runtime is not None:
                await runtime.shutdown()
    where = "in this process" if in_process else "in a child process"
    print(
        f"python {sys.version.split()[0]} ({python_executable()}), {os.cpu_count()} CPUs,"
        f" load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}, {runs} runs per row"
    )
    print(f"emulator {where}, isolation: {endpoint.isolation}; client: hopx_asyncio")
    print_table(rows)
    by_name = {row.name: row for row in rows}
    execute = by_name["run_code('print(1)')"].median_ms
    for base in ("python -c 'print(1)'", "bwrap + python"):
        if base in by_name:
            extra = execute - by_name[base].median_ms
            print(f"run_code('print(1)') median minus {base!r} median: {extra:.2f} ms")
    first = by_name["first run_code('print(1)')"].median_ms
    second = by_name["second run_code('print(1)')"].median_ms
    spawn = by_name["python -c 'print(1)'"].median_ms
    print(
        f"first / second / bare spawn run_code('print(1)') medians: {first:.2f} /"
        f" {second:.2f} / {spawn:.2f} ms (second / spawn: {second / spawn:.2f}x)"
    )
    if "init + hooks + python" in by_name and "bwrap + python" in by_name:
        ratio = by_name["init + hooks + python"].median_ms / by_name["bwrap + python"].median_ms
        print(f"execution chain / (bwrap + python), medians: {ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per row")
    parser.add_argument(
        "--in-process", action="store_true", help="run the emulator in this event loop"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    anyio.run(main, args.runs, args.in_process)
