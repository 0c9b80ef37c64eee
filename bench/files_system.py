"""What the files API costs where it reaches a sandbox's system, beside ``/workspace``.

In one running sandbox with a writable system, each round writes a file of ``--size`` bytes
under ``/opt`` (through the sandbox's overlay, seen via its init's root) and under
``/workspace``, then reads each back; rounds interleave the two, so a change in the machine's
load affects both alike. A sandbox without bubblewrap is measured too, for ``/workspace``
only (its files API goes straight to the host directory, as before). Prints the median of
each figure in milliseconds. Needs root and bubblewrap.

    .venv/bin/python bench/files_system.py [--runs 200] [--size 4096]
"""

from __future__ import annotations

import argparse
import pathlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import anyio

from hopx_local._runtime import IsolationMode, Limits, SandboxRuntime
from hopx_local._runtime.isolation import resolve_isolation


def _runtime(root: pathlib.Path, isolation: IsolationMode) -> SandboxRuntime:
    return SandboxRuntime(
        f"bench-{secrets.token_hex(4)}",
        root / secrets.token_hex(4),
        isolation=isolation,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
    )


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def main(runs: int, size: int) -> None:
    if resolve_isolation("auto") is not IsolationMode.BWRAP:
        sys.exit("bubblewrap is not usable here")
    data = secrets.token_bytes(size)
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="hopx-bench-files-") as directory:
        root = pathlib.Path(directory)
        isolated = _runtime(root, IsolationMode.BWRAP)
        plain = _runtime(root, IsolationMode.NONE)
        try:
            await isolated.start()
            if not isolated.writable_system:
                sys.exit(f"the sandbox's system is read-only here: {isolated.warnings}")
            await plain.start()
            cases = [
                ("bwrap /opt", isolated, "/opt/bench/file.bin"),
                ("bwrap /workspace", isolated, "/workspace/bench/file.bin"),
                ("none /workspace", plain, "/workspace/bench/file.bin"),
            ]
            for round_number in range(runs + 5):
                for name, runtime, path in cases:

                    async def write(runtime: SandboxRuntime = runtime, path: str = path) -> int:
                        return await runtime.write(path, data)

                    async def read(runtime: SandboxRuntime = runtime, path: str = path) -> bytes:
                        return await runtime.read_bytes(path)

                    wrote = await _timed(write)
                    took = await _timed(read)
                    if round_number >= 5:  # warm-up rounds are not counted
                        samples.setdefault(f"write {name}", []).append(wrote)
                        samples.setdefault(f"read  {name}", []).append(took)
            assert await isolated.read_bytes("/opt/bench/file.bin") == data
        finally:
            await isolated.shutdown()
            await plain.shutdown()
    print(f"{runs} rounds, files of {size} bytes; median milliseconds")
    for name, values in samples.items():
        print(f"  {name:<24} {statistics.median(values):8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    arguments = parser.parse_args()
    anyio.run(main, arguments.runs, arguments.size)
