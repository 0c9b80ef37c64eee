"""Fuzz the ``multipart/form-data`` decoder (hopx_proto._multipart.MultipartDecoder).

Input: a body, or (when it starts with ``multipart/``) a content type line, ``\\n``, then the
body. Invariants: only :class:`HopxError` subclasses escape (also from the content-type
parser); after an error every call raises :class:`LocalProtocolError`; whole, byte-by-byte and
split input give the same parts (data merged) or the same error type; the decoder ends with
``Done`` or an error, never waits forever after EOF.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from fuzz._harness import (
    Harness,
    InvariantViolation,
    Result,
    check_split_invariance,
    cut_after_last,
    main,
    merge_adjacent,
    require_module,
)
from hopx_proto._errors import HopxError, LocalProtocolError
from hopx_proto._http import NEED_DATA

__all__ = ["HARNESS"]

_mp: Any = require_module("hopx_proto._multipart")

BOUNDARY = "----hopxFormBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
MAX_EVENTS = 20_000


def _split_input(data: bytes) -> tuple[bytes, bytes]:
    if data[:10].lower() == b"multipart/":
        line, _, body = data.partition(b"\n")
        return line, body
    return CONTENT_TYPE.encode(), data


def _feed_with(content_type: bytes, pieces: Sequence[bytes]) -> Result:
    events: list[Hashable] = []
    try:
        decoder = _mp.MultipartDecoder(content_type, max_part_header_size=1024, max_parts=64)
    except HopxError as exc:
        return Result((), type(exc), str(exc))

    def drain() -> bool:
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                return False
            events.append(event)
            if len(events) > MAX_EVENTS:
                raise InvariantViolation(f"more than {MAX_EVENTS} events: the decoder loops")
            if isinstance(event, _mp.Done):
                return True

    try:
        finished = False
        for piece in pieces:
            decoder.receive_data(piece)
            if drain():
                finished = True
                break
        if not finished:
            decoder.receive_data(b"")
            if not drain():
                raise InvariantViolation("NEED_DATA after EOF")
    except HopxError as exc:
        try:
            decoder.next_event()
        except LocalProtocolError:
            pass
        else:
            raise InvariantViolation(f"after {exc!r} the decoder still returned events") from None
        done = cut_after_last(events, (_mp.PartEnd,))
        return Result(tuple(merge_adjacent(done, _mp.PartData)), type(exc), str(exc))
    return Result(tuple(merge_adjacent(events, _mp.PartData)), None)


def run(data: bytes) -> None:
    """One input: a multipart body (optionally preceded by its content type line)."""
    content_type, body = _split_input(data)
    content_type = content_type[:2048]
    result = check_split_invariance(lambda pieces: _feed_with(content_type, pieces), body)
    if result.error is None:
        _check_whole_decode_agrees(content_type, body, result)


def _check_whole_decode_agrees(content_type: bytes, body: bytes, result: Result) -> None:
    """``decode_multipart`` on the whole body returns the parts the push parser gave."""
    try:
        parts = _mp.decode_multipart(content_type, body, max_part_header_size=1024, max_parts=64)
    except HopxError as exc:
        raise InvariantViolation(f"decode_multipart raised {exc!r} on a body that parses") from None
    starts = [e for e in result.events if isinstance(e, _mp.PartStart)]
    if [(p.name, p.filename) for p in parts] != [(s.name, s.filename) for s in starts]:
        raise InvariantViolation("decode_multipart and the push parser disagree on the parts")


def seeds() -> list[bytes]:
    """Bodies written by the encoder, and hand-written edge cases."""
    part = _mp.Part
    forms = [
        [part("path", "/workspace/a b&c=d?e#f"), part("file", b"hello\r\n--not", "a.txt")],
        [part("file", bytes(range(256)), '\u20ac "q" %22.bin', "application/octet-stream")],
        [part("empty", b""), part("x", "\u00e9" * 40)],
    ]
    out = [_mp.encode_multipart(fields, BOUNDARY)[1] for fields in forms]
    out += [
        b'multipart/form-data; boundary="quoted b"\n--quoted b\r\n'
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC.txt\r\n\r\n"
        b"data\r\n--quoted b--\r\n",
        b"multipart/form-data; boundary=x\npreamble\r\n--x\r\n"
        b"Content-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--x  \r\n"
        b'content-disposition: form-data; name*0="lo"; name*1="ng"\r\n\r\n2\r\n--x--epilogue',
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\n\r\nno closing".encode(),
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n"
        f"--{BOUNDARY}--".encode(),
    ]
    return out


HARNESS = Harness("multipart", run, seeds)

if __name__ == "__main__":
    main(HARNESS)
