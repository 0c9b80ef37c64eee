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

from typing import Any

from hopx_proto import Operation, Request, Response
from hopx_proto.wire import dumps, to_wire

from .envelope import Problem
from .text import invalid_text

__all__ = ["LARGE_BODY", "parse_arguments", "render_in_pieces"]

#: Request bodies at least this large are parsed in a worker thread.
LARGE_BODY = 256 * 1024
#: List items and string characters encoded per call.
_ITEMS = 512
_CHARS = 1 << 20


def _pieces(value: Any, out: list[bytes]) -> None:
    if isinstance(value, str) and len(value) > _CHARS:
        # Escaping is per character, so the slices' escapes join into the whole one's.
        slices = range(0, len(value), _CHARS)
        out += [b'"', *(dumps(value[start : start + _CHARS])[1:-1] for start in slices), b'"']
    elif isinstance(value, list) and len(value) > _ITEMS:
        out.append(b"[")
        for start in range(0, len(value), _ITEMS):
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


def render_in_pieces(op: Operation[Any, Any], result: dict[str, Any]) -> Response:
    """``op.render(result)`` for a JSON operation, encoded in short calls (blocking)."""
    pieces: list[bytes] = []
    _pieces(to_wire(result), pieces)
    return Response(op.success, ((b"content-type", op.result.content_type),), b"".join(pieces))


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
