"""The WebSocket machine: handshake, framing, limits, errors, against itself and wsproto."""

from __future__ import annotations

import base64
import itertools
import os
import struct
import typing
from collections.abc import Iterator

import pytest
import wsproto
import wsproto.events as wse
from hypothesis import given, settings, strategies as st

from hopx_proto._errors import (
    AgentError,
    AuthenticationError,
    HopxError,
    LocalProtocolError,
    RemoteProtocolError,
    ServerError,
)
from hopx_proto._http import NEED_DATA, HTTPConnection, Request, Role
from hopx_proto._url import BaseURL
from hopx_proto._ws import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    TextMessage,
    UpgradeRequest,
    WebSocket,
    WebSocketState,
    WSEvent,
)

BASE = BaseURL.parse("http://127.0.0.1:7777/agent")
KEY = base64.b64encode(b"0123456789abcdef")


# ---------------------------------------------------------------------------------------------
# Helpers: raw frames built independently of the code under test


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask: bytes | None = None,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    """One RFC 6455 frame, written by hand (``length`` overrides the declared length)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if n <= 125:
        head += bytes([mask_bit | n])
    elif n <= 0xFFFF:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def client_frame(opcode: int, payload: bytes = b"", **kw: object) -> bytes:
    """A frame as a client must send it (masked)."""
    return frame(opcode, payload, mask=b"\x01\x02\x03\x04", **kw)  # type: ignore[arg-type]


def state(ws: WebSocket) -> WebSocketState:
    """The state, read through a call so type checkers do not pin it between steps."""
    return ws.state


def events(ws: WebSocket) -> list[WSEvent]:
    out: list[WSEvent] = []
    while True:
        event = ws.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, CloseReceived):
            return out


def open_pair(max_message_size: int = 1 << 20) -> tuple[WebSocket, WebSocket]:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom, max_message_size=max_message_size)
    server = WebSocket(Role.SERVER, max_message_size=max_message_size)
    server.receive_data(client.connect(BASE, "/execute/stream", headers=[("authorization", "B")]))
    request = server.next_event()
    assert isinstance(request, UpgradeRequest)
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    return client, server


def open_client(max_message_size: int = 1 << 20) -> WebSocket:
    client, _server = open_pair(max_message_size)
    return client


def open_server(max_message_size: int = 1 << 20) -> WebSocket:
    _client, server = open_pair(max_message_size)
    return server


# ---------------------------------------------------------------------------------------------
# Handshake


def test_client_request_carries_caller_headers_host_and_prefix() -> None:
    ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    data = ws.connect(BASE, "/terminal", headers=[("Authorization", "Bearer jwt")], key=KEY)
    head = data.decode("latin-1").lower()
    assert head.startswith("get /agent/terminal http/1.1\r\n")
    assert "host: 127.0.0.1:7777\r\n" in head
    assert "authorization: bearer jwt\r\n" in head
    assert f"sec-websocket-key: {KEY.decode().lower()}\r\n" in head
    assert "sec-websocket-extensions" not in head
    assert "sec-websocket-protocol" not in head
    assert ws.state is WebSocketState.CONNECTING


def test_default_port_is_left_out_of_host() -> None:
    ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    head = ws.connect(BaseURL.parse("https://7777-x.vms.example"), "/files/watch")
    assert b"host: 7777-x.vms.example\r\n" in head


@pytest.mark.parametrize("name", ["Host", "Upgrade", "Sec-WebSocket-Key", "Connection"])
def test_caller_may_not_override_handshake_headers(name: str) -> None:
    with pytest.raises(LocalProtocolError):
        WebSocket(Role.CLIENT, random_bytes=os.urandom).connect(BASE, "/x", headers=[(name, "v")])


def test_header_values_with_line_breaks_are_local_errors() -> None:
    ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    with pytest.raises(LocalProtocolError):
        ws.connect(BASE, "/x", headers=[("authorization", "Bearer a\r\nX-Evil: 1")])
    assert ws.connect(BASE, "/x")  # nothing was sent, so the machine is still usable


def test_bad_path_and_double_connect_are_local_errors() -> None:
    ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    with pytest.raises(LocalProtocolError):
        ws.connect(BASE, "relative")
    ws.connect(BASE, "/ok")
    with pytest.raises(LocalProtocolError):
        ws.connect(BASE, "/ok")


def test_pair_handshake_and_first_messages() -> None:
    client, server = open_pair()
    assert client.state is server.state is WebSocketState.OPEN
    client.receive_data(server.send_text('{"type":"stdout"}'))
    assert events(client) == [TextMessage('{"type":"stdout"}')]


def test_server_declines_a_deflate_offer_like_the_official_client_sends() -> None:
    server = WebSocket(Role.SERVER)
    server.receive_data(
        b"GET /execute/stream HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"Authorization: Bearer t\r\n\r\n"
    )
    request = server.next_event()
    assert isinstance(request, UpgradeRequest)
    assert request.path == "/execute/stream"
    assert request.header("authorization") == "Bearer t"
    reply = server.accept()
    assert reply.startswith(b"HTTP/1.1 101 ")
    assert b"extensions" not in reply.lower()
    # The official client's first frame is a masked, uncompressed text frame.
    server.receive_data(client_frame(0x1, b'{"type": "execute"}'))
    assert events(server) == [TextMessage('{"type": "execute"}')]


def test_frames_sent_right_after_the_request_are_kept() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    server = WebSocket(Role.SERVER)
    request = client.connect(BASE, "/terminal", key=KEY)
    server.receive_data(request + client_frame(0x1, b"early"))
    assert isinstance(server.next_event(), UpgradeRequest)
    assert server.next_event() is NEED_DATA
    client.receive_data(server.accept() + server.send_text("late"))
    assert isinstance(client.next_event(), Accepted)
    assert events(server) == [TextMessage("early")]
    assert events(client) == [TextMessage("late")]


def test_server_takes_over_a_request_parsed_by_http_connection() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    data = client.connect(BASE, "/files/watch") + client_frame(0x1, b"{}")
    http_conn = HTTPConnection(Role.SERVER)
    http_conn.receive_data(data)
    message = http_conn.next_message()
    assert isinstance(message, Request)
    server = WebSocket(Role.SERVER)
    request = server.receive_upgrade_request(message, trailing_data=http_conn.trailing_data)
    assert request.target == "/agent/files/watch"
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    assert events(server) == [TextMessage("{}")]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 426),
        (
            b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " + KEY + b"\r\n\r\n",
            426,
        ),
        (
            b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
            400,
        ),
        (
            b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + KEY + b"\r\n\r\n",
            400,
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
)
def test_bad_upgrade_requests_raise_then_allow_one_rejection(
    request_bytes: bytes, status: int
) -> None:
    server = WebSocket(Role.SERVER)
    server.receive_data(request_bytes)
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.status_hint == status
    assert server.state is WebSocketState.ERROR
    reply = server.reject(info.value.status_hint, b'{"error":"no"}')
    assert reply.startswith(f"HTTP/1.1 {status} ".encode())
    assert reply.endswith(b'\r\n\r\n{"error":"no"}')
    with pytest.raises(LocalProtocolError):
        server.reject(400)
    with pytest.raises(LocalProtocolError):
        server.next_event()


def test_eof_before_the_upgrade_request_is_a_remote_error() -> None:
    server = WebSocket(Role.SERVER)
    server.receive_data(b"GET /x HTTP/1.1\r\nHo")
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_event()


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, b'{"error":"token expired","code":"UNAUTHORIZED"}', AuthenticationError),
        (403, b'{"error":"forbidden"}', AgentError),
        (404, b"no such endpoint", AgentError),
        (503, b'{"error":"busy"}', ServerError),
    ],
)
def test_handshake_rejection_maps_to_typed_errors(
    status: int, body: bytes, cls: type[HopxError]
) -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    server = WebSocket(Role.SERVER)
    server.receive_data(client.connect(BASE, "/execute/stream", operation="run_code_stream"))
    assert isinstance(server.next_event(), UpgradeRequest)
    reply = server.reject(status, body, [("content-type", "application/json")])
    for i in range(len(reply)):  # byte by byte: the body is awaited whole
        client.receive_data(reply[i : i + 1])
        if i < len(reply) - 1:
            assert client.next_event() is NEED_DATA
    with pytest.raises(cls) as info:
        client.next_event()
    err = info.value
    assert err.status_code == status
    assert err.operation == "run_code_stream"
    assert body.decode() in str(err) or err.message in body.decode()
    with pytest.raises(LocalProtocolError):
        client.next_event()
    with pytest.raises(LocalProtocolError):
        client.send_text("x")


def test_rejection_ended_by_eof_still_maps() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    client.connect(BASE, "/x")
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nnot here")
    client.receive_data(b"")
    with pytest.raises(AgentError) as info:
        client.next_event()
    assert info.value.status_code == 404
    assert "not here" in info.value.message


def _reply_101(key: bytes, extra: bytes = b"", accept: bytes | None = None) -> bytes:
    from wsproto.utilities import generate_accept_token

    token = accept if accept is not None else generate_accept_token(key)
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + token + b"\r\n" + extra + b"\r\n"
    )


@pytest.mark.parametrize(
    "reply",
    [
        _reply_101(KEY, accept=b"wrong"),
        _reply_101(KEY, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        _reply_101(KEY, extra=b"Sec-WebSocket-Protocol: chat\r\n"),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    ],
)
def test_client_refuses_a_bad_101(reply: bytes) -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    client.connect(BASE, "/x", key=KEY)
    client.receive_data(reply)
    with pytest.raises(RemoteProtocolError):
        client.next_event()
    with pytest.raises(LocalProtocolError):
        client.next_event()
    assert client.send_close(1002) == b""  # nothing was opened, so nothing to close


def test_a_long_rejection_body_is_cut_and_not_waited_for() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    client.connect(BASE, "/x")
    client.receive_data(b"HTTP/1.1 500 Oops\r\nContent-Length: 10000000\r\n\r\n" + b"e" * 70000)
    with pytest.raises(ServerError) as info:
        client.next_event()
    assert info.value.status_code == 500


def test_oversized_upgrade_request_head() -> None:
    server = WebSocket(Role.SERVER, max_handshake_size=1024)
    server.receive_data(b"GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 2000)
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.status_hint == 431


def test_client_eof_before_reply() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    client.connect(BASE, "/x")
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        client.next_event()


def test_sending_before_the_handshake_is_refused() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    with pytest.raises(LocalProtocolError):
        client.send_text("x")
    with pytest.raises(LocalProtocolError):
        client.send_close()
    server = WebSocket(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.accept()
    with pytest.raises(LocalProtocolError):
        server.reject(400)


def test_public_names_leak_no_wsproto_or_h11_type() -> None:
    import hopx_proto._ws as module

    for name in module.__all__:
        value = getattr(module, name)
        members = typing.get_args(value) or (value,)  # WSEvent is a union of our events
        for member in members:
            where = getattr(member, "__module__", None) or "hopx_proto"
            assert where.startswith("hopx_proto"), name


# ---------------------------------------------------------------------------------------------
# Interoperability with wsproto's own connection (a second implementation as the oracle)


def test_our_client_against_wsproto_server() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    peer = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    peer.receive_data(client.connect(BASE, "/terminal", headers=[("authorization", "B t")]))
    (request,) = list(peer.events())
    assert isinstance(request, wse.Request)
    assert request.target == "/agent/terminal"
    assert request.extensions == []
    client.receive_data(peer.send(wse.AcceptConnection()) + peer.send(wse.TextMessage("hé")))
    assert isinstance(client.next_event(), Accepted)
    assert events(client) == [TextMessage("hé")]
    peer.receive_data(client.send_binary(b"\x00\xff") + client.send_close(1000, "done"))
    got = list(peer.events())
    assert isinstance(got[0], wse.BytesMessage)
    assert got[0].data == b"\x00\xff"
    assert isinstance(got[1], wse.CloseConnection)
    assert got[1].code == 1000


def test_our_server_against_wsproto_client() -> None:
    server = WebSocket(Role.SERVER)
    peer = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server.receive_data(peer.send(wse.Request(host="h", target="/files/watch")))
    assert isinstance(server.next_event(), UpgradeRequest)
    peer.receive_data(server.accept())
    assert isinstance(next(peer.events()), wse.AcceptConnection)
    server.receive_data(peer.send(wse.TextMessage("x" * 70000)) + peer.send(wse.Ping(b"hb")))
    assert events(server) == [TextMessage("x" * 70000), Ping(b"hb")]
    peer.receive_data(server.data_to_send())
    (pong,) = list(peer.events())
    assert isinstance(pong, wse.Pong)
    assert pong.payload == b"hb"


# ---------------------------------------------------------------------------------------------
# Messages, fragments, control frames, close


def test_fragmented_messages_with_interleaved_ping_are_reassembled() -> None:
    server = open_server()
    data = (
        client_frame(0x1, "hé".encode()[:2], fin=False)
        + client_frame(0x9, b"mid")
        + client_frame(0x0, "hé".encode()[2:] + b"llo", fin=False)
        + client_frame(0x0, b"!", fin=True)
        + client_frame(0x2, b"\x01", fin=False)
        + client_frame(0x0, b"\x02")
    )
    server.receive_data(data)
    assert events(server) == [Ping(b"mid"), TextMessage("héllo!"), BinaryMessage(b"\x01\x02")]
    assert server.data_to_send() == frame(0xA, b"mid")
    assert server.data_to_send() == b""


def test_pending_pong_goes_out_before_the_next_frame() -> None:
    server = open_server()
    server.receive_data(client_frame(0x9, b"p"))
    assert events(server) == [Ping(b"p")]
    assert server.send_text("t") == frame(0xA, b"p") + frame(0x1, b"t")


def test_peer_close_is_answered_and_closes() -> None:
    client, server = open_pair()
    client.receive_data(server.send_close(1001, "going"))
    assert server.state is WebSocketState.CLOSING
    assert events(client) == [CloseReceived(1001, "going")]
    assert client.state is WebSocketState.CLOSED
    reply = client.data_to_send()
    assert client.send_close() == b""  # idempotent once closed
    server.receive_data(reply)
    assert events(server) == [CloseReceived(1001, "")]
    assert state(server) is WebSocketState.CLOSED
    server.receive_data(b"")  # EOF after the close handshake changes nothing
    assert server.next_event() is NEED_DATA


def test_close_without_code_reads_as_1005_and_is_answered_without_code() -> None:
    client = open_client()
    client.receive_data(frame(0x8))
    assert events(client) == [CloseReceived(1005, "")]
    reply = client.data_to_send()
    assert reply[0] == 0x88  # a close frame
    assert reply[1] & 0x7F == 0  # with an empty payload


def test_messages_still_arrive_while_closing() -> None:
    client = open_client()
    client.send_close()
    assert client.state is WebSocketState.CLOSING
    with pytest.raises(LocalProtocolError):
        client.send_text("late")
    client.receive_data(frame(0x1, b"in flight") + frame(0x9) + frame(0x8, b"\x03\xe8"))
    assert events(client) == [TextMessage("in flight"), Ping(b""), CloseReceived(1000, "")]
    assert client.data_to_send() == b""  # no pong after our close frame
    assert state(client) is WebSocketState.CLOSED


def test_eof_without_close_frame_is_1006() -> None:
    client = open_client()
    client.receive_data(frame(0x1, b"last"))
    client.receive_data(b"")
    assert events(client) == [TextMessage("last"), CloseReceived(1006, "")]
    assert client.state is WebSocketState.CLOSED
    assert client.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"more")


def test_eof_in_the_middle_of_a_frame_is_1006_too() -> None:
    client = open_client()
    client.receive_data(frame(0x1, b"cut short")[:5])
    client.receive_data(b"")
    assert events(client) == [CloseReceived(1006, "")]


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000, True])
def test_unsendable_close_codes_are_local_errors(code: int) -> None:
    client = open_client()
    with pytest.raises(LocalProtocolError):
        client.send_close(code)
    assert client.state is WebSocketState.OPEN


def test_local_argument_errors_leave_the_connection_usable() -> None:
    client = open_client()
    with pytest.raises(LocalProtocolError):
        client.send_ping(b"x" * 126)
    with pytest.raises(LocalProtocolError):
        client.send_text(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        client.send_text("\ud800")
    with pytest.raises(LocalProtocolError):
        client.send_close(1000, "r" * 124)
    assert client.state is WebSocketState.OPEN
    assert client.send_text("fine")


def test_max_message_size_is_validated() -> None:
    with pytest.raises(LocalProtocolError):
        WebSocket(Role.CLIENT, random_bytes=os.urandom, max_message_size=0)


# ---------------------------------------------------------------------------------------------
# Bad input from the peer: RemoteProtocolError with the close code, then LocalProtocolError

BAD_SERVER_INPUT = {
    "masked server frame": (frame(0x1, b"x", mask=b"abcd"), 1002),
    "reserved opcode 3": (frame(0x3, b""), 1002),
    "reserved opcode 0xB": (frame(0xB, b""), 1002),
    "control frame over 125": (frame(0x9, b"p" * 126), 1002),
    "fragmented control frame": (frame(0x9, b"p", fin=False), 1002),
    "rsv bit without extension": (frame(0x1, b"x", rsv=4), 1002),
    "continuation first": (frame(0x0, b"x"), 1002),
    "new message inside a fragmented one": (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),
    "invalid utf-8": (frame(0x1, b"\xff\xfe"), 1007),
    "invalid utf-8 across fragments": (
        frame(0x1, b"\xe2\x82", fin=False) + frame(0x0, b"\x28"),
        1007,
    ),
    "close code 999": (frame(0x8, struct.pack("!H", 999)), 1002),
    "close code 1005": (frame(0x8, struct.pack("!H", 1005)), 1002),
    "close code 1006": (frame(0x8, struct.pack("!H", 1006)), 1002),
    "close code 2999": (frame(0x8, struct.pack("!H", 2999)), 1002),
    "close code 5000": (frame(0x8, struct.pack("!H", 5000)), 1002),
    "close 1-byte payload": (frame(0x8, b"\x03"), 1002),
    "close reason not utf-8": (frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
    "oversized single frame": (frame(0x2, b"z" * 1025), 1009),
    "oversized text": (frame(0x1, b"z" * 1025), 1009),
    "oversized across fragments": (
        frame(0x2, b"z" * 600, fin=False) + frame(0x0, b"z" * 600),
        1009,
    ),
    "oversized header only": (frame(0x2, b"z" * 70000)[:10], 1009),
}


def _feed(ws: WebSocket, data: bytes, chunk: int) -> None:
    for i in range(0, len(data), chunk):
        ws.receive_data(data[i : i + chunk])
        events(ws)


def _expect_failure(ws: WebSocket, data: bytes, close_code: int, chunk: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        _feed(ws, data, chunk)
    assert info.value.close_code == close_code
    assert ws.state is WebSocketState.ERROR
    with pytest.raises(LocalProtocolError):
        ws.next_event()
    with pytest.raises(LocalProtocolError):
        ws.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        ws.send_text("x")
    with pytest.raises(LocalProtocolError):
        ws.send_ping()
    reply = ws.send_close(close_code)  # the one reply allowed: send the code back
    assert reply[0] == 0x88
    with pytest.raises(LocalProtocolError):
        ws.send_close(close_code)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
@pytest.mark.parametrize("case", sorted(BAD_SERVER_INPUT))
def test_bad_server_input(case: str, chunk: int) -> None:
    data, code = BAD_SERVER_INPUT[case]
    _expect_failure(open_client(max_message_size=1024), data, code, chunk)


def _as_client(data: bytes) -> bytes:
    """Re-encode hand-built server frames as masked client frames."""
    out = b""
    rest = data
    while rest:
        b0, b1 = rest[0], rest[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            n = struct.unpack("!H", rest[2:4])[0]
            pos = 4
        elif n == 127:
            n = struct.unpack("!Q", rest[2:10])[0]
            pos = 10
        payload = rest[pos : pos + n]
        out += frame(
            b0 & 0x0F, payload, fin=bool(b0 & 0x80), rsv=(b0 >> 4) & 7, mask=b"wxyz", length=n
        )
        rest = rest[pos + n :]
    return out


@pytest.mark.parametrize("case", sorted(k for k in BAD_SERVER_INPUT if k != "masked server frame"))
def test_bad_client_input(case: str) -> None:
    data, code = BAD_SERVER_INPUT[case]
    _expect_failure(open_server(max_message_size=1024), _as_client(data), code, 3)


def test_unmasked_client_frame() -> None:
    _expect_failure(open_server(), frame(0x1, b"x"), 1002, 1)


def test_message_at_the_limit_is_fine() -> None:
    client = open_client(max_message_size=1024)
    client.receive_data(frame(0x2, b"z" * 1000, fin=False) + frame(0x0, b"z" * 24))
    assert events(client) == [BinaryMessage(b"z" * 1024)]


# ---------------------------------------------------------------------------------------------
# Properties

messages = st.one_of(
    st.builds(TextMessage, st.text(max_size=300)),
    st.builds(BinaryMessage, st.binary(max_size=300)),
    st.builds(Ping, st.binary(max_size=125)),
    st.builds(Pong, st.binary(max_size=125)),
)


def _send(ws: WebSocket, message: WSEvent) -> bytes:
    if isinstance(message, TextMessage):
        return ws.send_text(message.text)
    if isinstance(message, BinaryMessage):
        return ws.send_binary(message.data)
    if isinstance(message, Ping):
        return ws.send_ping(message.payload)
    assert isinstance(message, Pong)
    return ws.send_pong(message.payload)


def _chunks(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        yield data[a:b]


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(st.tuples(st.booleans(), messages), max_size=12),
    close=st.one_of(st.none(), st.tuples(st.booleans(), st.sampled_from([1000, 1001, 1011, 4000]))),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_pair_exchanges_any_sequence(
    script: list[tuple[bool, WSEvent]],
    close: tuple[bool, int] | None,
    cuts: list[int],
) -> None:
    """Whatever one side sends, the other sees exactly that, in order, whatever the chunking."""
    client, server = open_pair()
    sent: dict[bool, list[WSEvent]] = {True: [], False: []}
    wire: dict[bool, bytes] = {True: b"", False: b""}  # keyed by "sent by the client"
    for from_client, message in script:
        sender = client if from_client else server
        wire[from_client] += _send(sender, message)
        sent[from_client].append(message)
    if close is not None:
        from_client, code = close
        wire[from_client] += (client if from_client else server).send_close(code, "bye")
        sent[from_client].append(CloseReceived(code, "bye"))
    for from_client, receiver in ((True, server), (False, client)):
        got: list[WSEvent] = []
        for piece in _chunks(wire[from_client], cuts):
            receiver.receive_data(piece)
            got += events(receiver)
        assert got == sent[from_client]
    # The automatic replies (pongs, the close answer) reach the other side intact.
    for from_client, receiver, sender in ((True, server, client), (False, client, server)):
        receiver_closed_first = close is not None and close[0] != from_client
        expected: list[WSEvent] = []
        if not receiver_closed_first:
            expected += [Pong(m.payload) for m in sent[from_client] if isinstance(m, Ping)]
        if close is not None and close[0] == from_client:
            expected.append(CloseReceived(close[1], ""))
        reply = receiver.data_to_send()
        if reply:
            sender.receive_data(reply)
        assert events(sender) == expected


@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=2000), min_size=1, max_size=5),
    fragment=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=10),
)
def test_chunking_and_fragmentation_do_not_change_messages(
    payloads: list[bytes], fragment: int, cuts: list[int]
) -> None:
    data = b""
    for payload in payloads:
        pieces = [payload[i : i + fragment] for i in range(0, len(payload), fragment)] or [b""]
        for i, piece in enumerate(pieces):
            data += frame(0x2 if i == 0 else 0x0, piece, fin=i == len(pieces) - 1)
    expected = [BinaryMessage(p) for p in payloads]
    for split in (
        [data],
        [data[i : i + 1] for i in range(len(data))],
        list(_chunks(data, cuts)),
    ):
        client = open_client()
        got: list[WSEvent] = []
        for piece in split:
            client.receive_data(piece)
            got += events(client)
        assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(max_size=300), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
    drains=st.lists(st.booleans(), min_size=1, max_size=12),
    kinds=st.lists(st.sampled_from(["bytes", "bytearray", "memoryview"]), min_size=1),
)
def test_feeding_several_pieces_before_reading_changes_nothing(
    texts: list[str], cuts: list[int], drains: list[bool], kinds: list[str]
) -> None:
    # Pieces of any buffer type, read after each piece or only after several: whatever the
    # receiver keeps of a piece between calls, it must not lose or reorder a byte.
    data = b"".join(frame(0x1, t.encode()) for t in texts) + frame(0x9, b"hi")
    client = open_client()
    got: list[WSEvent] = []
    for i, piece in enumerate(_chunks(data, cuts)):
        kind = kinds[i % len(kinds)]
        fed: bytes | bytearray | memoryview = piece
        if kind == "bytearray":
            fed = bytearray(piece)
        elif kind == "memoryview":
            fed = memoryview(piece)
        client.receive_data(fed)  # type: ignore[arg-type]
        if drains[i % len(drains)]:
            got += events(client)
    got += events(client)
    assert got == [TextMessage(t) for t in texts] + [Ping(b"hi")]


@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=200))
def test_arbitrary_bytes_give_events_or_remote_errors(noise: bytes) -> None:
    for ws in (open_client(max_message_size=64), open_server(max_message_size=64)):
        code = None
        try:
            ws.receive_data(noise)
            events(ws)
            ws.receive_data(b"")
            events(ws)
        except RemoteProtocolError as exc:
            code = exc.close_code
        assert code in (None, 1002, 1007, 1009)


@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=300), eof=st.booleans())
def test_arbitrary_handshake_bytes_give_events_or_typed_errors(noise: bytes, eof: bool) -> None:
    server = WebSocket(Role.SERVER)
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    client.connect(BASE, "/x")
    for ws in (server, client):
        outcome: object = None
        try:
            ws.receive_data(noise)
            if eof:
                ws.receive_data(b"")
            outcome = ws.next_event()
        except HopxError as exc:  # RemoteProtocolError, or a mapped rejection on the client
            outcome = exc
        assert outcome is NEED_DATA or isinstance(outcome, UpgradeRequest | Accepted | HopxError)
