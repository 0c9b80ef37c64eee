"""The real backends a test can run on the current event loop."""

from __future__ import annotations

from collections.abc import Callable

from hopx_asyncio import AsyncioBackend
from hopx_proto.aio import Backend
from hopx_trio import TrioBackend

#: Each loop's own backend: one I/O stack per loop.
BACKENDS: dict[str, Callable[[dict[str, str]], Backend]] = {
    "asyncio": AsyncioBackend,
    "trio": TrioBackend,
}


def real_backends(loop: str) -> list[Callable[[dict[str, str]], Backend]]:
    """Backend factories for ``loop`` ("asyncio" or "trio")."""
    return [BACKENDS[loop]]
