"""Fuzz the HTTP request parser: a server :class:`HTTPConnection` fed arbitrary bytes.

Invariants: only :class:`HopxError` subclasses escape; after an error every call raises
:class:`LocalProtocolError`; whole, byte-by-byte and split input give the same events (or the
same error type). The server answers every request it reads, so pipelined requests and
keep-alive cycles are exercised. Run: ``python -m fuzz.fuzz_http_request --smoke 2000`` or
under atheris (see fuzz/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from fuzz._harness import Harness, Result, check_split_invariance, main
from fuzz._http_feed import check_events_are_ours, feed_http
from fuzz.seeds import http_request_seeds
from hopx_proto._http import Role

__all__ = ["HARNESS"]


def _feed(pieces: Sequence[bytes]) -> Result:
    return feed_http(Role.SERVER, pieces)


def run(data: bytes) -> None:
    """One input: the bytes a server reads from a client."""
    check_events_are_ours(check_split_invariance(_feed, data))


HARNESS = Harness("http_request", run, lambda: list(http_request_seeds()))

if __name__ == "__main__":
    main(HARNESS)
