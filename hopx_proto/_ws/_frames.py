"""RFC 6455 framing (section 5): frame headers, masking, close frames, and writing frames.

Pure functions of their arguments. Reading a frame header raises :class:`RemoteProtocolError`
with ``close_code`` 1002 for anything the RFC forbids; the connection adds what depends on its
state (fragment order, the message size limit, UTF-8).
"""

from __future__ import annotations

from typing import TypeAlias

from .._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ABNORMAL_CLOSURE",
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "INVALID_PAYLOAD",
    "MAX_CLOSE_REASON",
    "MAX_CONTROL_PAYLOAD",
    "MESSAGE_TOO_BIG",
    "NO_STATUS",
    "PING",
    "PONG",
    "PROTOCOL_ERROR",
    "TEXT",
    "FrameHeader",
    "check_close_code",
    "close_payload",
    "encode_frame",
    "mask",
    "parse_close_payload",
    "parse_header",
    "protocol_error",
]

# Opcodes (section 5.2). Control frames are those with the high bit of the opcode set.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_OPCODES = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})
MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

# Close codes (section 7.4.1).
PROTOCOL_ERROR = 1002
NO_STATUS = 1005  #: reported for a close frame without a code; never sent
ABNORMAL_CLOSURE = 1006  #: reported for EOF without a close frame; never sent
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009

#: The codes under 3000 a close frame may carry: those of section 7.4.1 that are not reserved
#: or local-only (1004, 1005, 1006, 1015 are), and 1012 and 1013 from the IANA registry.
#: 3000-4999 belong to libraries and applications; every other code is invalid on the wire.
_REGISTERED_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013}
)

# Under this size masking XORs two integers; above it, four strided byte translations win.
_TRANSLATE_FROM = 512
_IDENTITY = int.from_bytes(bytes(range(256)), "big")
#: ``_XOR_TABLES[b][a] == a ^ b``: each table built by one XOR of two 256-byte integers (a
#: byte at a time, the 65536 entries took milliseconds of every import).
_XOR_TABLES = [
    (_IDENTITY ^ int.from_bytes(bytes((b,)) * 256, "big")).to_bytes(256, "big") for b in range(256)
]


def protocol_error(message: str, close_code: int = PROTOCOL_ERROR) -> RemoteProtocolError:
    """The error for a peer that broke the framing rules; ``close_code`` is the code to send."""
    return RemoteProtocolError(message, close_code=close_code)


#: A frame's header (section 5.2), checked against the RFC: ``(fin, opcode, length, mask_key,
#: size)``. ``fin`` marks the last frame of a message, ``length`` is the payload's, ``mask_key``
#: the 4 bytes a client masked it with (``None`` if unmasked), ``size`` what the header itself
#: takes (2 to 14 bytes). A plain tuple: one is read per frame, and unpacked at once.
FrameHeader: TypeAlias = tuple[bool, int, int, bytes | None, int]


def parse_header(buf: bytes | bytearray, pos: int, client: bool) -> FrameHeader | None:
    """The header of the frame that starts at ``buf[pos]``, or ``None`` while it is incomplete.

    ``client`` says which side reads: a client must get unmasked frames, a server masked ones.
    Raises :class:`RemoteProtocolError` (close code 1002) as soon as the bytes at hand break a
    rule: a reserved bit set (no extension is ever negotiated), a reserved opcode, a fragmented
    or oversized control frame, the wrong masking for the side, a length not in its shortest
    form or with the top bit set.
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    opcode = b0 & 0x0F
    if b0 & 0x70:
        raise protocol_error("a reserved bit is set, but no extension was negotiated")
    if opcode not in _OPCODES:
        raise protocol_error(f"reserved opcode {opcode:#x}")
    fin = b0 >= 0x80
    if opcode >= CLOSE and not fin:
        raise protocol_error("a control frame must not be fragmented")
    masked = b1 >= 0x80
    if masked is client:
        raise protocol_error(
            "a server must not mask its frames" if client else "a client must mask its frames"
        )
    length = b1 & 0x7F
    size = 2
    if length >= 126:
        if opcode >= CLOSE:
            raise protocol_error(f"a control frame payload is at most {MAX_CONTROL_PAYLOAD} bytes")
        if length == 126:
            if avail < 4:
                return None
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            size = 4
            if length < 126:
                raise protocol_error(f"a length of {length} written in 2 bytes instead of 1")
        else:
            if avail < 10:
                return None
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            size = 10
            if length >> 63:
                raise protocol_error("the top bit of a 64-bit frame length is set")
            if length < 1 << 16:
                raise protocol_error(f"a length of {length} written in 8 bytes instead of 2")
    if not masked:
        return fin, opcode, length, None, size
    if avail < size + 4:
        return None
    return fin, opcode, length, bytes(buf[pos + size : pos + size + 4]), size + 4


def mask(data: bytes | bytearray, key: bytes) -> bytes:
    """``data`` XORed with the 4-byte masking ``key`` from its first byte on (section 5.3).

    Masking and unmasking are the same operation.
    """
    n = len(data)
    if n < _TRANSLATE_FROM:
        if not n:
            return b""
        stream = key * (n // 4 + 1)
        return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(
            n, "little"
        )
    out = bytearray(data)
    for i in range(4):
        out[i::4] = out[i::4].translate(_XOR_TABLES[key[i]])
    return bytes(out)


def encode_frame(opcode: int, payload: bytes, mask_key: bytes | None) -> bytes:
    """One unfragmented frame; masked with ``mask_key`` if given (a client's frames are)."""
    n = len(payload)
    mask_bit = 0 if mask_key is None else 0x80
    if n < 126:
        head = bytes((0x80 | opcode, mask_bit | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, mask_bit | 127)) + n.to_bytes(8, "big")
    if mask_key is None:
        return head + payload
    return head + mask_key + mask(payload, mask_key)


def check_close_code(code: object) -> int:
    """``code`` if a close frame may carry it, else :class:`LocalProtocolError`."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise LocalProtocolError(f"close code must be an integer, got {code!r}")
    if code not in _REGISTERED_CLOSE_CODES and not 3000 <= code <= 4999:
        raise LocalProtocolError(f"close code {code} may not be sent")
    return code


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The payload of a close frame: empty without a code, else the code and the reason."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """``(code, reason)`` of a received close frame; ``(1005, "")`` when it has no code.

    Raises :class:`RemoteProtocolError`: close code 1002 for a 1-byte payload or a code that
    may not be sent, 1007 for a reason that is not UTF-8.
    """
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise protocol_error("a close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _REGISTERED_CLOSE_CODES and not 3000 <= code <= 4999:
        raise protocol_error(f"a close frame with the invalid code {code}")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise protocol_error(f"the close reason is not UTF-8: {exc}", INVALID_PAYLOAD) from None
