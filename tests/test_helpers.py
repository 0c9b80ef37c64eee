"""The test helpers themselves: the in-memory pair, event draining, merging and splitting."""

from __future__ import annotations

from helpers import (
    ClientServerPair,
    Outcome,
    events_from_pieces,
    get_all_events,
    merge_body_chunks,
    split_at,
)

from hopx_proto._errors import RemoteProtocolError
from hopx_proto._http import (
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    HTTPEvent,
    Request,
    RequestHead,
    Response,
    ResponseHead,
    Role,
)


def test_merge_body_chunks_joins_neighbours_and_drops_empty_pieces() -> None:
    head = ResponseHead(200, ())
    events: list[HTTPEvent] = [
        head,
        BodyChunk(b"a"),
        BodyChunk(b""),
        BodyChunk(b"bc"),
        EndOfMessage(),
    ]
    assert merge_body_chunks(events) == [head, BodyChunk(b"abc"), EndOfMessage()]
    # chunks separated by another event stay apart
    events = [BodyChunk(b"a"), EndOfMessage(), BodyChunk(b"b")]
    assert merge_body_chunks(events) == events


def test_split_at_keeps_every_byte_in_order() -> None:
    assert split_at(b"abcdef", [2, 4]) == [b"ab", b"cd", b"ef"]
    assert split_at(b"abcdef", [4, 2, 2, 0, 99, -3]) == [b"ab", b"cd", b"ef"]
    assert split_at(b"abc", []) == [b"abc"]
    assert split_at(b"", [1]) == []


def test_get_all_events_stops_at_need_data_and_after_close() -> None:
    server = HTTPConnection(Role.SERVER)
    server.receive_data(b"GET /a HTTP/1.1\r\nhost: h\r\n\r\n")
    events = get_all_events(server)
    assert events == [RequestHead("GET", "/a", ((b"host", b"h"),)), EndOfMessage()]
    assert get_all_events(server) == []
    server2 = HTTPConnection(Role.SERVER)
    server2.receive_data(b"")
    assert get_all_events(server2) == [ConnectionClosed()]


def test_pair_carries_a_request_and_a_response() -> None:
    pair = ClientServerPair()
    events = pair.send_request(Request("POST", "/x", [("host", "h")], b"hello"))
    assert isinstance(events[0], RequestHead)
    assert events[0].method == "POST"
    assert events[0].header("content-length") == "5"
    assert events[1:] == [BodyChunk(b"hello"), EndOfMessage()]
    events = pair.send_response(Response(201, [("x-a", "1")], b"made"))
    assert isinstance(events[0], ResponseHead)
    assert events[0].status == 201
    assert events[1:] == [BodyChunk(b"made"), EndOfMessage()]
    assert pair.client_wire.startswith(b"POST /x HTTP/1.1\r\n")
    assert pair.server_wire.startswith(b"HTTP/1.1 201 ")
    assert pair.client.is_reusable
    assert pair.server.is_reusable


def test_pair_streams_bodies_and_reuses_the_connection() -> None:
    pair = ClientServerPair()
    head = pair.send_request(Request("PUT", "/up", [("host", "h")], None))
    assert [type(e) for e in head] == [RequestHead]
    assert pair.client_body(b"ab") == [BodyChunk(b"ab")]
    assert pair.client_body(b"cd", end=True) == [BodyChunk(b"cd"), EndOfMessage()]
    pair.send_response(Response(200, [], None))
    assert pair.server_body(b"xyz", end=True) == [BodyChunk(b"xyz"), EndOfMessage()]
    pair.start_next_cycle()
    got_req, got_resp = pair.exchange(
        Request("GET", "/again", [("host", "h")]), Response(200, [], b"ok")
    )
    assert (got_req.method, got_req.target, got_req.body) == ("GET", "/again", b"")
    assert (got_resp.status, got_resp.body) == (200, b"ok")


def test_pair_close_reports_connection_closed() -> None:
    pair = ClientServerPair()
    pair.exchange(Request("GET", "/", [("host", "h")]), Response(200, [], b""))
    pair.start_next_cycle()
    assert pair.close_client() == [ConnectionClosed()]
    assert pair.close_server() == [ConnectionClosed()]


def test_events_from_pieces_reports_events_and_error_type() -> None:
    data = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd"
    client = HTTPConnection(Role.CLIENT)
    client.send_request(Request("GET", "/", [("host", "h")]))
    outcome = events_from_pieces(client, [data[:10], data[10:40], data[40:]])
    assert outcome.error is None
    assert outcome.events[1:] == (BodyChunk(b"abcd"), EndOfMessage())
    truncated = HTTPConnection(Role.CLIENT)
    truncated.send_request(Request("GET", "/", [("host", "h")]))
    outcome = events_from_pieces(truncated, [data[:-2]], eof=True)
    assert outcome == Outcome(outcome.events, RemoteProtocolError)
    assert outcome.events[-1] == BodyChunk(b"ab")
