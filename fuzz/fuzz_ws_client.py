"""Fuzz the WebSocket client parser: the handshake reply and server frames.

A client :class:`hopx_proto._ws.WebSocket` sends its upgrade request with a fixed key and is
fed arbitrary bytes. Invariants: only :class:`HopxError` subclasses escape (a refused upgrade
is the mapped agent error); after an error every call raises :class:`LocalProtocolError`; EOF
always ends in ``CloseReceived``; whole, byte-by-byte and split input agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from fuzz._harness import Harness, Result, check_split_invariance, main
from fuzz._ws_feed import client_seeds, feed_ws
from hopx_proto._http import Role

__all__ = ["HARNESS"]


def _feed(pieces: Sequence[bytes]) -> Result:
    return feed_ws(Role.CLIENT, pieces)


def run(data: bytes) -> None:
    """One input: everything a client reads after sending its upgrade request."""
    check_split_invariance(_feed, data)


HARNESS = Harness("ws_client", run, client_seeds)

if __name__ == "__main__":
    main(HARNESS)
