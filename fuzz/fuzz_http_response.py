"""Fuzz the HTTP response parser: a client :class:`HTTPConnection` fed arbitrary bytes.

Invariants: only :class:`HopxError` subclasses escape; after an error every call raises
:class:`LocalProtocolError`; whole, byte-by-byte and split input give the same events (or the
same error type). Run: ``python -m fuzz.fuzz_http_response --smoke 2000`` or under atheris
(see fuzz/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from fuzz._harness import Harness, Result, check_split_invariance, main
from fuzz._http_feed import check_events_are_ours, feed_http
from fuzz.seeds import http_response_seeds
from hopx_proto._http import Role

__all__ = ["HARNESS"]


def _feed(pieces: Sequence[bytes]) -> Result:
    return feed_http(Role.CLIENT, pieces)


def run(data: bytes) -> None:
    """One input: the response bytes a client reads after sending ``GET /first``."""
    check_events_are_ours(check_split_invariance(_feed, data))


HARNESS = Harness("http_response", run, lambda: list(http_response_seeds()))

if __name__ == "__main__":
    main(HARNESS)
