"""How much one sandbox's heavy file work delays another sandbox's ``/health``.

A ``hopx-local serve`` child process runs two sandboxes. One of them (the busy one) lists and
removes a directory of 100,000 entries, writes and reads a 48 MiB file through the JSON API
and downloads it; meanwhile the benchmark asks the other sandbox's ``GET /health`` back to
back on one kept-alive connection and records how long each answer takes. The same is
measured with nothing else running, in the same run, and each row shows the median, p99 and
worst latency and the worst delay over that idle median. The target: no more than 50 ms of
delay while a directory of 100,000 entries is listed or removed.

    .venv/bin/python bench/emulator_fairness.py [--entries 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from hopx_proto import NEED_DATA, HTTPConnection, Request, Response, Role

KEY = "bench-fairness"
WAIT = 600.0
IDLE_SECONDS = 3.0
#: The largest file a JSON write carries within the server's 48 MiB body limit, about.
BIG_FILE = 48 << 20


class Client:
    """One kept-alive blocking HTTP/1.1 connection."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None
        assert parsed.port is not None
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=WAIT)
        self.conn = HTTPConnection(Role.CLIENT, max_body_size=512 << 20)

    def call(
        self, method: str, target: str, headers: tuple[tuple[str, str], ...] = (), body: Any = None
    ) -> Response:
        raw = b"" if body is None else json.dumps(body).encode()
        extra = (("content-type", "application/json"),) if body is not None else ()
        if self.conn.is_reusable:
            self.conn.start_next_cycle()
        request = Request(method, target, (("host", "x"), *headers, *extra), raw)
        self.sock.sendall(self.conn.send_request(request))
        while True:
            message = self.conn.next_message()
            if isinstance(message, Response):
                if message.status >= 400:
                    raise RuntimeError(f"{method} {target}: {message.status} {message.body!r}")
                return message
            if message is not NEED_DATA:
                raise RuntimeError(f"{method} {target}: connection closed")
            self.conn.receive_data(self.sock.recv(1 << 20))

    def close(self) -> None:
        self.sock.close()


def start_server(state: pathlib.Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0", "--api-key", KEY]
    command += ["--state-dir", str(state)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            if "HOPX_BASE_URL=" in line:
                return proc, line.split("HOPX_BASE_URL=", 1)[1].strip()
    finally:
        watchdog.cancel()
    raise SystemExit("hopx-local serve did not start")


def create(control: str) -> dict[str, Any]:
    client = Client(control)
    try:
        reply = client.call(
            "POST", "/v1/sandboxes", (("x-api-key", KEY),), {"template_name": "code-interpreter"}
        )
    finally:
        client.close()
    result: dict[str, Any] = json.loads(reply.body or b"")
    return result


def fill(loader: Client, token: tuple[tuple[str, str], ...], count: int) -> None:
    """``/workspace/big`` with ``count`` empty files, made by code in the busy sandbox."""
    code = (
        "import os\nos.mkdir('/workspace/big')\n"
        f"for i in range({count}):\n"
        "    os.close(os.open(f'/workspace/big/f{i:06d}', os.O_WRONLY | os.O_CREAT, 0o644))\n"
    )
    body = {"code": code, "language": "python", "timeout": 600}
    reply = loader.call("POST", "/execute", token, body)
    result = json.loads(reply.body or b"")
    if result["exit_code"] != 0:
        raise RuntimeError(f"could not fill the directory: {result['stderr']}")


def ping_while(other: str, busy: Callable[[], None] | None, seconds: float) -> list[float]:
    """Latencies (s) of the other sandbox's /health, asked back to back while ``busy`` runs
    in a thread (or for ``seconds`` when there is nothing to run)."""
    client = Client(other)
    latencies: list[float] = []
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if busy is not None:
                busy()
            else:
                time.sleep(seconds)
        except BaseException as exc:  # reported below
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        while not done.is_set():
            started = time.perf_counter()
            client.call("GET", "/health")
            latencies.append(time.perf_counter() - started)
    finally:
        worker.join(WAIT)
        client.close()
    if failure:
        raise failure[0]
    return latencies


def summary(name: str, samples: list[float], idle_median: float | None) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] * 1000
    worst = ordered[-1] * 1000
    delay = f"{worst - idle_median * 1000:8.1f}" if idle_median is not None else "       -"
    return f"{name:<34} {len(samples):>7} {p50:8.2f} {p99:8.2f} {worst:8.1f} {delay}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopx-fairness-") as temp:
        state = pathlib.Path(temp) / "state"
        proc, control = start_server(state)
        try:
            run(control, options.entries, options.rounds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(control: str, entries: int, rounds: int) -> None:
    busy, other = create(control), create(control)
    token = (("authorization", f"Bearer {busy['auth_token']}"),)
    loader = Client(busy["public_host"])
    write = {"path": "/workspace/big.txt", "content": "x" * BIG_FILE}
    #: (row, method, target, body) of the busy sandbox's work, in the order it is done.
    work = [
        (f"list {entries:,} entries", "GET", "/files/list?path=/workspace/big", None),
        (f"remove {entries:,} entries", "DELETE", "/files/remove?path=/workspace/big", None),
        ("write 48 MiB (JSON text)", "POST", "/files/write", write),
        ("read 48 MiB (JSON text)", "GET", "/files/read?path=/workspace/big.txt", None),
        ("download 48 MiB", "GET", "/files/download?path=/workspace/big.txt", None),
    ]
    samples: dict[str, list[float]] = {"idle": []}
    for _round in range(rounds):
        samples["idle"] += ping_while(other["public_host"], None, IDLE_SECONDS)
        fill(loader, token, entries)
        for row, method, target, body in work:

            def busy_work(method: str = method, target: str = target, body: Any = body) -> None:
                loader.call(method, target, token, body)

            samples.setdefault(row, []).extend(ping_while(other["public_host"], busy_work, 0))
    loader.close()
    idle_median = statistics.median(samples["idle"])
    print(f"other sandbox's GET /health while one sandbox works ({rounds} rounds)")
    print(f"{'while':<34} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'delay':>8}")
    for row, found in samples.items():
        print(summary(row, found, None if row == "idle" else idle_median))
    worst = max(max(samples[row]) for row, *_rest in work[:2]) - idle_median
    verdict = "within" if worst <= 0.050 else "OVER"
    print(f"worst delay while listing or removing: {worst * 1000:.1f} ms ({verdict} 50 ms)")


if __name__ == "__main__":
    main()
