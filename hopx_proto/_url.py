"""URL pieces: percent-encoding of path parameters and query strings, and base URLs.

Every path parameter and query value is percent-encoded, so a file path such as
``/workspace/a b&c=d?e#f`` survives the trip to the server and back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._value import Value

__all__ = [
    "BaseURL",
    "encode_query",
    "parse_query",
    "quote_path_param",
    "split_target",
    "unquote_path_param",
]


def _quote(value: str, safe: str) -> str:
    try:
        return quote(value, safe=safe)
    except UnicodeEncodeError:
        raise LocalProtocolError(
            f"text cannot be sent in a URL (not valid UTF-8): {value[:60]!r}"
        ) from None


def quote_path_param(value: str) -> str:
    """Percent-encode one path segment: everything but RFC 3986 unreserved characters."""
    return _quote(value, "")


def unquote_path_param(value: str) -> str:
    return unquote(value, errors="strict")


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """A query string (without ``?``) from ordered pairs; ``/`` is left readable."""
    return "&".join(f"{_quote(k, '')}={_quote(v, '/')}" for k, v in pairs)


def parse_query(query: str) -> list[tuple[str, str]]:
    """Ordered pairs from a query string; ``+`` is read as a space, as forms send it."""
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        try:
            pairs.append(
                (
                    unquote(key.replace("+", " "), errors="strict"),
                    unquote(value.replace("+", " "), errors="strict") if sep else "",
                )
            )
        except UnicodeDecodeError:
            raise RemoteProtocolError(f"query parameter is not valid UTF-8: {part[:80]!r}")
    return pairs


def split_target(target: str) -> tuple[str, str]:
    """``(path, query)`` of a request target; a fragment is never part of a target."""
    path, _, query = target.partition("?")
    return path, query


@attrs.frozen(repr=False, eq=False)
class BaseURL(Value):
    """An ``http``/``https`` base URL: scheme, host, port and an optional path prefix."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str, *, what: str = "URL") -> BaseURL:
        """Parse and check a base URL; a clear :class:`LocalProtocolError` if it is not one."""
        if not isinstance(url, str) or not url.strip():
            raise LocalProtocolError(f"{what} is empty")
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise LocalProtocolError(f"{what} {url!r} is not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise LocalProtocolError(f"{what} {url!r} must start with http:// or https://")
        if not parts.hostname:
            raise LocalProtocolError(f"{what} {url!r} has no host")
        if port is None:
            port = 443 if scheme == "https" else 80
        host = parts.hostname
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise LocalProtocolError(f"{what} {url!r} has a host name IDNA cannot encode")
        return cls(scheme, host, port, parts.path.rstrip("/"))

    @property
    def is_tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.is_tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.prefix}"

    def ws_url(self, path: str) -> str:
        """The WebSocket URL of ``path``: ws/wss from http/https, same host and port."""
        scheme = "wss" if self.is_tls else "ws"
        return f"{scheme}://{self.host_header}{self.prefix}{path}"
