"""Feeding bytes to a :class:`WebSocket` and recording what it makes of them; frame seeds."""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence
from typing import Any

from fuzz._harness import InvariantViolation, Result, require_module
from hopx_proto._errors import HopxError, LocalProtocolError
from hopx_proto._http import NEED_DATA, Role
from hopx_proto._url import BaseURL

__all__ = ["CLIENT_KEY", "MASK", "client_seeds", "feed_ws", "fixed_bytes", "frame", "server_seeds"]

_ws: Any = require_module("hopx_proto._ws")
#: The event types a WebSocket may return (members of its ``WSEvent`` union).
_EVENT_TYPES = frozenset(typing.get_args(_ws.WSEvent))

#: A fixed Sec-WebSocket-Key, so the accept token in the seeds stays valid.
CLIENT_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
#: A fixed masking key for client frames in the seeds.
MASK = b"\x37\xfa\x21\x3d"
BASE = BaseURL.parse("http://sandbox.test:7777")
PATH = "/execute/stream"
MAX_EVENTS = 20_000

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame on the wire, written by hand (not by the code under test)."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head = bytes([first, mask_bit | size])
    elif size < 1 << 16:
        head = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def fixed_bytes(count: int) -> bytes:
    """The client's "random" bytes (masking keys of its replies): fixed, so runs replay."""
    return (MASK * (count // 4 + 1))[:count]


def _close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def _frames(mask: bytes | None) -> list[bytes]:
    messages = [
        json.dumps({"type": "execute", "code": "print('hi')", "language": "python"}).encode(),
        json.dumps(
            {"type": "stdout", "data": "hi\n", "timestamp": "2026-01-01T00:00:00Z"}
        ).encode(),
        json.dumps({"type": "complete", "success": True, "exit_code": 0}).encode(),
    ]
    out = [frame(TEXT, m, mask=mask) for m in messages]
    big = ("\u00e9" * 200).encode()
    out += [
        frame(BINARY, bytes(range(256)), mask=mask),
        frame(TEXT, b"frag", fin=False, mask=mask)
        + frame(PING, b"p", mask=mask)
        + frame(CONTINUATION, b"men", fin=False, mask=mask)
        + frame(CONTINUATION, b"ted", mask=mask),
        frame(TEXT, big[:5], fin=False, mask=mask) + frame(CONTINUATION, big[5:], mask=mask),
        frame(PONG, b"", mask=mask),
        frame(CLOSE, _close_payload(1000, "bye"), mask=mask),
        frame(CLOSE, b"", mask=mask),
        frame(TEXT, b"x" * 70_000, mask=mask)[:300],
    ]
    return out


def _handshake() -> tuple[bytes, bytes]:
    client = _ws.WebSocket(Role.CLIENT, random_bytes=fixed_bytes)
    request = client.connect(BASE, PATH, headers=[("authorization", "Bearer t")], key=CLIENT_KEY)
    server = _ws.WebSocket(Role.SERVER)
    server.receive_data(request)
    if not isinstance(server.next_event(), _ws.UpgradeRequest):
        raise RuntimeError("the server did not read the upgrade request")
    return request, server.accept()


def _refusal(status: int, body: bytes) -> bytes:
    head = b"HTTP/1.1 %d Refused\r\ncontent-type: application/json\r\n" % status
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def client_seeds() -> list[bytes]:
    """What a client reads: the 101 reply and server frames, or a refusal."""
    _request, accept = _handshake()
    frames = _frames(None)
    seeds = [accept + f for f in frames] + [accept + b"".join(frames)]
    seeds += [
        _refusal(401, b'{"error":"token expired","code":"TOKEN_EXPIRED"}'),
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
        b"sec-websocket-accept: wrong\r\n\r\n",
    ]
    return seeds


def server_seeds() -> list[bytes]:
    """What a server reads: the upgrade request and masked client frames."""
    request, _accept = _handshake()
    frames = _frames(MASK)
    seeds = [request + f for f in frames] + [request + b"".join(frames)]
    seeds += [
        b"GET /terminal HTTP/1.1\r\nhost: h\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
        b"sec-websocket-version: 8\r\nsec-websocket-key: x\r\n\r\n",
        b"POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n",
        request + frame(TEXT, b"unmasked"),
    ]
    return seeds


def _check_refuses_after_error(ws: Any, exc: HopxError) -> None:
    try:
        ws.next_event()
    except LocalProtocolError:
        return
    except HopxError as other:
        raise InvariantViolation(
            f"after {exc!r} the WebSocket raised {other!r} instead of LocalProtocolError"
        ) from None
    raise InvariantViolation(f"after {exc!r} the WebSocket still returned events")


def feed_ws(role: Role, pieces: Sequence[bytes]) -> Result:
    """A fresh WebSocket of ``role`` fed ``pieces`` then EOF; a server accepts the upgrade."""
    ws = _ws.WebSocket(role, max_message_size=4096, random_bytes=fixed_bytes)
    events: list[Any] = []

    def drain() -> None:
        while True:
            event = ws.next_event()
            ws.data_to_send()
            if event is NEED_DATA:
                return
            if type(event) not in _EVENT_TYPES:
                raise InvariantViolation(f"foreign event type {type(event)!r}")
            events.append(event)
            if len(events) > MAX_EVENTS:
                raise InvariantViolation(f"more than {MAX_EVENTS} events: the machine loops")
            if isinstance(event, _ws.UpgradeRequest):
                ws.accept()

    try:
        if role is Role.CLIENT:
            ws.connect(BASE, PATH, key=CLIENT_KEY)
        for piece in pieces:
            ws.receive_data(piece)
            drain()
        ws.receive_data(b"")
        drain()
    except HopxError as exc:
        _check_refuses_after_error(ws, exc)
        return Result(tuple(events), type(exc), str(exc))
    if not events or not isinstance(events[-1], _ws.CloseReceived):
        raise InvariantViolation(f"EOF did not end in CloseReceived: {events[-3:]!r}")
    return Result(tuple(events), None)
