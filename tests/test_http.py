"""The HTTP/1.1 machines: framing, streaming, keep-alive, limits, errors, split invariance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import ClientServerPair, events_from_pieces, get_all_events, split_at
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hopx_proto._errors import HopxError, LocalProtocolError, RemoteProtocolError
from hopx_proto._http import (
    NEED_DATA,
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
    normalize_headers,
)

HOST = ("host", "sandbox.test")


def _client_after_request(method: str = "GET", **limits: int) -> HTTPConnection:
    client = HTTPConnection(Role.CLIENT, **limits)
    client.send_request(Request(method, "/r", [HOST]))
    return client


# ---------------------------------------------------------------------------------------------
# Wire bytes written by hand, independent of the encoder under test


def raw_response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    chunks: list[int] | None = None,
    reason: bytes = b"X",
) -> bytes:
    """A response on the wire; ``chunks`` gives chunk sizes for chunked framing."""
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [k + b": " + v for k, v in headers]
    if chunks is None:
        lines.append(b"content-length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
    lines.append(b"transfer-encoding: chunked")
    out = b"\r\n".join(lines) + b"\r\n\r\n"
    for piece in split_at(body, _cumulative(chunks)):
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + b"0\r\n\r\n"


def raw_request(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"host: sandbox.test"]
    lines += [k + b": " + v for k, v in headers]
    if body:
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _cumulative(sizes: list[int]) -> list[int]:
    total, out = 0, []
    for size in sizes:
        total += size
        out.append(total)
    return out


# ---------------------------------------------------------------------------------------------
# Messages and framing


def test_content_length_request_and_response_through_a_pair() -> None:
    pair = ClientServerPair()
    events = pair.send_request(
        Request("POST", "/v1/sandboxes", [HOST, ("content-type", "application/json")], b"{}")
    )
    assert events == [
        RequestHead(
            "POST",
            "/v1/sandboxes",
            normalize_headers(
                [HOST, ("content-type", "application/json"), ("content-length", "2")]
            ),
        ),
        BodyChunk(b"{}"),
        EndOfMessage(),
    ]
    events = pair.send_response(Response(201, [("x-request-id", "r1")], b'{"id":"s"}', "Created"))
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.header("X-Request-ID")) == (201, "Created", "r1")
    assert head.header("content-length") == "10"
    assert events[1:] == [BodyChunk(b'{"id":"s"}'), EndOfMessage()]


def test_get_without_body_sends_no_content_length() -> None:
    client = HTTPConnection(Role.CLIENT)
    data = client.send_request(Request("GET", "/x", [HOST]))
    assert data == b"GET /x HTTP/1.1\r\nhost: sandbox.test\r\n\r\n"
    post = HTTPConnection(Role.CLIENT).send_request(Request("POST", "/x", [HOST]))
    assert b"content-length: 0\r\n" in post


def test_content_length_body_streamed_in_pieces() -> None:
    pair = ClientServerPair()
    pair.send_request(Request("PUT", "/f", [HOST, ("content-length", "9")], None))
    assert pair.client_body(b"abc") == [BodyChunk(b"abc")]
    assert pair.client_body(b"") == []
    assert pair.client_body(b"def") == [BodyChunk(b"def")]
    assert pair.client_body(b"ghi", end=True) == [BodyChunk(b"ghi"), EndOfMessage()]


def test_chunked_body_streamed_both_ways() -> None:
    pair = ClientServerPair()
    head = pair.send_request(Request("POST", "/upload", [HOST], None))
    assert isinstance(head[0], RequestHead)
    assert head[0].header("transfer-encoding") == "chunked"
    for piece in (b"one", b"two", b"three"):
        assert pair.client_body(piece) == [BodyChunk(piece)]
    assert pair.client_body(b"", end=True) == [EndOfMessage()]
    assert b"3\r\none\r\n" in pair.client_wire
    head = pair.send_response(Response(200, [("transfer-encoding", "chunked")], None))
    assert [type(e) for e in head] == [ResponseHead]
    assert pair.server_body(b"x" * 1000) == [BodyChunk(b"x" * 1000)]
    assert pair.server_body(b"y", end=True) == [BodyChunk(b"y"), EndOfMessage()]


def test_chunked_response_bytes_arriving_one_at_a_time() -> None:
    data = raw_response(200, [], b"hello world", chunks=[3, 4, 4])
    client = _client_after_request()
    outcome = events_from_pieces(client, [data[i : i + 1] for i in range(len(data))])
    assert outcome.error is None
    assert outcome.events[1:] == (BodyChunk(b"hello world"), EndOfMessage())


def test_response_without_framing_reads_until_close() -> None:
    client = _client_after_request()
    outcome = events_from_pieces(client, [b"HTTP/1.0 200 OK\r\n\r\nabc", b"def"], eof=True)
    assert outcome.events[1:] == (BodyChunk(b"abcdef"), EndOfMessage(), ConnectionClosed())
    assert not client.is_reusable
    assert client.is_closed


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_head_response_has_no_body_even_with_content_length(method: str) -> None:
    client = _client_after_request(method)
    client.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    events = get_all_events(client)
    if method == "HEAD":
        assert events == [ResponseHead(200, ((b"content-length", b"5"),), "OK"), EndOfMessage()]
        assert client.is_reusable
    else:
        assert events == [ResponseHead(200, ((b"content-length", b"5"),), "OK")]
        assert not client.their_message_done


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_statuses_have_no_body(status: int) -> None:
    client = _client_after_request()
    client.receive_data(b"HTTP/1.1 %d X\r\ncontent-length: 5\r\n\r\n" % status)
    message = client.next_message()
    assert isinstance(message, Response)
    assert (message.status, message.body) == (status, b"")
    assert client.is_reusable


@pytest.mark.parametrize("status", [204, 304])
def test_server_sends_no_body_for_no_content_statuses(status: int) -> None:
    pair = ClientServerPair()
    pair.send_request(Request("GET", "/", [HOST]))
    events = pair.send_response(Response(status, [], b"ignored"))
    assert b"ignored" not in pair.server_wire
    assert b"content-length" not in pair.server_wire
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]


def test_interim_100_continue_is_skipped() -> None:
    pair = ClientServerPair()
    pair.send_request(Request("POST", "/x", [HOST, ("expect", "100-continue")], b"abc"))
    assert pair.send_response(Response(100, [])) == []
    events = pair.send_response(Response(200, [], b"ok"))
    assert [type(e) for e in events] == [ResponseHead, BodyChunk, EndOfMessage]
    assert b"HTTP/1.1 100 " in pair.server_wire


def test_switching_protocols_is_reported_and_trailing_data_kept() -> None:
    pair = ClientServerPair()
    pair.send_request(
        Request("GET", "/ws", [HOST, ("connection", "upgrade"), ("upgrade", "websocket")])
    )
    answer = pair.server.send_response(
        Response(101, [("connection", "upgrade"), ("upgrade", "websocket")])
    )
    pair.client.receive_data(answer + b"\x81\x02hi")
    event = pair.client.next_event()
    assert pair.client.trailing_data == b"\x81\x02hi"
    assert isinstance(event, ResponseHead)
    assert event.status == 101


def test_trailing_data_after_an_accepted_upgrade() -> None:
    server = HTTPConnection(Role.SERVER)
    server.receive_data(
        b"GET /ws HTTP/1.1\r\nhost: h\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
    )
    assert [type(e) for e in get_all_events(server)] == [RequestHead, EndOfMessage]
    server.send_response(Response(101, [("connection", "upgrade"), ("upgrade", "websocket")]))
    server.receive_data(b"\x81\x85frame")
    assert server.next_event() is NEED_DATA
    assert server.trailing_data == b"\x81\x85frame"


# ---------------------------------------------------------------------------------------------
# next_message


def test_next_message_assembles_a_body_that_arrives_in_pieces() -> None:
    data = raw_response(200, [(b"x-request-id", b"r9")], b"0123456789", chunks=[1, 2, 3, 4])
    client = _client_after_request()
    for piece in split_at(data, range(0, len(data), 7)):
        message = client.next_message()
        assert message is NEED_DATA
        client.receive_data(piece)
    message = client.next_message()
    assert isinstance(message, Response)
    assert message.body == b"0123456789"
    assert message.header("x-request-id") == "r9"
    assert client.next_message() is NEED_DATA


def test_next_message_on_the_server_and_close_between_messages() -> None:
    server = HTTPConnection(Role.SERVER)
    server.receive_data(raw_request(b"PUT", b"/env?a=1", [(b"x-k", b"v")], b"payload"))
    message = server.next_message()
    assert message == Request(
        "PUT",
        "/env?a=1",
        normalize_headers(
            [HOST, ("x-k", "v"), ("content-length", "7")],
        ),
        b"payload",
    )
    assert isinstance(message, Request)
    assert message.path == "/env"
    server.send_response(Response(204))
    server.start_next_cycle()
    server.receive_data(b"")
    assert server.next_message() == ConnectionClosed()


def test_pair_exchange_round_trips_whole_messages() -> None:
    pair = ClientServerPair()
    request = Request("DELETE", "/v1/sandboxes/a%20b", [HOST, ("x-api-key", "k")])
    response = Response(200, [("content-type", "application/json")], b'{"ok":true}', "OK")
    got_request, got_response = pair.exchange(request, response)
    assert (got_request.method, got_request.target) == ("DELETE", "/v1/sandboxes/a%20b")
    assert got_request.header("x-api-key") == "k"
    assert (got_response.status, got_response.body, got_response.reason) == (
        200,
        b'{"ok":true}',
        "OK",
    )


# ---------------------------------------------------------------------------------------------
# Keep-alive


def test_keep_alive_carries_several_cycles() -> None:
    pair = ClientServerPair()
    for i in range(3):
        assert pair.client.is_idle
        got_request, got_response = pair.exchange(
            Request("GET", f"/n/{i}", [HOST]), Response(200, [], str(i).encode())
        )
        assert got_request.target == f"/n/{i}"
        assert got_response.body == str(i).encode()
        assert pair.client.is_reusable
        assert pair.server.is_reusable
        pair.start_next_cycle()


def test_not_reusable_mid_message_and_next_cycle_refused() -> None:
    pair = ClientServerPair()
    pair.send_request(Request("GET", "/", [HOST]))
    assert not pair.client.is_reusable
    with pytest.raises(LocalProtocolError):
        pair.client.start_next_cycle()
    pair.send_response(Response(200, [("content-length", "4")], None))
    pair.server_body(b"ab")
    assert not pair.client.is_reusable
    pair.server_body(b"cd", end=True)
    assert pair.client.is_reusable


def test_connection_close_ends_reuse() -> None:
    pair = ClientServerPair()
    pair.exchange(Request("GET", "/", [HOST, ("connection", "close")]), Response(200, [], b"x"))
    assert not pair.client.is_reusable
    assert pair.client.is_closed
    assert pair.server.is_closed
    with pytest.raises(LocalProtocolError):
        pair.client.start_next_cycle()


# ---------------------------------------------------------------------------------------------
# Limits


def test_head_growing_past_max_header_size_is_refused() -> None:
    client = _client_after_request(max_header_size=100)
    client.receive_data(b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * 60)
    assert client.next_event() is NEED_DATA
    client.receive_data(b"a" * 60)
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.status_hint == 431


def test_request_head_past_max_header_size_is_refused_byte_by_byte() -> None:
    server = HTTPConnection(Role.SERVER, max_header_size=64)
    data = raw_request(b"GET", b"/" + b"p" * 100, [], b"")
    outcome = events_from_pieces(server, [data[i : i + 1] for i in range(len(data))])
    assert outcome.events == ()
    assert outcome.error is RemoteProtocolError


def test_whole_head_past_max_header_size_is_refused() -> None:
    client = _client_after_request(max_header_size=100)
    client.receive_data(b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * 200 + b"\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        client.next_event()


@pytest.mark.parametrize("chunks", [None, [4, 4, 4, 4, 4]], ids=["content-length", "chunked"])
def test_body_past_max_body_size_is_refused_with_413(chunks: list[int] | None) -> None:
    client = _client_after_request(max_body_size=10)
    client.receive_data(raw_response(200, [], b"z" * 20, chunks=chunks))
    with pytest.raises(RemoteProtocolError) as info:
        get_all_events(client)
    assert info.value.status_hint == 413


def test_body_exactly_at_max_body_size_is_accepted() -> None:
    client = _client_after_request(max_body_size=10)
    client.receive_data(raw_response(200, [], b"z" * 10, chunks=[3, 3, 4]))
    message = client.next_message()
    assert isinstance(message, Response)
    assert message.body == b"z" * 10


def test_body_limit_resets_for_each_message() -> None:
    server = HTTPConnection(Role.SERVER, max_body_size=8)
    for i in range(3):
        server.receive_data(raw_request(b"POST", b"/x", [], b"12345678"))
        message = server.next_message()
        assert isinstance(message, Request), i
        server.send_response(Response(200))
        server.start_next_cycle()


def test_request_body_past_max_body_size_suggests_413() -> None:
    server = HTTPConnection(Role.SERVER, max_body_size=4)
    server.receive_data(raw_request(b"POST", b"/x", [], b"123456"))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_message()
    assert info.value.status_hint == 413


# ---------------------------------------------------------------------------------------------
# Truncation and errors


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-le",
    ],
    ids=["content-length", "mid-chunk", "no-last-chunk", "mid-head"],
)
def test_eof_mid_message_is_a_remote_protocol_error(data: bytes) -> None:
    client = _client_after_request()
    outcome = events_from_pieces(client, [data], eof=True)
    assert outcome.error is RemoteProtocolError


def test_server_sees_eof_mid_request_body() -> None:
    server = HTTPConnection(Role.SERVER)
    server.receive_data(b"POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nab")
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_message()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02 nonsense\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ],
)
def test_malformed_responses_are_remote_protocol_errors(garbage: bytes) -> None:
    client = _client_after_request()
    client.receive_data(garbage)
    with pytest.raises(RemoteProtocolError):
        get_all_events(client)


def test_after_an_error_every_call_is_refused() -> None:
    client = _client_after_request()
    client.receive_data(b"HTTP/1.1 nope\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as first:
        client.next_event()
    calls: list[Callable[[], object]] = [
        client.next_event,
        client.next_message,
        lambda: client.receive_data(b"more"),
        lambda: client.receive_data(b""),
        lambda: client.send_body(b"x"),
        client.send_end,
        client.start_next_cycle,
        lambda: client.send_request(Request("GET", "/", [HOST])),
    ]
    for call in calls:
        with pytest.raises(LocalProtocolError) as info:
            call()
        assert info.value.__cause__ is first.value
    assert client.is_closed
    assert not client.is_reusable


@pytest.mark.parametrize("framing", ["content-length", "until-close"])
def test_reply_received_after_a_failed_write(framing: str) -> None:
    # A server may answer before reading the whole body, then close: the reply stays readable.
    client = HTTPConnection(Role.CLIENT)
    client.send_request(Request("POST", "/up", [HOST, ("content-length", "1000")], None))
    client.send_body(b"x" * 100)
    client.send_failed()
    for call in (lambda: client.send_body(b"x"), client.send_end):
        with pytest.raises(LocalProtocolError, match="failed write"):
            call()
    length = b"content-length: 7\r\n" if framing == "content-length" else b""
    client.receive_data(b"HTTP/1.1 413 Too Large\r\n" + length + b"\r\nno room")
    client.receive_data(b"")
    assert get_all_events(client) == [
        ResponseHead(
            413, normalize_headers([("content-length", "7")] if length else []), "Too Large"
        ),
        BodyChunk(b"no room"),
        EndOfMessage(),
        ConnectionClosed(),
    ]
    assert client.is_closed
    assert not client.is_reusable
    with pytest.raises(LocalProtocolError):
        client.start_next_cycle()


def test_failed_write_then_a_reply_cut_short_is_a_remote_protocol_error() -> None:
    client = HTTPConnection(Role.CLIENT)
    client.send_request(Request("POST", "/up", [HOST], None))
    client.send_failed()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 50\r\n\r\npartial")
    client.receive_data(b"")
    assert client.next_event() == ResponseHead(403, ((b"content-length", b"50"),), "Forbidden")
    assert client.next_event() == BodyChunk(b"partial")
    with pytest.raises(RemoteProtocolError):
        client.next_event()


def test_data_after_eof_is_refused() -> None:
    client = _client_after_request()
    client.receive_data(b"")
    with pytest.raises(HopxError):
        client.receive_data(b"late")


def test_sending_out_of_turn_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        HTTPConnection(Role.SERVER).send_request(Request("GET", "/", [HOST]))
    with pytest.raises(LocalProtocolError):
        HTTPConnection(Role.CLIENT).send_response(Response(200))
    client = _client_after_request()
    with pytest.raises(LocalProtocolError):
        client.send_body(b"body after a complete request")
    with pytest.raises(LocalProtocolError):
        client.send_end()


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "/x", []),
        Request("GET", "/x\r\ninjected: 1", [HOST]),
        Request("GE T", "/x", [HOST]),
        Request("GET", "/x", [HOST, ("bad name", "v")]),
        Request("GET", "/x", [HOST, ("x-a", "v\r\ninjected: 1")]),
    ],
    ids=["no-host", "target-crlf", "method-space", "header-name", "header-value-crlf"],
)
def test_invalid_request_head_is_a_local_protocol_error(request_: Request) -> None:
    client = HTTPConnection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send_request(request_)
    # nothing was produced, so the connection can still send a valid request
    assert client.send_request(Request("GET", "/ok", [HOST])).startswith(b"GET /ok HTTP/1.1")


def test_header_value_outside_latin1_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        Request("GET", "/", [HOST, ("x-name", "\u20ac")])


def test_header_lookup_is_case_insensitive_and_ordered() -> None:
    response = Response(200, [("Set-Thing", "a"), ("set-thing", "b"), (b"X-Y", b"z")])
    assert response.headers == ((b"set-thing", b"a"), (b"set-thing", b"b"), (b"x-y", b"z"))
    assert response.header("SET-THING") == "a"
    assert response.header_values("set-thing") == ["a", "b"]
    assert response.header("absent") is None
    replaced = response.with_headers(("set-thing", "c"))
    assert replaced.header_values("set-thing") == ["c"]
    request = Request("GET", "/p?q=1", [HOST]).with_headers(("x-api-key", "k"))
    assert request.header("x-api-key") == "k"
    assert request.path == "/p"


# ---------------------------------------------------------------------------------------------
# Split invariance (hypothesis)

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda s: s not in ("content-length", "transfer-encoding", "connection", "host")
)
_value = st.binary(max_size=30).map(lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E) or b"v")
_headers = st.lists(st.tuples(_token.map(str.encode), _value), max_size=5)


@st.composite
def wire_responses(draw: st.DrawFn) -> bytes:
    """One or two responses back to back, content-length or chunked, as wire bytes."""
    out = b""
    for _ in range(draw(st.integers(1, 2))):
        body = draw(st.binary(max_size=200))
        chunked = draw(st.booleans())
        chunks = draw(st.lists(st.integers(1, 50), max_size=8)) if chunked else None
        out += raw_response(
            draw(st.sampled_from([200, 201, 400, 404, 500])), draw(_headers), body, chunks=chunks
        )
    return out


def _outcome(
    role: Role, pieces: list[bytes], eof: bool
) -> tuple[tuple[HTTPEvent, ...], type[HopxError] | None]:
    conn = HTTPConnection(role)
    if role is Role.CLIENT:
        conn.send_request(Request("GET", "/", [HOST]))
    outcome = events_from_pieces(conn, pieces, eof=eof)
    return outcome.events, outcome.error


@settings(max_examples=150, deadline=None)
@given(
    data=wire_responses(),
    cuts=st.lists(st.integers(0, 2000), max_size=20),
    tail=st.binary(max_size=20),
    eof=st.booleans(),
)
def test_response_events_do_not_depend_on_how_bytes_are_split(
    data: bytes, cuts: list[int], tail: bytes, eof: bool
) -> None:
    data += tail
    whole = _outcome(Role.CLIENT, [data], eof)
    assert _outcome(Role.CLIENT, [data[i : i + 1] for i in range(len(data))], eof) == whole
    assert _outcome(Role.CLIENT, split_at(data, cuts), eof) == whole
    if not tail:
        events, error = whole
        assert error is None
        assert isinstance(events[0], ResponseHead)


@settings(max_examples=100, deadline=None)
@given(
    method=st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"]),
    path=st.text(alphabet="abcxyz/%0123456789-._~", max_size=30),
    headers=_headers,
    body=st.binary(max_size=200),
    cuts=st.lists(st.integers(0, 500), max_size=20),
    garbage=st.binary(max_size=30),
)
def test_request_events_do_not_depend_on_how_bytes_are_split(
    method: bytes,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    cuts: list[int],
    garbage: bytes,
) -> None:
    data = raw_request(method, b"/" + path.encode(), headers, body) + garbage
    whole = _outcome(Role.SERVER, [data], True)
    assert _outcome(Role.SERVER, [data[i : i + 1] for i in range(len(data))], True) == whole
    assert _outcome(Role.SERVER, split_at(data, cuts), True) == whole
    events, _error = whole
    assert isinstance(events[0], RequestHead)
    assert events[0].method == method.decode()


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_arbitrary_bytes_give_events_or_remote_protocol_errors(
    data: bytes, cuts: list[int]
) -> None:
    for role in Role:
        whole = _outcome(role, [data], True)
        _events, error = whole
        assert error is None or issubclass(error, RemoteProtocolError)
        assert _outcome(role, split_at(data, cuts), True) == whole


# ---------------------------------------------------------------------------------------------
# A client/server pair driven through random conversations


class KeepAliveConversation(RuleBasedStateMachine):
    """Requests and responses, whole or streamed, over one kept-alive connection."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = ClientServerPair()
        self.phase = "idle"
        self.expected_length: int | None = None

    @precondition(lambda self: self.phase == "idle")
    @rule(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
        body=st.none() | st.binary(max_size=40),
    )
    def request(self, method: str, body: bytes | None) -> None:
        events = self.pair.send_request(Request(method, f"/{method.lower()}", [HOST], body))
        head = events[0]
        assert isinstance(head, RequestHead)
        assert (head.method, head.target) == (method, f"/{method.lower()}")
        if body is None:
            assert events == [head]
            self.phase = "request body"
        else:
            assert events[1:] == ([BodyChunk(body)] if body else []) + [EndOfMessage()]
            self.phase = "response"

    @precondition(lambda self: self.phase in ("request body", "response body"))
    @rule(data=st.binary(max_size=30), end=st.booleans())
    def body_piece(self, data: bytes, end: bool) -> None:
        if self.phase == "request body":
            events = self.pair.client_body(data, end=end)
        else:
            events = self.pair.server_body(data, end=end)
        expected: list[object] = [BodyChunk(data)] if data else []
        if end:
            expected.append(EndOfMessage())
            self.phase = "response" if self.phase == "request body" else "done"
        assert events == expected

    @precondition(lambda self: self.phase == "response")
    @rule(
        status=st.sampled_from([200, 201, 204, 404, 500]), body=st.none() | st.binary(max_size=40)
    )
    def response(self, status: int, body: bytes | None) -> None:
        if status == 204:
            body = b""  # no body whatever the framing: covered by the 204/304 tests above
        headers = [("transfer-encoding", "chunked")] if body is None else []
        events = self.pair.send_response(Response(status, headers, body))
        head = events[0]
        assert isinstance(head, ResponseHead)
        assert head.status == status
        if body is None:
            assert events == [head]
            self.phase = "response body"
        else:
            assert events[1:] == ([BodyChunk(body)] if body else []) + [EndOfMessage()]
            self.phase = "done"

    @precondition(lambda self: self.phase == "done")
    @rule()
    def next_cycle(self) -> None:
        self.pair.start_next_cycle()
        self.phase = "idle"

    @invariant()
    def reuse_matches_the_conversation(self) -> None:
        assert self.pair.client.is_reusable == (self.phase == "done")
        assert self.pair.server.is_reusable == (self.phase == "done")
        assert self.pair.client.is_idle == (self.phase == "idle")
        assert not self.pair.client.is_closed


# Each phase of the conversation allows exactly one rule. Hypothesis disables a random subset
# of rules in each test case (swarm testing), and a case that reaches a phase whose rule is
# disabled has nothing to run: it is discarded as invalid (about 2.5 per passing case). On
# some seeds its start-up health check sees that as too much filtering and fails before the
# first example (seed 69 did); the 60 examples themselves run whole either way.
KeepAliveConversation.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
test_keep_alive_conversation = KeepAliveConversation.TestCase


def test_head_size_limit_does_not_depend_on_how_bytes_are_split() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nx-a:" + b" " * 40 + b"v" + b" " * 40 + b"\r\ncontent-length: 0\r\n\r\n"
    )
    outcomes = []
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        client = _client_after_request(max_header_size=100)
        outcomes.append(events_from_pieces(client, pieces))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0].error is RemoteProtocolError
