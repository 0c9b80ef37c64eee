"""The least a WebSocket client must do (RFC 6455, client side), for the minimal clients.

No library: the upgrade request and its check, masked client frames, and a reader that finds
the server's frames in place, in one buffer that the socket reads into. The minimal clients
of ``client_cpu.py`` drive it from a blocking socket, an asyncio ``BufferedProtocol`` and a
trio socket alike, so that what they cost apart from their event loop is the same.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

__all__ = [
    "CLOSE",
    "PING",
    "TEXT",
    "FrameError",
    "FrameReader",
    "check_upgrade",
    "close_frame",
    "pong_frame",
    "text_frame",
    "upgrade_request",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_LONG = struct.Struct("!Q")


class FrameError(Exception):
    """The server broke RFC 6455 (or the upgrade was refused): the message says how."""


def upgrade_request(host: str, target: str, token: str) -> tuple[bytes, bytes]:
    """The upgrade request the clients send, and its ``Sec-WebSocket-Key``.

    Args:
        host: the ``Host`` header (``host:port``).
        target: the path, e.g. ``/execute/stream``.
        token: the agent's bearer token.
    """
    key = base64.b64encode(os.urandom(16))
    head = (
        f"GET {target} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\n"
        f"connection: Upgrade\r\nsec-websocket-key: {key.decode()}\r\n"
        f"sec-websocket-version: 13\r\nauthorization: Bearer {token}\r\n\r\n"
    )
    return head.encode("latin-1"), key


def check_upgrade(head: bytes, key: bytes) -> None:
    """Raise :class:`FrameError` unless ``head`` is a ``101`` accepting ``key``."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101 "):
        raise FrameError(f"upgrade refused: {lines[0]!r}")
    expected = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept":
            if value.strip() != expected:
                raise FrameError("wrong Sec-WebSocket-Accept")
            return
    raise FrameError("no Sec-WebSocket-Accept in the 101 response")


def _frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (a client must mask every frame it sends)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + _LONG.pack(n)
    key = os.urandom(4)
    pad = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")
    return head + key + masked


def text_frame(text: str) -> bytes:
    """A masked text frame carrying ``text``."""
    return _frame(TEXT, text.encode())


def close_frame(code: int = 1000) -> bytes:
    """A masked close frame with status ``code``."""
    return _frame(CLOSE, code.to_bytes(2, "big"))


def pong_frame(payload: bytes) -> bytes:
    """The masked pong answering a ping that carried ``payload``."""
    return _frame(PONG, payload)


class FrameReader:
    """Server frames, found where the socket wrote them.

    The socket reads into :meth:`space`; :meth:`filled` says how much it wrote. Then
    :meth:`take_head` returns the upgrade response once, and :meth:`messages` the messages
    complete so far, each as ``(opcode, payload)`` with the payload a view into the buffer
    (no copy) that stays valid until the next :meth:`space`. Fragments are joined; text and
    binary messages, pings and the close frame come out alike, for the caller to act on.

    Args:
        size: the buffer's size; a frame larger than it gets a larger buffer of its own.
    """

    def __init__(self, size: int = 256 * 1024) -> None:
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._start = 0  # first unread byte
        self._end = 0  # one past the last byte read
        self._want = 0  # bytes the partial frame at ``_start`` needs in all
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    def space(self) -> memoryview:
        """Where the next read goes: the free end of the buffer (made room for first)."""
        start, end, size = self._start, self._end, len(self._buf)
        if start == end:
            self._start = self._end = 0
        elif self._want > size - start or size - end < size // 4:
            tail = bytes(self._view[start:end])  # a copy: the two ranges may overlap
            if self._want > size:
                self._buf = bytearray(self._want)
                self._view = memoryview(self._buf)
            self._buf[: len(tail)] = tail
            self._start, self._end = 0, len(tail)
        return self._view[self._end :]

    def filled(self, count: int) -> None:
        """The socket wrote ``count`` bytes into the last :meth:`space`."""
        self._end += count

    def take_head(self) -> bytes | None:
        """The upgrade response head (through its blank line), once it is all in."""
        stop = self._buf.find(b"\r\n\r\n", self._start, self._end)
        if stop < 0:
            return None
        head = bytes(self._view[self._start : stop + 4])
        self._start = stop + 4
        return head

    def messages(self) -> list[tuple[int, memoryview]]:
        """The messages complete in what was read so far, in order."""
        buf, view = self._buf, self._view
        pos, end = self._start, self._end
        out: list[tuple[int, memoryview]] = []
        self._want = 0
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b1 & 0x80 or b0 & 0x70:
                raise FrameError("a masked server frame, or reserved bits set")
            length = b1
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = _LONG.unpack_from(buf, pos + 2)[0]
                head = 10
            stop = pos + head + length
            if stop > end:
                self._want = stop - pos
                break
            opcode = b0 & 0x0F
            payload = view[pos + head : stop]
            pos = stop
            if b0 & 0x80 and opcode != CONTINUATION and (opcode & 0x8 or not self._fragments):
                out.append((opcode, payload))  # a whole message, or a control frame
            else:
                self._fragment(b0 & 0x80, opcode, payload, out)
        self._start = pos
        return out

    def _fragment(
        self, fin: int, opcode: int, payload: memoryview, out: list[tuple[int, memoryview]]
    ) -> None:
        if opcode & 0x8:
            raise FrameError("a fragmented control frame")
        if (opcode == CONTINUATION) != bool(self._fragments):
            raise FrameError("a continuation with no message, or a new message inside one")
        if opcode != CONTINUATION:
            self._fragment_opcode = opcode
        self._fragments.append(bytes(payload))
        if fin:
            out.append((self._fragment_opcode, memoryview(b"".join(self._fragments))))
            self._fragments.clear()
