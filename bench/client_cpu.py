"""Client CPU cost, side by side: hopx_asyncio, hopx_trio and the official hopx_ai client.

Starts the local emulator in a child process (its CPU is not counted), then runs each client
in a fresh process of its own and measures, with ``time.process_time()`` of that process:

* CPU seconds per small agent request (``env.get_all()``, after a warm-up);
* CPU seconds per MB of streamed stdout (``run_code_stream`` of a program printing MBs, after
  one short stream, so that one-time work of the first WebSocket is not counted per MB);
* import time of the package (a fresh interpreter per run, median of several).

    python bench/client_cpu.py [--requests 500] [--megabytes 8] [--imports 7]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CLIENTS = {
    "hopx_asyncio": ("hopx_asyncio", "asyncio"),
    "hopx_trio": ("hopx_trio", "trio"),
    "hopx_ai (official)": ("hopx_ai", "asyncio"),
}

# Prints ``megabytes`` MB of stdout in 64 KiB writes.
STREAM_CODE = (
    "import sys\n"
    "chunk = ('x' * 1023 + '\\n') * 64\n"
    "for _ in range({megabytes} * 16):\n"
    "    sys.stdout.write(chunk)\n"
    "sys.stdout.flush()\n"
)


@contextmanager
def emulator() -> Iterator[dict[str, str]]:
    """``python -m hopx_local serve`` on a free port, stopped on exit."""
    key = "sk_bench_" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="hopx-bench-") as state:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hopx_local", "serve", "--port", "0", "--state-dir",
             state + "/state", "--api-key", key],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        watchdog = threading.Timer(30, proc.kill)
        watchdog.start()
        base_url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if "HOPX_BASE_URL=" in line:
                base_url = line.split("=", 1)[1].strip()
                break
        watchdog.cancel()
        try:
            if base_url is None:
                raise SystemExit("the emulator did not start")
            yield {"HOPX_BASE_URL": base_url, "HOPX_API_KEY": key}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# One client, measured inside its own process


async def measure(package: str, requests: int, megabytes: int) -> dict[str, float]:
    module = __import__(package)
    sandbox_cls = module.AsyncSandbox
    sandbox = await sandbox_cls.create(
        template="code-interpreter",
        api_key=os.environ["HOPX_API_KEY"],
        base_url=os.environ["HOPX_BASE_URL"],
    )
    try:
        for _ in range(20):
            await sandbox.env.get_all()
        start = time.process_time()
        wall = time.perf_counter()
        for _ in range(requests):
            await sandbox.env.get_all()
        per_request = (time.process_time() - start) / requests
        request_wall = (time.perf_counter() - wall) / requests

        # One short stream first, as the requests above are warmed up: what is measured is the
        # cost per MB, not the first WebSocket's one-time work (imports the client defers).
        async for _message in sandbox.run_code_stream("print('warm-up')", timeout=60):
            pass

        received = 0
        start = time.process_time()
        async for message in sandbox.run_code_stream(
            STREAM_CODE.format(megabytes=megabytes), timeout=120
        ):
            if message.get("type") == "stdout":
                received += len(message.get("data", ""))
        stream_cpu = time.process_time() - start
        if received < megabytes * 1024 * 1024:
            raise SystemExit(f"{package}: received {received} bytes only")
    finally:
        await sandbox.kill()
        close = getattr(sandbox, "aclose", None)
        if close is not None:
            await close()
    return {
        "cpu_per_request": per_request,
        "wall_per_request": request_wall,
        "cpu_per_mb": stream_cpu / (received / (1024 * 1024)),
    }


def child(package: str, loop: str, requests: int, megabytes: int) -> None:
    if loop == "trio":
        import trio

        result = trio.run(measure, package, requests, megabytes)
    else:
        import asyncio

        result = asyncio.run(measure(package, requests, megabytes))
    print(json.dumps(result))


def import_times(packages: list[str], runs: int) -> dict[str, float]:
    """Median wall time of ``import package`` in a fresh interpreter, minus a bare start.

    The runs are interleaved (one of each package, and a bare start, per round), so that a
    change in the machine's load during the measurement weighs on every package alike.
    """

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    samples: dict[str, list[float]] = {name: [] for name in [*packages, ""]}
    for _ in range(runs):
        for name in samples:
            samples[name].append(once(f"import {name}" if name else "pass"))
    bare = statistics.median(samples[""])
    return {name: statistics.median(samples[name]) - bare for name in packages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--megabytes", type=int, default=8)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--child", nargs=2, metavar=("PACKAGE", "LOOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.requests, args.megabytes)
        return

    rows: list[tuple[str, dict[str, Any]]] = []
    with emulator() as env:
        for label, (package, loop) in CLIENTS.items():
            out = subprocess.run(
                [sys.executable, __file__, "--child", package, loop,
                 "--requests", str(args.requests), "--megabytes", str(args.megabytes)],
                env={**os.environ, **env}, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                print(f"{label}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    imports = import_times([CLIENTS[label][0] for label, _ in rows], args.imports)
    for label, result in rows:
        result["import"] = imports[CLIENTS[label][0]]

    header = (
        f"{'client':<20} {'CPU ms/request':>15} {'wall ms/request':>16} "
        f"{'CPU ms/MB stream':>17} {'import ms':>10}"
    )
    print(f"{args.requests} env.get_all() calls, {args.megabytes} MB of streamed stdout, "
          f"imports median of {args.imports}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(
            f"{label:<20} {r['cpu_per_request'] * 1e3:>15.3f} {r['wall_per_request'] * 1e3:>16.3f} "
            f"{r['cpu_per_mb'] * 1e3:>17.1f} {r['import'] * 1e3:>10.1f}"
        )
    official = dict(rows).get("hopx_ai (official)")
    if official is not None:
        print("-" * len(header))
        for label, r in rows:
            if r is not official:
                keys = ("cpu_per_request", "wall_per_request", "cpu_per_mb", "import")
                ratios = [r[key] / official[key] for key in keys]
                print(
                    f"{label + ' / official':<20} {ratios[0]:>15.2f} {ratios[1]:>16.2f} "
                    f"{ratios[2]:>17.2f} {ratios[3]:>10.2f}"
                )


if __name__ == "__main__":
    main()
