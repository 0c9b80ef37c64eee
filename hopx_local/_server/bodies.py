"""Parsing requests, and rendering huge replies without holding the interpreter for long.

A reply listing 100,000 files or carrying a 64 MiB file is tens of megabytes of JSON. Encoded
in one call, the C encoder holds the interpreter lock for a quarter of a second, and no other
thread (the event loop serving every sandbox included) runs meanwhile, even when the call runs
in a worker thread. :func:`render_in_pieces` gives byte for byte what ``op.render`` gives, in
short calls: long lists a slice at a time, long strings a slice of characters at a time. It is
blocking work, for a worker thread (as is parsing a request body of :data:`LARGE_BODY` bytes
or more).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from hopx_local._runtime.sharing import sharing
from hopx_proto import Operation, Request
from hopx_proto.wire import dumps

from .connection import Exchange
from .envelope import Problem
from .text import invalid_text

__all__ = [
    "LARGE_BODY",
    "encode_in_pieces",
    "listing_pieces",
    "parse_arguments",
    "respond_in_pieces",
]

#: Request bodies at least this large are parsed in a worker thread.
LARGE_BODY = 256 * 1024
#: List items and string characters encoded per call.
_ITEMS = 512
_CHARS = 1 << 20


def _pieces(value: Any, out: list[bytes]) -> None:
    if isinstance(value, str) and len(value) > _CHARS:
        # Escaping is per character, so the slices' escapes join into the whole one's.
        slices = sharing(range(0, len(value), _CHARS), 1)
        out += [b'"', *(dumps(value[start : start + _CHARS])[1:-1] for start in slices), b'"']
    elif isinstance(value, list) and len(value) > _ITEMS:
        out.append(b"[")
        for start in sharing(range(0, len(value), _ITEMS), 1):
            if start:
                out.append(b",")
            out.append(dumps(value[start : start + _ITEMS])[1:-1])
        out.append(b"]")
    elif isinstance(value, dict):
        out.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(b",")
            out.append(dumps(key) + b":")
            _pieces(item, out)
        out.append(b"}")
    else:
        out.append(dumps(value))


def encode_in_pieces(result: dict[str, Any]) -> list[bytes]:
    """The JSON of ``result`` (plain JSON data: dicts, lists, strings, numbers), in pieces
    encoded by short calls (blocking); joined, they are ``op.render(result).body``."""
    pieces: list[bytes] = []
    _pieces(result, pieces)
    return pieces


def listing_pieces(path: str, count: int, entries: bytes) -> list[bytes]:
    """The ``files.list`` reply body, in pieces, from entries already encoded (the items of
    the ``files`` array, comma-separated)."""
    step = _CHARS
    middle = [entries[start : start + step] for start in range(0, len(entries), step)]
    tail = b'],"path":' + dumps(path) + b',"count":' + str(count).encode() + b"}"
    return [b'{"files":[', *middle, tail]


async def respond_in_pieces(
    exchange: Exchange, op: Operation[Any, Any], pieces: list[bytes]
) -> None:
    """Answer ``exchange`` with ``op``'s success status and a JSON body sent piece by piece
    (never joined into one buffer)."""
    headers = (
        (b"content-type", op.result.content_type),
        (b"content-length", str(sum(map(len, pieces))).encode()),
    )

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    await exchange.respond_stream(op.success, headers, chunks())


def parse_arguments(
    op: Operation[Any, Any], request: Request, code: str = "INVALID_REQUEST"
) -> Any:
    """The arguments of ``request`` for ``op``, every text in them valid Unicode.

    Blocking for a body of :data:`LARGE_BODY` bytes or more. Raises
    :class:`RemoteProtocolError` (the operation's own checks) or a 400 :class:`Problem` with
    error ``code`` for text holding lone surrogates, which no file, process or reply could
    carry.
    """
    args = op.parse(request)
    where = invalid_text(args)
    if where is not None:
        raise Problem(400, f"{where} is not valid Unicode text", code=code)
    return args
