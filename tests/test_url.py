"""Percent-encoding of path parameters and queries, and base URLs."""

from __future__ import annotations

import string
from urllib.parse import unquote

import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto._errors import LocalProtocolError, RemoteProtocolError
from hopx_proto._http import Request
from hopx_proto._url import (
    BaseURL,
    encode_query,
    parse_query,
    quote_path_param,
    split_target,
    unquote_path_param,
)

NASTY = "/workspace/a b&c=d?e#f"
UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def test_path_param_with_every_delimiter_survives() -> None:
    quoted = quote_path_param(NASTY)
    assert quoted == "%2Fworkspace%2Fa%20b%26c%3Dd%3Fe%23f"
    assert unquote_path_param(quoted) == NASTY
    assert quote_path_param("a b&c=d?e#f") == "a%20b%26c%3Dd%3Fe%23f"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_path_param_round_trip_and_only_unreserved_left_bare(value: str) -> None:
    quoted = quote_path_param(value)
    assert set(quoted) <= UNRESERVED | {"%"} | set(string.hexdigits)
    assert "/" not in quoted
    assert unquote_path_param(quoted) == value
    # the quoted form is a valid request target segment
    Request("GET", "/files/" + quoted, [("host", "h")])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(), st.text()), max_size=6))
def test_query_round_trip(pairs: list[tuple[str, str]]) -> None:
    query = encode_query(pairs)
    assert "#" not in query
    assert " " not in query
    assert query.count("&") == max(len(pairs) - 1, 0)
    assert parse_query(query) == pairs


def test_query_encoding_details() -> None:
    assert encode_query([("path", NASTY), ("recursive", "true")]) == (
        "path=/workspace/a%20b%26c%3Dd%3Fe%23f&recursive=true"
    )
    assert encode_query([("q", "1+1")]) == "q=1%2B1"
    assert parse_query(encode_query([("q", "1+1")])) == [("q", "1+1")]
    assert encode_query([]) == ""


def test_parse_query_forms() -> None:
    assert parse_query("") == []
    assert parse_query("a=1&&b=&c") == [("a", "1"), ("b", ""), ("c", "")]
    assert parse_query("a+b=c+d") == [("a b", "c d")]
    assert parse_query("x=1=2") == [("x", "1=2")]
    assert parse_query("a=1&a=2") == [("a", "1"), ("a", "2")]
    with pytest.raises(RemoteProtocolError):
        parse_query("path=%ff%fe")


def test_split_target() -> None:
    assert split_target("/files?path=/a%3Fb&x=1") == ("/files", "path=/a%3Fb&x=1")
    assert split_target("/files") == ("/files", "")
    assert split_target("/f?") == ("/f", "")


@pytest.mark.parametrize(
    "encode", [quote_path_param, lambda v: encode_query([("path", v)])], ids=["path", "query"]
)
def test_lone_surrogate_is_a_local_protocol_error(encode: object) -> None:
    assert callable(encode)
    with pytest.raises(LocalProtocolError):
        encode("/workspace/\udcff")


# ---------------------------------------------------------------------------------------------
# BaseURL


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "prefix"),
    [
        ("https://api.hopx.dev", "https", "api.hopx.dev", 443, ""),
        ("https://api.hopx.dev/", "https", "api.hopx.dev", 443, ""),
        ("HTTP://Example.COM:8080/base/", "http", "example.com", 8080, "/base"),
        ("http://127.0.0.1:7777", "http", "127.0.0.1", 7777, ""),
        ("  https://h.example/p/q  ", "https", "h.example", 443, "/p/q"),
        ("http://[::1]:8080/p/", "http", "::1", 8080, "/p"),
        ("https://[2001:db8::1]", "https", "2001:db8::1", 443, ""),
    ],
)
def test_base_url_parse(url: str, scheme: str, host: str, port: int, prefix: str) -> None:
    base = BaseURL.parse(url)
    assert base == BaseURL(scheme, host, port, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://x",
        "api.hopx.dev",
        "http://",
        "http://[::1",
        "http://h:99999",
        "http://h:abc",
        "http://h:-1",
        "ws://h",
        "//h/p",
    ],
)
def test_base_url_errors_are_local_protocol_errors(url: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        BaseURL.parse(url, what="base_url")
    assert "base_url" in str(info.value)


def test_base_url_rejects_non_strings() -> None:
    with pytest.raises(LocalProtocolError):
        BaseURL.parse(None)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        BaseURL.parse(b"http://h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "host_header", "text", "ws"),
    [
        ("https://a.example", "a.example", "https://a.example", "wss://a.example/x"),
        ("https://a.example:443", "a.example", "https://a.example", "wss://a.example/x"),
        ("http://a.example:80/p", "a.example", "http://a.example/p", "ws://a.example/p/x"),
        (
            "http://127.0.0.1:9000",
            "127.0.0.1:9000",
            "http://127.0.0.1:9000",
            "ws://127.0.0.1:9000/x",
        ),
        ("https://a.example:80", "a.example:80", "https://a.example:80", "wss://a.example:80/x"),
        ("http://[::1]:8080/pre", "[::1]:8080", "http://[::1]:8080/pre", "ws://[::1]:8080/pre/x"),
        ("http://[::1]", "[::1]", "http://[::1]", "ws://[::1]/x"),
    ],
)
def test_host_header_str_and_ws_url(url: str, host_header: str, text: str, ws: str) -> None:
    base = BaseURL.parse(url)
    assert base.host_header == host_header
    assert str(base) == text
    assert base.ws_url("/x") == ws
    assert BaseURL.parse(str(base)) == base
    assert base.is_tls == url.startswith("https")


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    port=st.integers(1, 65535),
    prefix=st.lists(st.text(alphabet="abc-_", min_size=1, max_size=5), max_size=3),
)
def test_base_url_str_round_trip(scheme: str, host: str, port: int, prefix: list[str]) -> None:
    path = "".join("/" + p for p in prefix)
    base = BaseURL.parse(f"{scheme}://{host}:{port}{path}")
    assert (base.scheme, base.host, base.port, base.prefix) == (scheme, host, port, path)
    assert BaseURL.parse(str(base)) == base
    assert unquote(base.ws_url("/y")).endswith(path + "/y")


def test_non_ascii_host_is_idna_encoded() -> None:
    base = BaseURL.parse("https://例え.jp/")
    assert base.host == "xn--r8jz45g.jp"
    assert base.host_header == "xn--r8jz45g.jp"
    assert base.ws_url("/x") == "wss://xn--r8jz45g.jp/x"
    Request("GET", "/", [("host", base.host_header)])
