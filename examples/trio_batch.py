"""A batch of jobs on many sandboxes at once, under a trio nursery (hopx_trio).

The job: count the primes below a limit, split into chunks; each chunk runs in a sandbox of its
own. A :class:`trio.CapacityLimiter` keeps at most ``--parallel`` sandboxes alive at a time,
and one :class:`hopx_trio.Client` (one connection pool) serves the whole batch. Every sandbox
is created with ``async with`` (killed when its job ends, even on failure); a failed job is
recorded rather than cancelling its siblings. At the end the per-chunk counts are
summed and checked against the same count done locally, and the sandbox list is checked for
leftovers.

    python examples/trio_batch.py [--chunks 8] [--parallel 3] [--limit 400000]
    hopx-local run -- python examples/trio_batch.py
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import attrs
import trio
from _local import service

from hopx_trio import AsyncSandbox, Client, HopxError

COUNT_PRIMES = """
import math
lo, hi = {lo}, {hi}
sieve_hi = math.isqrt(hi) + 1
small = bytearray([1]) * sieve_hi
small[:2] = b"\\x00\\x00"
for i in range(2, math.isqrt(sieve_hi) + 1):
    if small[i]:
        small[i * i :: i] = bytearray(len(small[i * i :: i]))
base = [i for i in range(sieve_hi) if small[i]]
block = bytearray([1]) * (hi - lo)
for p in base:
    start = max(p * p, (lo + p - 1) // p * p)
    block[start - lo :: p] = bytearray(len(block[start - lo :: p]))
for n in range(lo, min(hi, 2)):
    block[n - lo] = 0
print(sum(block))
"""


@attrs.frozen
class Outcome:
    """What one job gave: a prime count, or the error that stopped it."""

    chunk: tuple[int, int]
    sandbox_id: str | None
    primes: int | None
    seconds: float
    error: str | None = None


@attrs.define
class Concurrency:
    """How many jobs hold a sandbox right now, and the most at once."""

    now: int = 0
    peak: int = 0

    def enter(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        self.now -= 1


def chunks_of(limit: int, count: int) -> list[tuple[int, int]]:
    """``count`` half-open ranges covering ``[0, limit)``."""
    edges = [limit * i // count for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def count_primes_locally(limit: int) -> int:
    sieve = bytearray([1]) * limit
    sieve[: min(2, limit)] = bytes(min(2, limit))
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(sieve[i * i :: i]))
    return sum(sieve)


async def job(
    client: Client,
    chunk: tuple[int, int],
    limiter: trio.CapacityLimiter,
    concurrency: Concurrency,
    outcomes: list[Outcome],
) -> None:
    """Run one chunk in a fresh sandbox; record the outcome either way."""
    async with limiter:
        concurrency.enter()
        started = time.monotonic()
        sandbox_id: str | None = None
        try:
            async with AsyncSandbox.create(template="code-interpreter", client=client) as sandbox:
                sandbox_id = sandbox.sandbox_id
                result = await sandbox.run_code(COUNT_PRIMES.format(lo=chunk[0], hi=chunk[1]))
                if result.exit_code != 0:
                    raise HopxError(f"exit code {result.exit_code}: {result.stderr.strip()}")
                primes = int(result.stdout)
            outcome = Outcome(chunk, sandbox_id, primes, time.monotonic() - started)
        except (HopxError, ValueError) as exc:
            outcome = Outcome(chunk, sandbox_id, None, time.monotonic() - started, str(exc))
        finally:
            concurrency.leave()
    outcomes.append(outcome)
    state = f"{outcome.primes} primes" if outcome.error is None else f"FAILED: {outcome.error}"
    print(f"  [{chunk[0]:>7}, {chunk[1]:>7})  {sandbox_id}  {state}  ({outcome.seconds:.2f} s)")


async def leftovers(client: Client, ours: set[str]) -> list[str]:
    """Ids of this batch's sandboxes the service still lists."""
    listed = await AsyncSandbox.list(client=client)
    try:
        return [sb.sandbox_id for sb in listed if sb.sandbox_id in ours]
    finally:
        for sb in listed:
            await sb.aclose()


async def main(limit: int, chunk_count: int, parallel: int) -> int:
    async with service() as svc:
        client = Client(api_key=svc.api_key, base_url=svc.base_url)
        async with client:
            chunks = chunks_of(limit, chunk_count)
            limiter = trio.CapacityLimiter(parallel)
            concurrency = Concurrency()
            outcomes: list[Outcome] = []
            print(f"{len(chunks)} jobs, at most {parallel} sandboxes at a time")
            started = time.monotonic()
            async with trio.open_nursery() as nursery:
                for chunk in chunks:
                    nursery.start_soon(job, client, chunk, limiter, concurrency, outcomes)
            elapsed = time.monotonic() - started

            failed = [o for o in outcomes if o.error is not None]
            total = sum(o.primes or 0 for o in outcomes)
            print(f"batch done in {elapsed:.2f} s; peak concurrency {concurrency.peak}/{parallel}")
            ours = {o.sandbox_id for o in outcomes if o.sandbox_id is not None}
            remaining = await leftovers(client, ours)
            print(f"sandboxes still listed after the batch: {len(remaining)}")

    expected = count_primes_locally(limit)
    print(f"primes below {limit}: {total} from the sandboxes, {expected} computed here")
    ok = not failed and not remaining and total == expected and concurrency.peak <= parallel
    print("batch OK" if ok else f"batch FAILED ({len(failed)} failed jobs)")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=400_000, help="count primes below this")
    parser.add_argument("--chunks", type=int, default=8, help="how many jobs (sandboxes)")
    parser.add_argument("--parallel", type=int, default=3, help="sandboxes alive at once")
    args = parser.parse_args()
    if args.limit < 2 or args.chunks < 1 or args.parallel < 1 or args.chunks > args.limit:
        parser.error("need --limit >= 2, 1 <= --chunks <= --limit and --parallel >= 1")
    sys.exit(trio.run(main, args.limit, args.chunks, args.parallel))
