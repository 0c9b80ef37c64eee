"""Eight sandboxes at once from a thread pool, sharing one client (one connection pool).

Each worker thread creates its own sandbox through the shared ``Client``, runs a small job in
it and kills it. The client is safe to use from any thread; it starts no threads of its own.

    python examples/sync_thread_pool.py [--sandboxes 8]
    hopx-local run -- python examples/sync_thread_pool.py
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from _local import blocking_service

from hopx_sync import Client, Sandbox

JOB = "import math; print(math.factorial({n}))"


def work(client: Client, n: int) -> tuple[int, str, str]:
    """Create a sandbox, compute n! in it, kill it; (n, the result, the sandbox id)."""
    with Sandbox.create(template="code-interpreter", client=client) as sandbox:
        result = sandbox.run_code(JOB.format(n=n))
        return n, result.stdout.strip(), sandbox.sandbox_id


def main(count: int) -> None:
    with blocking_service() as svc, Client(api_key=svc.api_key, base_url=svc.base_url) as client:
        with ThreadPoolExecutor(max_workers=count) as pool:
            results = list(pool.map(lambda n: work(client, n), range(10, 10 + count)))
        for n, value, sandbox_id in results:
            print(f"{n}! = {value} (sandbox {sandbox_id})")
        print(f"{len({r[2] for r in results})} sandboxes, one client, all killed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=8, help="how many at once")
    args = parser.parse_args()
    if args.sandboxes < 1:
        parser.error("--sandboxes must be at least 1")
    main(args.sandboxes)
