"""What a writable system costs a sandbox: start, first command and shutdown, side by side.

Each round starts one sandbox with a writable system (overlays over ``/usr``, ``/etc``,
``/var``, ``/opt`` and the interpreter prefix, see ``hopx_local/_runtime/rootfs.py``) and one
with the read-only system, each on its own ``disk_mb`` volume, runs ``true`` in it and shuts it
down; then, in a running sandbox of each kind, ``python -c pass`` with the interpreter
``run_code`` uses (read through the overlay, or from the host's read-only mount). Rounds
interleave the two, so a change in the machine's load affects both alike. Needs root and
bubblewrap.

    .venv/bin/python bench/emulator_rootfs.py [--runs 20]
"""

from __future__ import annotations

import argparse
import pathlib
import secrets
import statistics
import sys
import tempfile
import time

import anyio

from hopx_local._runtime import IsolationMode, Limits, SandboxResources, SandboxRuntime
from hopx_local._runtime.isolation import resolve_isolation
from hopx_local._runtime.languages import python_executable


def _runtime(root: pathlib.Path, writable: bool) -> SandboxRuntime:
    return SandboxRuntime(
        f"bench-{secrets.token_hex(4)}",
        root / secrets.token_hex(4),
        isolation=IsolationMode.BWRAP,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        resources=SandboxResources(disk_mb=256),
        writable_system=writable,
    )


async def _cycle(root: pathlib.Path, writable: bool) -> float:
    runtime = _runtime(root, writable)
    started = time.perf_counter()
    try:
        await runtime.start()
        assert runtime.writable_system is writable, runtime.warnings
        outcome = await runtime.run_command("true")
        assert outcome.exit_code == 0, outcome.stderr
    finally:
        await runtime.shutdown()
    return time.perf_counter() - started


async def _python(runtime: SandboxRuntime) -> float:
    started = time.perf_counter()
    outcome = await runtime.run_command(python_executable(), ["-c", "pass"])
    assert outcome.exit_code == 0, outcome.stderr
    return time.perf_counter() - started


async def main(runs: int) -> None:
    if resolve_isolation("auto") is not IsolationMode.BWRAP:
        sys.exit("bubblewrap is not usable here")
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="hopx-bench-rootfs-") as directory:
        root = pathlib.Path(directory)
        kept = {writable: _runtime(root, writable) for writable in (True, False)}
        try:
            for runtime in kept.values():
                await runtime.start()
            for round_number in range(runs + 2):
                for writable in (True, False):
                    name = "writable" if writable else "read-only"
                    cycle = await _cycle(root, writable)
                    python = await _python(kept[writable])
                    if round_number >= 2:  # warm-up rounds are not counted
                        samples.setdefault(f"start+true+stop {name}", []).append(cycle)
                        samples.setdefault(f"python -c pass {name}", []).append(python)
        finally:
            for runtime in kept.values():
                await runtime.shutdown()
    for name, values in samples.items():
        print(f"{name:32} median {statistics.median(values) * 1000:8.1f} ms  (n={len(values)})")
    for what in ("start+true+stop", "python -c pass"):
        ratio = statistics.median(samples[f"{what} writable"]) / statistics.median(
            samples[f"{what} read-only"]
        )
        print(f"{what:32} writable / read-only: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    anyio.run(main, parser.parse_args().runs)
