"""What reaching a sandbox's port through its preview URL costs, next to the agent itself.

Measures, side by side in one run (median and p99 of N rounds, interleaved so a change in the
machine's load affects every row alike), with the asyncio client's transport against an
in-process emulator and a sandbox without internet access (its own network namespace):

* ``GET /health`` of the agent on a kept-alive connection (the floor of one request);
* ``GET /health`` of the agent on a fresh connection each time;
* ``GET /hello.txt`` through ``get_preview_url(8080)`` from ``http.server`` in the sandbox
  (a fresh connection each time: that server closes after each reply), which adds the
  connect inside the sandbox's namespace and the splice;
* ``GET /big.bin`` (16 MiB) through the preview URL, as MB/s.

    .venv/bin/python bench/preview_latency.py [--runs 50]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import anyio

import hopx_local
from hopx_asyncio import AsyncSandbox
from hopx_proto._http import Request
from hopx_proto._url import BaseURL
from hopx_proto.aio._transport import HTTPTransport

BIG = 16 << 20
SERVER = f"""
import http.server, os
os.makedirs('/workspace/site', exist_ok=True)
os.chdir('/workspace/site')
open('hello.txt', 'w').write('hello\\n')
open('big.bin', 'wb').write(b'x' * {BIG})
handler = http.server.SimpleHTTPRequestHandler
http.server.ThreadingHTTPServer(('127.0.0.1', 8080), handler).serve_forever()
"""


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def _timed(transport: HTTPTransport, url: str, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = await transport.request(BaseURL.parse(url), Request("GET", path))
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {url}{path}: {response.status}")
    return elapsed, len(response.body or b"")


async def main(runs: int) -> None:
    async with (
        hopx_local.serve() as local,
        AsyncSandbox.create(
            template="code-interpreter",
            internet_access=False,
            api_key=local.api_key,
            base_url=local.base_url,
        ) as sb,
    ):
        transport = sb._client.transport
        agent = (await sb.get_info()).public_host
        preview = await sb.get_preview_url(8080)
        await sb.run_code_background(SERVER)
        with anyio.fail_after(60):
            while True:
                got = await transport.request(BaseURL.parse(preview), Request("GET", "/hello.txt"))
                if got.status == 200:
                    break
                await anyio.sleep(0.2)
        fresh = HTTPTransport(transport.backend)
        rows: dict[str, list[float]] = {
            "agent /health, kept-alive": [],
            "agent /health, new connection": [],
            "preview /hello.txt (new connection)": [],
        }
        rates: list[float] = []
        for _ in range(runs):
            rows["agent /health, kept-alive"].append((await _timed(transport, agent, "/health"))[0])
            await fresh.aclose()
            fresh = HTTPTransport(transport.backend)
            rows["agent /health, new connection"].append((await _timed(fresh, agent, "/health"))[0])
            rows["preview /hello.txt (new connection)"].append(
                (await _timed(transport, preview, "/hello.txt"))[0]
            )
            if len(rates) < max(3, runs // 10):
                seconds, size = await _timed(transport, preview, "/big.bin")
                rates.append(size / seconds / 1e6)
        await fresh.aclose()
    print(f"{runs} rounds; sandbox without internet access; asyncio client")
    for name, samples in rows.items():
        median, p99 = statistics.median(samples) * 1000, _p99(samples) * 1000
        print(f"  {name:<40} median {median:8.2f} ms   p99 {p99:8.2f} ms")
    print(f"  {'preview /big.bin (16 MiB)':<40} median {statistics.median(rates):8.1f} MB/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50)
    anyio.run(main, parser.parse_args().runs)
