"""Example 1 of the AsyncSandbox reference: basic async usage.

python examples/seed_basic.py --loop asyncio|trio [--local]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from _seed_runner import run


def for_asyncio() -> Callable[[], Awaitable[Any]]:
    from hopx_asyncio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        sandbox = await AsyncSandbox.create(template="code-interpreter")
        result = await sandbox.run_code("print('Hello, HopX!')")
        print(result.stdout)
        await sandbox.kill()

    return main


def for_trio() -> Callable[[], Awaitable[Any]]:
    from hopx_trio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        sandbox = await AsyncSandbox.create(template="code-interpreter")
        result = await sandbox.run_code("print('Hello, HopX!')")
        print(result.stdout)
        await sandbox.kill()

    return main


if __name__ == "__main__":
    run(__doc__ or "", {"asyncio": for_asyncio, "trio": for_trio})
