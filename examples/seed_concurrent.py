"""Example 3 of the AsyncSandbox reference: concurrent sandboxes.

Under asyncio it is the documented code (``asyncio.gather``); under trio the same calls run in
a nursery, trio's way of gathering.

    python examples/seed_concurrent.py --loop asyncio|trio [--local]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from _seed_runner import run


def for_asyncio() -> Callable[[], Awaitable[Any]]:
    import asyncio

    from hopx_asyncio import AsyncSandbox

    async def run_in_sandbox(template):  # type: ignore[no-untyped-def]
        async with AsyncSandbox.create(template=template) as sandbox:
            result = await sandbox.run_code("print('Hello from', template)")
            return result.stdout

    async def main():  # type: ignore[no-untyped-def]
        templates = ["code-interpreter", "nodejs", "go"]
        results = await asyncio.gather(*[run_in_sandbox(t) for t in templates])
        for r in results:
            print(r)

    return main


def for_trio() -> Callable[[], Awaitable[Any]]:
    import trio

    from hopx_trio import AsyncSandbox

    async def run_in_sandbox(template):  # type: ignore[no-untyped-def]
        async with AsyncSandbox.create(template=template) as sandbox:
            result = await sandbox.run_code("print('Hello from', template)")
            return result.stdout

    async def main():  # type: ignore[no-untyped-def]
        templates = ["code-interpreter", "nodejs", "go"]
        results: list[Any] = [None] * len(templates)

        async def one(i: int, t: str) -> None:
            results[i] = await run_in_sandbox(t)

        async with trio.open_nursery() as nursery:
            for i, t in enumerate(templates):
                nursery.start_soon(one, i, t)
        for r in results:
            print(r)

    return main


if __name__ == "__main__":
    run(__doc__ or "", {"asyncio": for_asyncio, "trio": for_trio})
