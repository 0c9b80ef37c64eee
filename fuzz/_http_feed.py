"""Feeding bytes to an :class:`HTTPConnection` and recording what it makes of them."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from fuzz._harness import InvariantViolation, Result, cut_after_last, merge_adjacent
from hopx_proto._errors import HopxError, LocalProtocolError
from hopx_proto._http import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    Request,
    Response,
    Role,
)

__all__ = ["feed_http"]

#: More events than this from one input means the machine is looping.
MAX_EVENTS = 20_000
#: Keep-alive cycles followed per input.
MAX_CYCLES = 8

_NEXT_REQUEST = Request("GET", "/next", [("host", "sandbox.test")])
_REPLY = Response(200, [("content-type", "text/plain")], b"ok")


def _check_refuses_after_error(conn: HTTPConnection, exc: HopxError) -> None:
    try:
        conn.next_event()
    except LocalProtocolError:
        return
    except HopxError as other:
        raise InvariantViolation(
            f"after {exc!r} the machine raised {other!r} instead of LocalProtocolError"
        ) from None
    raise InvariantViolation(f"after {exc!r} the machine still returned events")


def feed_http(role: Role, pieces: Sequence[bytes], *, method: str = "GET") -> Result:
    """A fresh machine of ``role`` fed ``pieces`` then EOF, answering each message it reads.

    The client sends a request first (and again on each kept-alive cycle); the server
    answers each request it reads. Events are returned with bodies merged.
    """
    conn = HTTPConnection(role, max_body_size=4096)
    events: list[Hashable] = []
    cycles = 0

    def drain() -> bool:
        nonlocal cycles
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                return True
            events.append(event)
            if len(events) > MAX_EVENTS:
                raise InvariantViolation(f"more than {MAX_EVENTS} events: the machine loops")
            if isinstance(event, ConnectionClosed):
                return False
            if isinstance(event, EndOfMessage):
                if role is Role.SERVER and not conn.is_closed:
                    conn.send_response(_REPLY)
                if conn.is_reusable and cycles < MAX_CYCLES:
                    cycles += 1
                    conn.start_next_cycle()
                    if role is Role.CLIENT:
                        conn.send_request(_NEXT_REQUEST)
                elif not conn.is_reusable:
                    return False

    try:
        if role is Role.CLIENT:
            conn.send_request(Request(method, "/first", [("host", "sandbox.test")]))
        going = True
        for piece in pieces:
            conn.receive_data(piece)
            going = drain()
            if not going:
                break
        if going:
            conn.receive_data(b"")
            drain()
    except HopxError as exc:
        _check_refuses_after_error(conn, exc)
        done = cut_after_last(events, (EndOfMessage, ConnectionClosed))
        return Result(tuple(merge_adjacent(done, BodyChunk)), type(exc), str(exc))
    return Result(tuple(merge_adjacent(events, BodyChunk)), None)


def check_events_are_ours(result: Result) -> None:
    """Every event is one of the machine's public event types."""
    for event in result.events:
        if type(event).__module__ != "hopx_proto._http":
            raise InvariantViolation(f"foreign event type {type(event)!r}")
        if isinstance(event, Response):
            raise InvariantViolation("next_event returned a whole Response")
