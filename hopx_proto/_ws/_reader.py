"""Received bytes in; whole messages and control frames out (RFC 6455 sections 5.4-5.6).

:class:`FrameReader` keeps what was received but not read yet, joins fragments into messages,
checks UTF-8 as text arrives and refuses a message over the size limit as soon as a header
announces it. It answers nothing and knows no connection state: the connection does.
"""

from __future__ import annotations

import codecs
from typing import TypeAlias

from .._errors import RemoteProtocolError
from .._http import NEED_DATA, NeedData
from ._events import BinaryMessage, CloseReceived, Ping, Pong, TextMessage
from ._frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    INVALID_PAYLOAD,
    MESSAGE_TOO_BIG,
    PING,
    PONG,
    TEXT,
    mask,
    parse_close_payload,
    parse_header,
    protocol_error,
)

__all__ = ["FrameReader", "ReaderEvent"]

#: What :meth:`FrameReader.next` returns: a whole message, or a control frame as its event.
ReaderEvent: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | CloseReceived

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


def _not_utf8(exc: UnicodeDecodeError) -> RemoteProtocolError:
    return protocol_error(f"text message is not UTF-8: {exc}", INVALID_PAYLOAD)


class FrameReader:
    """The frames one side receives: ``client`` reads a server's (unmasked) frames.

    :meth:`next` raises :class:`RemoteProtocolError` with the close code to send back: 1002
    for a frame that breaks the framing rules or comes out of order, 1007 for text that is not
    UTF-8 or a close reason that is not, 1009 for a message over ``max_message_size``. After
    that the reader must not be used again.
    """

    def __init__(self, client: bool, max_message_size: int) -> None:
        self._client = client
        self._max = max_message_size
        # ``_buf[_pos:]`` is not read yet. ``_buf`` is a received chunk, read in place, until
        # some of it has to wait for the next chunk: then both go into a bytearray.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        # The message being received: ``_opcode`` is TEXT or BINARY from its first frame's
        # header to its end, else None; ``_size`` counts the payload its headers announced.
        self._opcode: int | None = None
        self._texts: list[str] = []
        self._chunks: list[bytes] = []
        self._utf8: codecs.IncrementalDecoder | None = None
        self._size = 0
        # The data frame whose payload is being read: bytes left, its FIN bit, its masking
        # key turned so that it starts at the next byte.
        self._remaining = 0
        self._fin = False
        self._mask_key: bytes | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes (not empty)."""
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):  # all read: take the new chunk as it is, to read in place
            self._buf = data if type(data) is bytes else bytes(data)
        elif isinstance(buf, bytes):
            grown = bytearray(buf[pos:])
            grown += data
            self._buf = grown
        else:
            del buf[:pos]
            buf += data
        self._pos = 0

    def next(self) -> ReaderEvent | NeedData:
        """The next message or control frame, or ``NEED_DATA`` until more bytes are fed."""
        if self._opcode is None and self._client:
            # The most common frame, read in place: a whole, short text or binary message
            # (first byte FIN + opcode 1 or 2; second byte a 7-bit length and no mask bit).
            buf = self._buf
            pos = self._pos
            if len(buf) - pos > 1:
                b0 = buf[pos]
                length = buf[pos + 1]
                stop = pos + 2 + length
                if (
                    length < 126
                    and (b0 == 0x81 or b0 == 0x82)
                    and stop <= len(buf)
                    and length <= self._max
                ):
                    self._pos = stop
                    if b0 == 0x82:
                        return BinaryMessage(bytes(buf[pos + 2 : stop]))
                    try:
                        return TextMessage(buf[pos + 2 : stop].decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        raise _not_utf8(exc) from None
        return self._next()

    def _next(self) -> ReaderEvent | NeedData:
        """:meth:`next` for every frame."""
        while True:
            if self._remaining:
                message = self._read_payload()
                if message is None:
                    continue
                return message
            buf = self._buf
            pos = self._pos
            header = parse_header(buf, pos, self._client)
            if header is None:
                return NEED_DATA
            fin, opcode, length, key, size = header
            start = pos + size
            stop = start + length
            if opcode >= CLOSE:
                if stop > len(buf):
                    return NEED_DATA  # a control frame (at most 131 bytes) is read whole
                self._pos = stop
                payload = bytes(buf[start:stop]) if key is None else mask(buf[start:stop], key)
                if opcode == PING:
                    return Ping(payload)
                if opcode == PONG:
                    return Pong(payload)
                return CloseReceived(*parse_close_payload(payload))
            if opcode == CONTINUATION:
                if self._opcode is None:
                    raise protocol_error("a continuation frame without a message to continue")
            elif self._opcode is not None:
                raise protocol_error("a new message before the end of the fragmented one")
            if self._size + length > self._max:
                raise protocol_error(
                    f"message larger than the limit of {self._max} bytes", MESSAGE_TOO_BIG
                )
            if fin and stop <= len(buf) and opcode != CONTINUATION:
                # A whole message in one frame, all received: decoded where it lies.
                self._pos = stop
                data = buf[start:stop] if key is None else mask(buf[start:stop], key)
                if opcode == BINARY:
                    return BinaryMessage(bytes(data))
                try:
                    return TextMessage(data.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise _not_utf8(exc) from None
            # A fragment, or a frame still arriving: its payload is read as it comes.
            self._pos = start
            if opcode != CONTINUATION:
                self._opcode = opcode
                self._utf8 = _utf8_decoder() if opcode == TEXT else None
            self._size += length
            self._remaining = length
            self._fin = fin
            self._mask_key = key
            if not length:
                message = self._add_piece(b"")
                if message is not None:
                    return message

    def _read_payload(self) -> TextMessage | BinaryMessage | NeedData | None:
        """Take what has arrived of the current data frame's payload: the message once it is
        whole, ``NEED_DATA`` if nothing has arrived, else ``None``."""
        buf = self._buf
        pos = self._pos
        take = min(len(buf) - pos, self._remaining)
        if not take:
            return NEED_DATA
        piece = buf[pos : pos + take]
        self._pos = pos + take
        self._remaining -= take
        key = self._mask_key
        if key is not None:
            piece = mask(piece, key)
            turn = take % 4
            self._mask_key = key[turn:] + key[:turn]
        return self._add_piece(piece)

    def _add_piece(self, piece: bytes | bytearray) -> TextMessage | BinaryMessage | None:
        done = self._fin and not self._remaining
        utf8 = self._utf8
        if utf8 is not None:
            try:
                self._texts.append(utf8.decode(piece, done))
            except UnicodeDecodeError as exc:
                raise _not_utf8(exc) from None
        else:
            self._chunks.append(bytes(piece))
        if not done:
            return None
        message: TextMessage | BinaryMessage
        if utf8 is not None:
            message = TextMessage("".join(self._texts))
            self._texts = []
        else:
            message = BinaryMessage(b"".join(self._chunks))
            self._chunks = []
        self._opcode = None
        self._utf8 = None
        self._size = 0
        return message
