"""Client CPU cost, side by side: our clients, the official hopx_ai client, and minimal clients.

Starts the local emulator in a child process (its CPU is not counted), then runs each client
in a fresh process of its own and measures, with ``time.process_time()`` of that process:

* CPU per small agent request (``env.get_all()``, after a warm-up);
* CPU per MB of streamed stdout (``run_code_stream`` of a program printing MBs in 64 KiB
  writes, after one short stream, so that a first WebSocket's one-time work is not counted);
* CPU per tiny stdout frame (a program printing ~90-character lines one at a time, paced so
  that each line is a frame of its own, about 160 bytes on the wire);
* import time (a fresh interpreter per run, minus a bare start), with every module's ``.pyc``
  compiled beforehand, and with the project's own modules compiled from source at each start.

The clients: ``hopx_asyncio``, ``hopx_trio``, the official ``hopx_ai.AsyncSandbox``, and, when
``hopx_sync`` is installed, ``hopx_sync.Sandbox`` beside the official ``hopx_ai.Sandbox``.
Beside them, the minimal clients of each loop (blocking, asyncio, trio; see
``_cpu_minimal.py``) on the same emulator and the same bytes: h11 for the request, frames
read in place and stdlib json (and orjson, when installed) for the streams. They do what any
client must and nothing else, so a real client's ratio to the minimal client of its loop is
its overhead.

    python bench/client_cpu.py [--requests 500] [--megabytes 8] [--frames 600]
                               [--pause 0.0005] [--imports 7] [--rounds 3] [--batches 3]
                               [--hide-orjson]

Each client runs ``--rounds`` times in a fresh process, in turn with the others, and measures
``--batches`` request batches and streams of each kind each time; the tables show the medians
of all batches, and as spread the lowest and highest of the per-process medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import _cpu_minimal
import _cpu_real
from _cpu_imports import ImportRow, bytecode_note, import_times
from _cpu_tables import Samples, import_table, path_table, same_bytes
from _cpu_work import TINY_LINE, Report, Workload


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


def _child(job: Sequence[str], work: Workload, env: dict[str, str], hide: bool) -> Report | None:
    argv = [sys.executable, __file__, "--child", *job, *work.argv()]
    if hide:
        argv.append("--hide-orjson")
    out = subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=600
    )
    if out.returncode != 0:
        print(f"{' '.join(job)}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return Report.loads(out.stdout.strip().splitlines()[-1])


def run_clients(
    jobs: list[tuple[str, str]], work: Workload, rounds: int, hide_orjson: bool
) -> Samples:
    """Rounds of one fresh process per job, in turn, so that a change in the machine's load
    during the run weighs on every client alike."""
    samples = Samples()
    failed: set[tuple[str, str]] = set()
    with emulator() as env:
        for _ in range(rounds):
            for job in jobs:
                if job in failed:
                    continue
                report = _child(job, work, env, hide_orjson)
                if report is None:
                    failed.add(job)
                    continue
                samples.add(job[1], report)
    return samples


def _child_main(kind: str, name: str, work: Workload, hide_orjson: bool) -> None:
    if kind == "minimal":
        report = _cpu_minimal.measure(name, work)
    else:
        client = next(c for c in _cpu_real.REAL_CLIENTS if c.label == name)
        report = _cpu_real.measure(client, work, hide_orjson=hide_orjson)
    print(report.dumps())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=500, help="env.get_all() per batch")
    parser.add_argument("--megabytes", type=int, default=8, help="MB of stdout per big stream")
    parser.add_argument("--frames", type=int, default=600, help="frames per tiny stream")
    parser.add_argument(
        "--pause", type=float, default=0.0005, help="seconds the tiny program sleeps per line"
    )
    parser.add_argument("--imports", type=int, default=7, help="runs of each import, per cache")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh processes per client, run in turn"
    )
    parser.add_argument(
        "--batches", type=int, default=3, help="request batches and streams of each kind"
    )
    parser.add_argument(
        "--hide-orjson", action="store_true", help="run the real clients with orjson hidden"
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Workload(args.requests, args.megabytes, args.frames, args.pause, args.batches)
    if args.child:
        kind, name = args.child
        _child_main(kind, name, work, args.hide_orjson)
        return

    started = time.perf_counter()
    clients = _cpu_real.available()
    loops = [
        loop for loop in _cpu_minimal.LOOPS if loop != "trio" or importlib.util.find_spec("trio")
    ]
    libraries = _cpu_minimal.json_libraries()
    jobs = [("real", c.label) for c in clients] + [("minimal", loop) for loop in loops]
    samples = run_clients(jobs, work, args.rounds, args.hide_orjson)
    same_bytes(samples)
    runs = args.rounds * args.batches
    installed = "orjson importable" if "orjson" in libraries else "no orjson"
    intro = (
        f"Medians of {runs} batches per client ({args.rounds} fresh processes each, in turn); "
        "spread: the lowest and highest median of one process. Every client received the "
        "same env.get_all() and every character of every stream. x official: to "
        f"{_cpu_real.OFFICIAL_ASYNC} (to {_cpu_real.OFFICIAL_SYNC} for hopx_sync); x minimal: "
        "to the minimal client of the same loop (for the streams, with each JSON library). "
        "The real clients ran "
        + ("with orjson hidden." if args.hide_orjson else f"as installed ({installed}).")
    )
    print(textwrap.fill(intro, 100))
    path_table(samples, clients, libraries, "request", f"batches of {args.requests} calls")
    path_table(samples, clients, libraries, "mb", f"streams of {args.megabytes} MB")
    frame_bytes = samples.median(_cpu_minimal.stream_row("blocking", "json"), "frame_bytes")
    path_table(
        samples, clients, libraries, "frame",
        f"streams of {args.frames} lines of {TINY_LINE} characters written one at a time"
        + (f", {frame_bytes:.0f} bytes of JSON a frame" if frame_bytes else ""),
    )  # fmt: skip

    rows = [ImportRow(c.label, f"from {c.module} import {c.cls}", c.official) for c in clients]
    rows.append(ImportRow("import hopx_proto", "import hopx_proto", _cpu_real.OFFICIAL_ASYNC))
    import_table(
        rows,
        import_times(rows, args.imports),
        f"Import in a fresh interpreter, minus a bare start: medians of {args.imports}",
    )
    print(textwrap.fill(bytecode_note(), 100, initial_indent="  ", subsequent_indent="  "))
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
