"""What our WebSocket writes: wsproto reads it back, and a client's masking keys (and its
handshake key) are the bytes its ``random_bytes`` gave, in order."""

from __future__ import annotations

import base64
import random
import struct

import pytest
import wsproto.events as wse
from hypothesis import given, settings, strategies as st
from test_ws import BASE, events, frame
from wsproto.connection import Connection, ConnectionType

from hopx_proto._errors import LocalProtocolError
from hopx_proto._http import Role
from hopx_proto._ws import Accepted, UpgradeRequest, WebSocket


class Recorded:
    """A random source that keeps what it handed out."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.given: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        data = self._rng.randbytes(n)
        self.given.append(data)
        return data


def _refuse(n: int) -> bytes:
    raise AssertionError(f"a server must draw no random bytes (asked for {n})")


def open_pair(source: Recorded) -> tuple[WebSocket, WebSocket]:
    client = WebSocket(Role.CLIENT, random_bytes=source)
    server = WebSocket(Role.SERVER, random_bytes=_refuse)
    server.receive_data(client.connect(BASE, "/terminal"))
    assert isinstance(server.next_event(), UpgradeRequest)
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    return client, server


def test_the_handshake_key_and_every_mask_come_from_random_bytes() -> None:
    source = Recorded(1)
    client = WebSocket(Role.CLIENT, random_bytes=source)
    request = client.connect(BASE, "/terminal")
    (nonce,) = source.given
    assert len(nonce) == 16
    assert b"sec-websocket-key: " + base64.b64encode(nonce) + b"\r\n" in request
    client, server = open_pair(source)
    sent = client.send_text("hé") + client.send_binary(b"\x00" * 200) + client.send_ping(b"p")
    keys = source.given[-3:]
    assert sent == (
        frame(0x1, "hé".encode(), mask=keys[0])
        + frame(0x2, b"\x00" * 200, mask=keys[1])
        + frame(0x9, b"p", mask=keys[2])
    )
    # The automatic replies are masked with fresh keys too.
    client.receive_data(server.send_ping(b"hb") + server.send_close(1001))
    events(client)
    pong_key, close_key = source.given[-2:]
    assert client.data_to_send() == (
        frame(0xA, b"hb", mask=pong_key) + frame(0x8, struct.pack("!H", 1001), mask=close_key)
    )


@pytest.mark.parametrize("bad", [b"abc", b"abcde", "abcd"])
def test_a_random_source_that_breaks_its_promise_is_a_local_error(bad: object) -> None:
    def source(n: int) -> bytes:
        return b"k" * n if n == 16 else bad  # type: ignore[return-value]

    client = WebSocket(Role.CLIENT, random_bytes=source)
    server = WebSocket(Role.SERVER)
    server.receive_data(client.connect(BASE, "/terminal"))
    assert isinstance(server.next_event(), UpgradeRequest)
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    with pytest.raises(LocalProtocolError, match="random_bytes"):
        client.send_text("x")


def test_a_client_needs_a_random_source() -> None:
    with pytest.raises(LocalProtocolError, match="random_bytes"):
        WebSocket(Role.CLIENT)
    server = WebSocket(Role.SERVER)  # a server masks nothing: it needs none
    assert server.state.value == "CONNECTING"


def test_a_bad_random_source_for_the_key_is_a_local_error() -> None:
    client = WebSocket(Role.CLIENT, random_bytes=lambda n: b"x" * (n - 1))
    with pytest.raises(LocalProtocolError):
        client.connect(BASE, "/terminal")


sends = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=200)),
    st.tuples(st.just("text"), st.just("é" * 40_000)),  # a 64-bit length
    st.tuples(st.just("binary"), st.binary(max_size=300)),
    st.tuples(st.just("binary"), st.integers(65_536, 66_000).map(lambda n: b"\xa5" * n)),
    st.tuples(st.just("ping"), st.binary(max_size=125)),
    st.tuples(st.just("pong"), st.binary(max_size=125)),
)


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(sends, max_size=8),
    close=st.sampled_from([1000, 1001, 1011, 3000, 4999]),
    reason=st.text(max_size=30).filter(lambda r: len(r.encode()) <= 123),
    seed=st.integers(0, 2**32),
    client_writes=st.booleans(),
    chunk=st.sampled_from([1, 7, 4096, 1 << 20]),
)
def test_wsproto_reads_what_we_write(
    script: list[tuple[str, object]],
    close: int,
    reason: str,
    seed: int,
    client_writes: bool,
    chunk: int,
) -> None:
    source = Recorded(seed)
    client, server = open_pair(source)
    writer = client if client_writes else server
    drawn_before = len(source.given)
    data = b""
    for kind, value in script:
        send = {
            "text": writer.send_text,
            "binary": writer.send_binary,
            "ping": writer.send_ping,
            "pong": writer.send_pong,
        }[kind]
        data += send(value)  # type: ignore[operator]
    data += writer.send_close(close, reason)
    # A client drew one key a frame; a server none.
    assert len(source.given) - drawn_before == (len(script) + 1 if client_writes else 0)
    reader = Connection(ConnectionType.SERVER if client_writes else ConnectionType.CLIENT)
    got: list[tuple[str, object]] = []
    partial: list[str | bytes] = []
    step = chunk if len(data) < 4096 else max(chunk, 4096)  # wsproto is slow byte by byte
    for i in range(0, len(data), step):
        reader.receive_data(data[i : i + step])
        for event in reader.events():
            if isinstance(event, wse.TextMessage | wse.BytesMessage):
                partial.append(event.data)
                if event.message_finished:
                    if isinstance(event, wse.TextMessage):
                        got.append(("text", "".join(str(p) for p in partial)))
                    else:
                        got.append(("binary", b"".join(bytes(p) for p in partial)))  # type: ignore[arg-type]
                    partial = []
            elif isinstance(event, wse.Ping | wse.Pong):
                got.append((type(event).__name__.lower(), bytes(event.payload)))
            elif isinstance(event, wse.CloseConnection):
                got.append(("close", (event.code, event.reason)))
            else:
                raise AssertionError(f"unexpected event {event!r}")
    expected = [(kind, value) for kind, value in script] + [("close", (close, reason))]
    assert got == expected
