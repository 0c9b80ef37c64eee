"""Messages over 64 KiB (a 64-bit length in the frame header), as streamed output arrives."""

from __future__ import annotations

import struct

import pytest
from test_ws import events, frame, open_client

from hopx_proto._errors import RemoteProtocolError
from hopx_proto._ws import BinaryMessage, TextMessage, WebSocketState


def _long_header(opcode: int, length: int) -> bytes:
    """A frame header declaring ``length`` in the 8-byte form, whatever its size."""
    return bytes([0x80 | opcode, 127]) + struct.pack("!Q", length)


TEXT = ("x" * 1023 + "\n") * 70 + "é€"  # over 64 KiB, non-ASCII at the end
BLOB = bytes(range(256)) * 300


@pytest.mark.parametrize("chunk", [1, 9, 10, 4093, 65536, 1 << 20])
def test_long_messages_arrive_whole_in_any_chunking(chunk: int) -> None:
    client = open_client()
    data = (
        frame(0x1, TEXT.encode())
        + frame(0x2, BLOB)
        + frame(0x1, b"short")
        + frame(0x1, TEXT.encode())
    )
    got = []
    for i in range(0, len(data), chunk):
        client.receive_data(data[i : i + chunk])
        got += events(client)
    assert got == [TextMessage(TEXT), BinaryMessage(BLOB), TextMessage("short"), TextMessage(TEXT)]
    assert client.state is WebSocketState.OPEN


def test_a_long_message_waits_for_its_last_byte() -> None:
    client = open_client()
    data = frame(0x1, TEXT.encode())
    client.receive_data(data[:-1])
    assert events(client) == []
    client.receive_data(data[-1:])
    assert events(client) == [TextMessage(TEXT)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_long_header(0x1, 5) + b"hello", 1002),  # 8-byte form for a short length
        (_long_header(0x2, 1 << 63) + b"zz", 1002),  # top bit of the length set
        (_long_header(0x1, 70000) + b"\xff" * 70000, 1007),  # not UTF-8
        (_long_header(0x2, (1 << 20) + 1), 1009),  # over the limit, header only
    ],
)
def test_bad_long_frames_are_remote_errors(data: bytes, code: int) -> None:
    client = open_client()
    client.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        events(client)
    assert info.value.close_code == code
    assert client.state is WebSocketState.ERROR
