"""Example 4 of the AsyncSandbox reference: streaming output.

python examples/seed_streaming.py --loop asyncio|trio [--local]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from _seed_runner import run


def for_asyncio() -> Callable[[], Awaitable[Any]]:
    from hopx_asyncio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        sandbox = await AsyncSandbox.create(template="code-interpreter")

        async for message in sandbox.run_code_stream(
            "for i in range(5):\n    print(f'Count: {i}')\n    import time\n    time.sleep(1)"
        ):
            if message.get("type") == "stdout":
                print(message.get("data", ""), end="")

        await sandbox.kill()

    return main


def for_trio() -> Callable[[], Awaitable[Any]]:
    from hopx_trio import AsyncSandbox

    async def main():  # type: ignore[no-untyped-def]
        sandbox = await AsyncSandbox.create(template="code-interpreter")

        async for message in sandbox.run_code_stream(
            "for i in range(5):\n    print(f'Count: {i}')\n    import time\n    time.sleep(1)"
        ):
            if message.get("type") == "stdout":
                print(message.get("data", ""), end="")

        await sandbox.kill()

    return main


if __name__ == "__main__":
    run(__doc__ or "", {"asyncio": for_asyncio, "trio": for_trio})
