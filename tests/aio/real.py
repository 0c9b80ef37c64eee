"""The real backends a test can run on the current event loop."""

from __future__ import annotations

from collections.abc import Callable

from hopx_proto.aio._backend import Backend


def real_backends(loop: str) -> list[Callable[[dict[str, str]], Backend]]:
    """Backend factories for ``loop`` ("asyncio" or "trio"): the asyncio adapter runs on
    both (on trio through anyio), the trio adapter on trio only."""
    from hopx_asyncio._backend import AnyioBackend

    if loop == "asyncio":
        return [AnyioBackend]
    from hopx_trio._backend import TrioBackend

    return [TrioBackend, AnyioBackend]
