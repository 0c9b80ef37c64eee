"""In-memory HTTP peers for tests: a client and a server machine wired back to back.

:class:`ClientServerPair` passes the bytes one side produces straight into the other and
returns the events the receiving side saw. :func:`get_all_events` drains a machine,
:func:`merge_body_chunks` makes event lists comparable regardless of how bodies were split,
and :func:`events_from_pieces` feeds the same bytes in any split and reports what came out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from hopx_proto._errors import HopxError
from hopx_proto._http import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    HTTPConnection,
    HTTPEvent,
    Request,
    Response,
    Role,
)

__all__ = [
    "ClientServerPair",
    "Outcome",
    "events_from_pieces",
    "get_all_events",
    "merge_body_chunks",
    "split_at",
]


def get_all_events(conn: HTTPConnection) -> list[HTTPEvent]:
    """Every event the machine can give now, stopping at ``NEED_DATA`` or after a close."""
    events: list[HTTPEvent] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def merge_body_chunks(events: Iterable[HTTPEvent]) -> list[HTTPEvent]:
    """Events with adjacent :class:`BodyChunk` values merged and empty chunks dropped."""
    merged: list[HTTPEvent] = []
    for event in events:
        if isinstance(event, BodyChunk):
            if not event.data:
                continue
            if merged and isinstance(merged[-1], BodyChunk):
                merged[-1] = BodyChunk(merged[-1].data + event.data)
                continue
        merged.append(event)
    return merged


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated offsets are ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces: list[bytes] = []
    start = 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return [p for p in pieces if p]


@attrs.frozen
class Outcome:
    """What a machine made of some input: its events (merged) and the error type, if any."""

    events: tuple[HTTPEvent, ...]
    error: type[HopxError] | None


def events_from_pieces(
    conn: HTTPConnection, pieces: Sequence[bytes], *, eof: bool = False
) -> Outcome:
    """Feed ``pieces`` one by one (then EOF if asked), draining events after each piece."""
    events: list[HTTPEvent] = []
    try:
        for piece in pieces:
            conn.receive_data(piece)
            events += get_all_events(conn)
            if events and isinstance(events[-1], ConnectionClosed):
                break
        else:
            if eof:
                conn.receive_data(b"")
                events += get_all_events(conn)
    except HopxError as exc:
        return Outcome(tuple(merge_body_chunks(events)), type(exc))
    return Outcome(tuple(merge_body_chunks(events)), None)


class ClientServerPair:
    """A client machine and a server machine connected in memory.

    Every ``send_*`` method writes on one side and returns the events the other side parsed
    from exactly those bytes (bodies merged), so a test states what was sent and what arrived.
    """

    def __init__(
        self,
        *,
        client: HTTPConnection | None = None,
        server: HTTPConnection | None = None,
    ) -> None:
        self.client = client if client is not None else HTTPConnection(Role.CLIENT)
        self.server = server if server is not None else HTTPConnection(Role.SERVER)
        #: Every byte each side wrote, in order (for assertions on the wire form).
        self.client_wire = bytearray()
        self.server_wire = bytearray()

    def _to_server(self, data: bytes) -> list[HTTPEvent]:
        self.client_wire += data
        if data:
            self.server.receive_data(data)
        return merge_body_chunks(get_all_events(self.server))

    def _to_client(self, data: bytes) -> list[HTTPEvent]:
        self.server_wire += data
        if data:
            self.client.receive_data(data)
        return merge_body_chunks(get_all_events(self.client))

    def send_request(self, request: Request) -> list[HTTPEvent]:
        """The client sends ``request``; the server's events."""
        return self._to_server(self.client.send_request(request))

    def send_response(self, response: Response) -> list[HTTPEvent]:
        """The server sends ``response``; the client's events."""
        return self._to_client(self.server.send_response(response))

    def client_body(self, data: bytes, *, end: bool = False) -> list[HTTPEvent]:
        """The client streams one more body piece (and the end, if asked)."""
        out = self.client.send_body(data) + (self.client.send_end() if end else b"")
        return self._to_server(out)

    def server_body(self, data: bytes, *, end: bool = False) -> list[HTTPEvent]:
        """The server streams one more body piece (and the end, if asked)."""
        out = self.server.send_body(data) + (self.server.send_end() if end else b"")
        return self._to_client(out)

    def close_client(self) -> list[HTTPEvent]:
        """The client closes its side; the server's events."""
        self.server.receive_data(b"")
        return get_all_events(self.server)

    def close_server(self) -> list[HTTPEvent]:
        """The server closes its side; the client's events."""
        self.client.receive_data(b"")
        return get_all_events(self.client)

    def exchange(self, request: Request, response: Response) -> tuple[Request, Response]:
        """A whole request and response; what each side assembled with ``next_message``."""
        self.client_wire += (sent := self.client.send_request(request))
        self.server.receive_data(sent)
        got_request = self.server.next_message()
        self.server_wire += (answer := self.server.send_response(response))
        self.client.receive_data(answer)
        got_response = self.client.next_message()
        if not isinstance(got_request, Request):
            raise AssertionError(f"server did not assemble a request: {got_request!r}")
        if not isinstance(got_response, Response):
            raise AssertionError(f"client did not assemble a response: {got_response!r}")
        return got_request, got_response

    def start_next_cycle(self) -> None:
        """Both sides move on to the next request/response of a kept-alive connection."""
        self.client.start_next_cycle()
        self.server.start_next_cycle()
