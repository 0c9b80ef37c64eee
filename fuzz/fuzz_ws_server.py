"""Fuzz the WebSocket server parser: the upgrade request and masked client frames.

A server :class:`hopx_proto._ws.WebSocket` is fed arbitrary bytes and accepts any valid
upgrade request. Invariants as for the client harness: only :class:`HopxError` subclasses
escape, the machine refuses use after an error, EOF ends in ``CloseReceived``, and whole,
byte-by-byte and split input agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from fuzz._harness import Harness, Result, check_split_invariance, main
from fuzz._ws_feed import feed_ws, server_seeds
from hopx_proto._http import Role

__all__ = ["HARNESS"]


def _feed(pieces: Sequence[bytes]) -> Result:
    return feed_ws(Role.SERVER, pieces)


def run(data: bytes) -> None:
    """One input: everything a server reads from a client."""
    check_split_invariance(_feed, data)


HARNESS = Harness("ws_server", run, server_seeds)

if __name__ == "__main__":
    main(HARNESS)
