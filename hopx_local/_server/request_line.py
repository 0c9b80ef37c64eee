"""Recognising bytes that cannot become a request line, as soon as they arrive.

The HTTP machine parses a request only once its whole head is in (up to the blank line), so
garbage without one would otherwise hold a connection until the head timeout. A request line
is ``METHOD SP TARGET SP HTTP/d.d CRLF`` (method a token, target visible ASCII); a prefix
that can no longer grow into one is refused with a 400 at once.
"""

from __future__ import annotations

__all__ = ["RequestLineCheck", "request_line_prefix_ok"]

#: The bytes of a method (a token) and the longest method accepted.
_TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
METHOD_MAX = 32
#: How many first bytes are checked: enough for any method and the start of the target; a
#: longer request line is left to the head size limit and the head timeout.
WINDOW = 256
_VERSION_SHAPE = b"HTTP/9.9"  # '9' stands for any digit


def _visible(data: bytes) -> bool:
    return all(0x21 <= byte <= 0x7E for byte in data)


def _version_prefix_ok(data: bytes, *, complete: bool) -> bool:
    if len(data) > len(_VERSION_SHAPE) or (complete and len(data) != len(_VERSION_SHAPE)):
        return False
    for byte, shape in zip(data, _VERSION_SHAPE, strict=False):
        if (byte not in b"0123456789") if shape == ord("9") else byte != shape:
            return False
    return True


def request_line_prefix_ok(data: bytes) -> bool:
    """Whether ``data`` (the first bytes of a request) can still start a valid request line."""
    newline = data.find(b"\n")
    complete = newline >= 0
    # A CR at the very end may be the first half of the line's CRLF.
    line = (data[:newline] if complete else data).removesuffix(b"\r")
    method, space, rest = line.partition(b" ")
    if len(method) > METHOD_MAX or any(byte not in _TOKEN_BYTES for byte in method):
        return False
    if not space:
        return not complete
    if not method:
        return False
    target, space, version = rest.partition(b" ")
    if not _visible(target):
        return False
    if not space:
        return not complete
    return bool(target) and _version_prefix_ok(version, complete=complete)


class RequestLineCheck:
    """Follows the first :data:`WINDOW` bytes of one request."""

    def __init__(self) -> None:
        self._seen = b""
        self.ok = True

    def feed(self, data: bytes) -> bool:
        """Add received bytes; False once they cannot start a request line."""
        if not self.ok or not data or len(self._seen) >= WINDOW or b"\n" in self._seen:
            return self.ok
        self._seen += data[: WINDOW - len(self._seen)]
        self.ok = request_line_prefix_ok(self._seen)
        return self.ok
