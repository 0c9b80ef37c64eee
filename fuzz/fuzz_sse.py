"""Fuzz the server-sent events parser (hopx_proto._sse.SSEParser), used for build logs.

The parser has the machine shape shared by every parser here: ``receive_data(bytes)`` (``b""``
is the end of the stream) and ``next_event()`` returning an event or ``NEED_DATA``. Small line
and event limits (256 and 1024 characters) put the limit checks within reach. Invariants:
only :class:`HopxError` subclasses escape; after an error every call raises
:class:`LocalProtocolError`; whole, byte-by-byte and split input give the same events or the
same error type (a CR at the end of one piece and an LF at the start of the next are one line
end, not two).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from fuzz._harness import (
    Harness,
    InvariantViolation,
    Result,
    check_split_invariance,
    main,
    require_module,
)
from hopx_proto._errors import HopxError, LocalProtocolError
from hopx_proto._http import NEED_DATA

__all__ = ["HARNESS"]

_sse: Any = require_module("hopx_proto._sse")
MAX_EVENTS = 20_000


def _feed(pieces: Sequence[bytes]) -> Result:
    parser = _sse.SSEParser(max_line_size=256, max_event_size=1024)
    events: list[Hashable] = []

    def drain() -> None:
        while True:
            event = parser.next_event()
            if event is NEED_DATA or event is None:
                return
            events.append(event)
            if len(events) > MAX_EVENTS:
                raise InvariantViolation(f"more than {MAX_EVENTS} events: the parser loops")

    try:
        for piece in pieces:
            parser.receive_data(piece)
            drain()
        parser.receive_data(b"")
        drain()
    except HopxError as exc:
        try:
            parser.next_event()
        except LocalProtocolError:
            pass
        else:
            raise InvariantViolation(f"after {exc!r} the parser still returned events") from None
        # Events parsed in the same read as the error are never handed out, so how many came
        # before it depends on the split: only the error type is compared.
        return Result((), type(exc), str(exc))
    return Result(tuple(events), None)


def run(data: bytes) -> None:
    """One input: the bytes of an ``text/event-stream`` body."""
    check_split_invariance(_feed, data)


def seeds() -> list[bytes]:
    """Event streams with every field kind and every line ending."""
    log = (
        b'event: log\ndata: {"timestamp":"2026-01-01T00:00:00Z","level":"INFO",'
        b'"message":"Step 1/4 : FROM python"}\nid: 1\n\n'
    )
    return [
        log,
        log.replace(b"\n", b"\r\n"),
        log.replace(b"\n", b"\r"),
        b"\xef\xbb\xbf" + log,
        b": keep-alive comment\n\nretry: 1500\n\ndata: first\ndata: second\n\n",
        b'event: status\ndata: {"status":"building"}\n\n'
        b'event: complete\ndata: {"status":"active"}\n\n',
        b"data\n\ndata:\n\ndata:  two spaces\n\nid: with\x00nul\ndata: x\n\n",
        b"data: no blank line at the end",
        b"retry: nope\nid\nevent:\n:\n\n",
        b"data: \xc3\x28 invalid utf-8\n\n",
    ]


HARNESS = Harness("sse", run, seeds)

if __name__ == "__main__":
    main(HARNESS)
