"""Client CPU cost, side by side: hopx_asyncio, hopx_trio and the official hopx_ai client.

Starts the local emulator in a child process (its CPU is not counted), then runs each client
in a fresh process of its own and measures, with ``time.process_time()`` of that process:

* CPU seconds per small agent request (``env.get_all()``, after a warm-up);
* CPU seconds per MB of streamed stdout (``run_code_stream`` of a program printing MBs, after
  one short stream, so that one-time work of the first WebSocket is not counted per MB);
* import time of the package (a fresh interpreter per run, median of several).

    python bench/client_cpu.py [--requests 500] [--megabytes 8] [--imports 7]
                               [--rounds 3] [--batches 3]

Each client runs ``--rounds`` times in a fresh process, in turn with the others, and measures
``--batches`` request batches and streams each time; the table shows the medians.
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


async def measure(package: str, requests: int, megabytes: int, batches: int) -> dict[str, Any]:
    """Per-batch samples: ``batches`` batches of requests, ``batches`` streams of MBs."""
    module = __import__(package)
    sandbox_cls = module.AsyncSandbox
    sandbox = await sandbox_cls.create(
        template="code-interpreter",
        api_key=os.environ["HOPX_API_KEY"],
        base_url=os.environ["HOPX_BASE_URL"],
    )
    samples: dict[str, list[float]] = {"cpu_per_request": [], "wall_per_request": [],
                                       "cpu_per_mb": []}  # fmt: skip
    try:
        for _ in range(20):
            await sandbox.env.get_all()
        for _ in range(batches):
            start = time.process_time()
            wall = time.perf_counter()
            for _ in range(requests):
                await sandbox.env.get_all()
            samples["cpu_per_request"].append((time.process_time() - start) / requests)
            samples["wall_per_request"].append((time.perf_counter() - wall) / requests)

        # One short stream first, as the requests above are warmed up: what is measured is the
        # cost per MB, not the first WebSocket's one-time work (imports the client defers).
        async for _message in sandbox.run_code_stream("print('warm-up')", timeout=60):
            pass
        code = STREAM_CODE.format(megabytes=megabytes)
        for _ in range(batches):
            received = 0
            start = time.process_time()
            async for message in sandbox.run_code_stream(code, timeout=120):
                if message.get("type") == "stdout":
                    received += len(message.get("data", ""))
            stream_cpu = time.process_time() - start
            if received < megabytes * 1024 * 1024:
                raise SystemExit(f"{package}: received {received} bytes only")
            samples["cpu_per_mb"].append(stream_cpu / (received / (1024 * 1024)))
    finally:
        await sandbox.kill()
        close = getattr(sandbox, "aclose", None)
        if close is not None:
            await close()
    return samples


def child(package: str, loop: str, requests: int, megabytes: int, batches: int) -> None:
    if loop == "trio":
        import trio

        result = trio.run(measure, package, requests, megabytes, batches)
    else:
        import asyncio

        result = asyncio.run(measure(package, requests, megabytes, batches))
    print(json.dumps(result))


def floor_child(megabytes: int, batches: int) -> None:
    """The least any Python client can spend per MB: bytes off the socket, JSON decoded.

    Receives the same stream as the clients with a blocking socket and ``recv_into`` one
    reused buffer (no event loop, no framing, no copies), then times ``json.loads`` alone on
    the texts of that stream's frames. Both are work every client does for each frame.
    """
    import asyncio
    import socket

    import hopx_asyncio
    from hopx_proto import (
        NEED_DATA,
        OPERATIONS,
        Accepted,
        BaseURL,
        ExecuteStreamClient,
        ExecuteStreamRequest,
        Role,
        TextMessage,
        WebSocket,
    )

    op = OPERATIONS["execute.stream"]
    code = STREAM_CODE.format(megabytes=megabytes)
    buffer = bytearray(256 * 1024)
    recv_samples: list[float] = []
    json_samples: list[float] = []

    def measure(agent: BaseURL, token: str) -> None:
        for batch in range(batches + 1):
            ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
            with socket.create_connection((agent.host, agent.port), timeout=60) as sock:
                upgrade = op.encode(op.args(), auth=token)
                sock.sendall(ws.connect(agent, upgrade.target, headers=upgrade.headers))
                while (event := ws.next_event()) is NEED_DATA:
                    ws.receive_data(sock.recv(65536))
                assert isinstance(event, Accepted), event
                request = ExecuteStreamClient().start(ExecuteStreamRequest(code=code))
                keep = batch == 0  # the first stream is kept, for its frames
                kept = bytearray()
                received = 0
                tail = b""
                start = time.process_time()
                sock.sendall(ws.send_text(request))
                while True:
                    count = sock.recv_into(buffer)
                    if not count:
                        break
                    received += count
                    if keep:
                        kept += buffer[:count]
                    tail = tail[-64:] + bytes(buffer[max(0, count - 64) : count])
                    if b'"complete"' in tail:
                        break
                if not keep:
                    recv_samples.append((time.process_time() - start) / (received / (1 << 20)))
                    continue
            ws.receive_data(bytes(kept))
            texts = []
            while (event := ws.next_event()) is not NEED_DATA:
                if isinstance(event, TextMessage):
                    texts.append(event.text)
            mb = sum(len(text) for text in texts) / (1 << 20)
            for _ in range(batches):
                start = time.process_time()
                for text in texts:
                    json.loads(text)
                json_samples.append((time.process_time() - start) / mb)

    async def run() -> None:
        sandbox = await hopx_asyncio.AsyncSandbox.create(
            template="code-interpreter",
            api_key=os.environ["HOPX_API_KEY"],
            base_url=os.environ["HOPX_BASE_URL"],
        )
        try:
            info = await sandbox.get_info()
            measure(BaseURL.parse(info.agent_base), await sandbox.get_token())
        finally:
            await sandbox.kill()

    asyncio.run(run())
    print(json.dumps({"recv": recv_samples, "json": json_samples}))


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
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="fresh processes per client, run in turn with the others",
    )
    parser.add_argument("--batches", type=int, default=3,
                        help="request batches and streams measured in each process")  # fmt: skip
    parser.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("PACKAGE", "LOOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        floor_child(args.megabytes, args.batches)
        return
    if args.child:
        child(args.child[0], args.child[1], args.requests, args.megabytes, args.batches)
        return

    keys = ("cpu_per_request", "wall_per_request", "cpu_per_mb")
    samples: dict[str, dict[str, list[float]]] = {label: {k: [] for k in keys} for label in CLIENTS}
    failed: set[str] = set()
    floor: dict[str, list[float]] = {"recv": [], "json": []}
    with emulator() as env:
        # Rounds of one process per client in turn, so that a change in the machine's load
        # during the run weighs on every client alike; the table shows medians of all batches.
        for _ in range(args.rounds):
            for label, (package, loop) in CLIENTS.items():
                if label in failed:
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--child", package, loop,
                     "--requests", str(args.requests), "--megabytes", str(args.megabytes),
                     "--batches", str(args.batches)],
                    env={**os.environ, **env}, capture_output=True, text=True, check=False,
                )  # fmt: skip
                if out.returncode != 0:
                    print(f"{label}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                    failed.add(label)
                    continue
                result = json.loads(out.stdout.strip().splitlines()[-1])
                for key in keys:
                    samples[label][key].extend(result[key])
            out = subprocess.run(
                [sys.executable, __file__, "--floor-child", "--megabytes", str(args.megabytes),
                 "--batches", str(args.batches)],
                env={**os.environ, **env}, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode == 0:
                result = json.loads(out.stdout.strip().splitlines()[-1])
                for key in ("recv", "json"):
                    floor[key].extend(result[key])
            else:
                print(f"floor: failed\n{out.stderr[-2000:]}", file=sys.stderr)
    rows: list[tuple[str, dict[str, Any]]] = [
        (label, {key: statistics.median(values[key]) for key in keys})
        for label, values in samples.items()
        if label not in failed
    ]
    imports = import_times([CLIENTS[label][0] for label, _ in rows], args.imports)
    for label, result in rows:
        result["import"] = imports[CLIENTS[label][0]]

    header = (
        f"{'client':<20} {'CPU ms/request':>15} {'wall ms/request':>16} "
        f"{'CPU ms/MB stream':>17} {'import ms':>10}"
    )
    runs = args.rounds * args.batches
    print(f"medians of {runs} batches of {args.requests} env.get_all() calls and of {runs} "
          f"streams of {args.megabytes} MB of stdout ({args.rounds} processes per client, "
          f"in turn); imports: median of {args.imports}")  # fmt: skip
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

    if floor["recv"] and floor["json"]:
        recv, decode = statistics.median(floor["recv"]), statistics.median(floor["json"])
        print(
            f"\nfloor per MB of stream, for any Python client: {recv * 1e3:.1f} ms reading the "
            f"socket (blocking recv_into, no loop) + {decode * 1e3:.1f} ms json.loads of the "
            f"frames = {(recv + decode) * 1e3:.1f} ms"
        )
        if official is not None:
            print(
                f"half of the official client's CPU per MB: {official['cpu_per_mb'] * 0.5e3:.1f} ms"
            )


if __name__ == "__main__":
    main()
