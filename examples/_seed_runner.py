"""Run one documented example under asyncio (hopx_asyncio) or trio (hopx_trio).

``--local`` starts the local emulator around the example and points ``HOPX_BASE_URL`` and
``HOPX_API_KEY`` at it; without it the example talks to whatever those variables name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--local", action="store_true", help="run against a local emulator started here"
    )
    return parser.parse_args()


def run(description: str, examples: dict[str, Callable[[], Callable[[], Awaitable[Any]]]]) -> None:
    """Build the example for the chosen loop and run it, optionally inside the emulator."""
    args = parse(description)
    main = examples[args.loop]()
    if not args.local:
        _run(args.loop, main)
        return

    async def with_emulator() -> None:
        import hopx_local

        async with hopx_local.serve() as local:
            os.environ.update(local.env)
            await main()

    _run(args.loop, with_emulator)


def _run(loop: str, main: Callable[[], Awaitable[Any]]) -> None:
    if loop == "trio":
        import trio

        trio.run(main)
    else:
        import asyncio

        asyncio.run(main())  # type: ignore[arg-type]
    sys.stdout.flush()
