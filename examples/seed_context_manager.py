"""Example 2 of the AsyncSandbox reference: the async context manager kills the sandbox.

python examples/seed_context_manager.py --loop asyncio|trio [--local]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from _seed_runner import run


def for_asyncio() -> Callable[[], Awaitable[Any]]:
    from hopx_asyncio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        async with AsyncSandbox.create(template="code-interpreter") as sandbox:
            result = await sandbox.run_code("import sys; print(sys.version)")
            print(result.stdout)

    return main


def for_trio() -> Callable[[], Awaitable[Any]]:
    from hopx_trio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        async with AsyncSandbox.create(template="code-interpreter") as sandbox:
            result = await sandbox.run_code("import sys; print(sys.version)")
            print(result.stdout)

    return main


if __name__ == "__main__":
    run(__doc__ or "", {"asyncio": for_asyncio, "trio": for_trio})
