"""The common HTTP/1.1 client exchange without h11's per-event machinery.

A request whose body is known (``Content-Length`` framing, or no body) and a response framed
by one ``Content-Length`` make up almost every call a client makes. For them,
:class:`hopx_proto.HTTPConnection` writes the request bytes and parses the response head here,
with h11's own grammar (the patterns below are those of ``h11._abnf``), and counts the body
itself. Everything else (chunked bodies, ``1xx``, upgrades, ``Connection: close``, HTTP/1.0,
EOF or any doubt about the bytes) goes to h11, which then sees the whole cycle replayed. The
differential tests in ``tests/test_http_fast.py`` hold the two paths to the same events, the
same errors and the same bytes on the wire.
"""

from __future__ import annotations

import re

__all__ = ["Head", "parse_head", "request_bytes"]

_OWS = r"[ \t]*"
_TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR = r"[\x21-\x7e]"
_FIELD_VCHAR = r"[^\x00\s]"
_FIELD_CONTENT = rf"{_FIELD_VCHAR}+(?:[ \t]+{_FIELD_VCHAR}+)*"
_FIELD_VALUE = rf"({_FIELD_CONTENT})?"

_token = re.compile(_TOKEN.encode()).fullmatch
_target = re.compile(rf"{_VCHAR}+".encode()).fullmatch
_field_value = re.compile(_FIELD_VALUE.encode()).fullmatch
_header_line = re.compile(
    rf"(?P<field_name>{_TOKEN}):{_OWS}(?P<field_value>{_FIELD_VALUE}){_OWS}".encode()
).fullmatch
_status_line = re.compile(
    rf"HTTP/(?P<http_version>[0-9]\.[0-9]) (?P<status_code>[0-9]{{3}})"
    rf"(?: (?P<reason>([ \t]|{_FIELD_VCHAR})*))?".encode()
).fullmatch
_content_length = re.compile(rb"[0-9]{1,20}").fullmatch

#: Request headers whose meaning h11 acts on beyond framing: such requests take h11's path.
_SPECIAL_REQUEST = frozenset({b"connection", b"upgrade", b"expect", b"transfer-encoding"})
#: Methods whose response framing differs (no body after HEAD, a tunnel after CONNECT).
_SPECIAL_METHODS = frozenset({b"HEAD", b"CONNECT"})

#: Header lines already checked, by ``(name, value)`` (requests) or by line (responses): a
#: client sends and receives the same few again and again. Only lines with no meaning to the
#: framing go in (not Host, Content-Length, or those h11 acts on); emptied when full.
_CACHE_SIZE = 512
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_request_lines: dict[tuple[bytes, bytes], bytes] = {}
_request_starts: dict[tuple[bytes, bytes], bytes] = {}
_status_lines: dict[bytes, tuple[int, bytes]] = {}
_response_lines: dict[bytes, tuple[bytes, bytes]] = {}


def request_bytes(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes | None:
    """The bytes h11 would write for this request and its whole ``body``, or ``None`` when
    h11 must handle it (anything it would refuse, or whose state it would change beyond a
    plain keep-alive cycle).

    Args:
        method: the method, ASCII.
        target: the request target, ASCII.
        headers: the header pairs as they will be sent (framing headers included).
        body: the whole body.
    """
    start = _request_starts.get((method, target))
    if start is None:
        if method in _SPECIAL_METHODS or not _token(method) or not _target(target):
            return None
        start = method + b" " + target + b" HTTP/1.1\r\n"
        if len(_request_starts) >= _CACHE_SIZE:
            _request_starts.clear()
        _request_starts[method, target] = start
    host: bytes | None = None
    length: bytes | None = None
    lines = [start, b""]  # [1]: the Host line, written first
    for name, value in headers:
        line = _request_lines.get((name, value))
        if line is not None:  # a header sent before, and checked then
            lines.append(line)
            continue
        lower = name.lower()
        if not _token(name) or not _field_value(value) or lower in _SPECIAL_REQUEST:
            return None
        if lower == b"host":
            if host is not None:
                return None
            host = name + b": " + value + b"\r\n"
            continue
        if lower == b"content-length":
            if length is not None or not _content_length(value):
                return None
            length = value
            lines.append(name + b": " + value + b"\r\n")
            continue
        line = name + b": " + value + b"\r\n"
        if len(_request_lines) >= _CACHE_SIZE:
            _request_lines.clear()
        _request_lines[name, value] = line
        lines.append(line)
    if host is None:
        return None
    if (int(length) if length is not None else 0) != len(body):
        return None
    lines[1] = host
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)


class Head:
    """A parsed response head: status, reason, headers and the body's length.

    Attributes:
        status: the status code.
        reason: the reason phrase, as sent.
        headers: ``(lowercase name, value)`` pairs.
        length: the ``Content-Length``.
        size: bytes of the head on the wire, blank line included.
    """

    __slots__ = ("headers", "length", "reason", "size", "status")

    def __init__(
        self,
        status: int,
        reason: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        length: int,
        size: int,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.length = length
        self.size = size


def parse_head(buffer: bytearray) -> Head | None:
    """The response head at the start of ``buffer`` when this path can take it: complete,
    well formed, HTTP/1.1, a final status with a body, framed by one ``Content-Length``, and
    not asking to close; ``None`` otherwise (incomplete, or for h11 to judge). The buffer is
    left as it is.
    """
    end = buffer.find(b"\r\n\r\n")
    if end <= 0:
        return None
    head = bytes(buffer[:end])
    if head.count(b"\n") != head.count(b"\r\n"):
        return None  # a bare LF: h11 splits lines differently
    lines = head.split(b"\r\n")
    known = _status_lines.get(lines[0])
    if known is None:
        status_match = _status_line(lines[0])
        if status_match is None or status_match["http_version"] != b"1.1":
            return None
        known = (int(status_match["status_code"]), status_match["reason"] or b"")
        if len(_status_lines) >= _CACHE_SIZE:
            _status_lines.clear()
        _status_lines[lines[0]] = known
    status, reason = known
    if status < 200 or status in (204, 304):
        return None
    headers = []
    length: int | None = None
    for line in lines[1:]:
        pair = _response_lines.get(line)
        if pair is not None:
            headers.append(pair)
            continue
        match = _header_line(line)
        if match is None:
            return None
        name = match["field_name"].lower()
        value = match["field_value"]
        if name not in _FRAMING:
            if len(_response_lines) >= _CACHE_SIZE:
                _response_lines.clear()
            _response_lines[line] = (name, value)
        if name == b"content-length":
            if length is not None or not _content_length(value):
                return None
            length = int(value)
        elif name == b"transfer-encoding" or (name == b"connection" and b"close" in value.lower()):
            return None
        headers.append((name, value))
    if length is None:
        return None
    return Head(status, reason, tuple(headers), length, end + 4)
