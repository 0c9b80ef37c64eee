"""The real backends a test can run on the current event loop, and how to drive each.

Besides the loop's own backend, the blocking one of ``hopx_sync`` runs the same client code:
its calls block, so :func:`drive` runs them in a worker thread while the test's servers go on
in the loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread

from hopx_asyncio import AsyncioBackend
from hopx_proto.aio import Backend
from hopx_sync import BlockingBackend
from hopx_sync._driver import run
from hopx_trio import TrioBackend

T = TypeVar("T")

#: Each loop's own backend: one I/O stack per loop.
BACKENDS: dict[str, Callable[[dict[str, str]], Backend]] = {
    "asyncio": AsyncioBackend,
    "trio": TrioBackend,
}


def loop_backends(loop: str) -> list[Callable[[dict[str, str]], Backend]]:
    """The backend of ``loop`` alone (for tests that cancel a call from the loop)."""
    return [BACKENDS[loop]]


def real_backends(loop: str) -> list[Callable[[dict[str, str]], Backend]]:
    """Backend factories for a test on ``loop`` ("asyncio" or "trio"): the loop's own and
    the blocking one (drive its calls with :func:`drive`)."""
    return [BACKENDS[loop], BlockingBackend]


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def drive(backend: Any, awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, a call of a client on ``backend``: awaited in the loop, or
    run to its end in a worker thread when the backend blocks."""
    if isinstance(backend, BlockingBackend):
        coro = _awaited(awaitable)
        return await anyio.to_thread.run_sync(run, coro)
    return await awaitable
