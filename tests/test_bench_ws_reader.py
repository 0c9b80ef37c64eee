"""The benchmark's minimal WebSocket client (bench/_ws_reader.py) against our server role.

The minimal clients of ``bench/client_cpu.py`` read frames with their own code; these tests
hold that code to the project's server (and to wsproto for fragments), on bytes in memory, so
that a floor the benchmark prints is the floor of a correct client.
"""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import FrameProtocol

from bench._ws_reader import (
    CLOSE,
    PING,
    TEXT,
    FrameError,
    FrameReader,
    check_upgrade,
    close_frame,
    pong_frame,
    text_frame,
    upgrade_request,
)
from hopx_proto import Role
from hopx_proto.streams import CloseReceived, Pong, TextMessage, UpgradeRequest, WebSocket

TEXTS = [
    "",
    '{"type": "stdout", "data": "y\\n"}',
    "é€" * 40,
    "a" * 125,
    "b" * 126,  # the first 16-bit length
    "c" * 65535,  # the last 16-bit length
    "d" * 65536,  # the first 64-bit length
    "f" * 20_000,
]

#: The reader's buffer in these tests: small, so that messages outgrow it and wrap around.
BUFFER = 16 * 1024


def _server(target: str = "/execute/stream") -> tuple[WebSocket, bytes, bytes]:
    """Our server role after the minimal client's upgrade: it, its 101 reply, and the key."""
    request, key = upgrade_request("127.0.0.1:7777", target, "tok")
    server = WebSocket(Role.SERVER)
    server.receive_data(request)
    upgrade = server.next_event()
    assert isinstance(upgrade, UpgradeRequest)
    assert upgrade.path == target
    assert upgrade.header("authorization") == "Bearer tok"
    return server, server.accept(), key


def _read(data: bytes, chunk: int) -> tuple[bytes | None, list[tuple[int, bytes]]]:
    """Feed ``data`` as a socket would, ``chunk`` bytes at most per read: head and messages."""
    reader = FrameReader(BUFFER)
    head = None
    got: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        space = reader.space()
        assert len(space) > 0, "no room left to read into"
        count = min(chunk, len(space), len(data) - pos)
        space[:count] = data[pos : pos + count]
        pos += count
        reader.filled(count)
        if head is None:
            head = reader.take_head()
            if head is None:
                continue
        got += [(opcode, bytes(payload)) for opcode, payload in reader.messages()]
    return head, got


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536, 1 << 22])
def test_reads_what_our_server_sends_in_any_chunking(chunk: int) -> None:
    server, reply, key = _server()
    frames = b"".join(server.send_text(text) for text in TEXTS)
    data = reply + frames + server.send_ping(b"hi") + server.send_close(1000)
    head, got = _read(data, chunk)
    assert head == reply
    check_upgrade(head, key)
    expected = [(TEXT, text.encode()) for text in TEXTS]
    assert got == [*expected, (PING, b"hi"), (CLOSE, (1000).to_bytes(2, "big"))]


def test_joins_fragments_around_a_control_frame() -> None:
    wsproto_server = FrameProtocol(client=False, extensions=[])
    data = (
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
        + wsproto_server.send_data("ab", fin=False)
        + wsproto_server.ping(b"p")
        + wsproto_server.send_data("cd€", fin=True)
        + wsproto_server.send_data("whole")
    )
    for chunk in (1, 3, len(data)):
        assert _read(data, chunk)[1] == [(PING, b"p"), (TEXT, "abcd€".encode()), (TEXT, b"whole")]


def test_our_server_reads_the_minimal_clients_frames() -> None:
    server, _reply, _key = _server()
    server.receive_data(text_frame('{"type": "execute", "code": "print(1)"}'))
    assert server.next_event() == TextMessage('{"type": "execute", "code": "print(1)"}')
    server.receive_data(text_frame("x" * 70_000) + pong_frame(b"hi"))
    assert server.next_event() == TextMessage("x" * 70_000)
    assert server.next_event() == Pong(b"hi")
    server.receive_data(close_frame(1000))
    assert server.next_event() == CloseReceived(1000, "")


def test_refuses_a_wrong_accept_or_a_refusal() -> None:
    reply = _server()[1]
    other_key = upgrade_request("127.0.0.1:7777", "/execute/stream", "tok")[1]
    with pytest.raises(FrameError, match="Sec-WebSocket-Accept"):
        check_upgrade(reply, other_key)
    with pytest.raises(FrameError, match="refused"):
        check_upgrade(b"HTTP/1.1 401 Unauthorized\r\n\r\n", other_key)


def test_refuses_a_masked_frame_from_the_server() -> None:
    reader = FrameReader()
    frame = text_frame("masked, as only a client may send")
    reader.space()[: len(frame)] = frame
    reader.filled(len(frame))
    with pytest.raises(FrameError, match="masked"):
        reader.messages()
