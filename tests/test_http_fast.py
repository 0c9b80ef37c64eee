"""The client's fast HTTP path agrees with h11 on every input.

Each example runs one script of operations (requests, received bytes split anywhere, EOF,
failed writes, new cycles) on two client machines: the real one, whose common cycles skip h11,
and one that always goes through h11. Every result must be the same: the bytes to send, each
event, each error (type and message), and the machine's state after each step.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

from hopx_proto._errors import HopxError
from hopx_proto._http import HTTPConnection, Request, ResponseHead, Role


class H11Only(HTTPConnection):
    """The client machine with its fast path turned off: h11 does everything."""

    def __init__(self, **limits: int) -> None:
        super().__init__(Role.CLIENT, **limits)
        self._fast = None

    def _send_fast(self, *args: Any) -> bytes | None:
        return None


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except HopxError as exc:
        return (type(exc).__name__, str(exc))
    except Exception as exc:  # noqa: BLE001  (h11 itself fails so on some misuse: compared too)
        return ("unexpected " + type(exc).__name__, str(exc))


def _state(conn: HTTPConnection) -> tuple[Any, ...]:
    return (
        conn.is_reusable,
        conn.is_idle,
        conn.is_closed,
        conn.their_message_done,
        conn.trailing_data,
    )


def _events(conn: HTTPConnection, limit: int = 8) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for _ in range(limit):
        result = _outcome(conn.next_event)
        out.append(result)
        if result[0] != "ok" or result[1].__class__.__name__ in ("NeedData", "ConnectionClosed"):
            break
    return out


def run(conn: HTTPConnection, script: list[tuple[str, Any]]) -> list[Any]:
    """Every result and state of ``script`` on ``conn``."""
    trace: list[Any] = []
    for op, arg in script:
        if op == "request":
            trace.append(_outcome(lambda arg=arg: conn.send_request(arg)))
        elif op == "data":
            trace.append(_outcome(lambda arg=arg: conn.receive_data(arg)))
            trace.append(_events(conn))
        elif op == "eof":
            trace.append(_outcome(lambda: conn.receive_data(b"")))
            trace.append(_events(conn))
        elif op == "send_failed":
            trace.append(_outcome(conn.send_failed))
        elif op == "body":
            trace.append(_outcome(lambda arg=arg: conn.send_body(arg)))
        elif op == "end":
            trace.append(_outcome(conn.send_end))
        elif op == "next_cycle":
            trace.append(_outcome(conn.start_next_cycle))
        trace.append(_state(conn))
    return trace


# -- requests ---------------------------------------------------------------------------------

_names = st.sampled_from(
    [b"host", b"accept", b"authorization", b"user-agent", b"content-length", b"x-a", b"Host",
     b"Content-Type", b"connection", b"upgrade", b"expect", b"transfer-encoding", b"bad name",
     b"", b"x:y"]
)  # fmt: skip
_values = st.sampled_from(
    [b"sandbox.test", b"application/json", b"Bearer abc.def", b"0", b"3", b"12", b"x y",
     b" lead", b"trail ", b"a\r\nb", b"nul\x00", b"caf\xc3\xa9", b"close", b"keep-alive",
     b"100-continue", b"chunked", b"", b"3, 3", b"-1"]
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "CONNECT", "G T"]))
    target = draw(st.sampled_from(["/env", "/files?path=/a%20b", "/x y", "", "/\x7f", "*"]))
    headers = [("host", "sandbox.test")] if draw(st.booleans()) else []
    headers += draw(st.lists(st.tuples(_names, _values), max_size=4))
    if draw(st.booleans()):
        headers = [*headers, ("host", "sandbox.test")]
    body = draw(st.sampled_from([b"", b"abc", b"{}", b"x" * 12]))
    return Request(method, target, headers, body)


_plain = Request("GET", "/env", [("host", "h"), ("authorization", "Bearer t")])


# -- responses --------------------------------------------------------------------------------

_status_lines = st.sampled_from(
    [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 500", b"HTTP/1.1 201 ",
     b"HTTP/1.0 200 OK", b"HTTP/1.1 100 Continue", b"HTTP/1.1 101 Switching Protocols",
     b"HTTP/1.1 204 No Content", b"HTTP/1.1 304 Not Modified", b"HTTP/2.0 200 OK",
     b"HTTP/1.1 20 OK", b"http/1.1 200 OK", b"HTTP/1.1 200 caf\xc3\xa9 \t", b" HTTP/1.1 200 OK",
     b"HTTP/1.1 429 Too Many\x00"]
)  # fmt: skip
_header_lines = st.sampled_from(
    [b"Content-Type: application/json", b"content-length: 2", b"Content-Length: 5",
     b"Content-Length:0", b"Content-Length: 2, 2", b"Content-Length: 0002",
     b"Content-Length: 123456789012345678901", b"Content-Length: x", b"Transfer-Encoding: chunked",
     b"Connection: close", b"Connection: keep-alive", b"Connection: Keep-Alive, CLOSE",
     b"X-Empty:", b"X-Space:   padded  ", b" folded", b"\tfolded", b"Bad Line", b"x y: z",
     b"Retry-After: 3", b"Date: Mon, 01 Jan 2026 00:00:00 GMT", b"x-a: b\rc"]
)  # fmt: skip


_good_headers = st.sampled_from(
    [b"Content-Type: application/json", b"Connection: keep-alive", b"X-Empty:",
     b"X-Space:   padded  ", b"Retry-After: 3", b"Date: Mon, 01 Jan 2026 00:00:00 GMT",
     b"x-obs: caf\xc3\xa9", b"Server: hopx"]
)  # fmt: skip


@st.composite
def good_responses(draw: st.DrawFn) -> bytes:
    """What servers send: a final status, one Content-Length, mostly matching the body."""
    status = draw(st.sampled_from([b"200 OK", b"404 Not Found", b"500", b"201 ", b"401 No"]))
    body = draw(st.binary(max_size=20))
    length = len(body) + draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
    lines = [b"HTTP/1.1 " + status, *draw(st.lists(_good_headers, max_size=3))]
    where = draw(st.integers(0, len(lines) - 1))
    lines.insert(where + 1, b"Content-Length: %d" % max(0, length))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@st.composite
def odd_responses(draw: st.DrawFn) -> bytes:
    lines = [draw(_status_lines), *draw(st.lists(_header_lines, max_size=5))]
    newline = draw(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
    head = newline.join(lines) + newline + newline
    if draw(st.booleans()):
        head = draw(st.sampled_from([b"\r\n", b"\n", b"\x16\x03"])) + head
    body = draw(st.sampled_from([b"", b"{}", b"hello", b"12345678", b"0\r\n\r\n"]))
    return head + body


responses = st.one_of(good_responses(), good_responses(), odd_responses())


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    pieces, start = [], 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[start:cut])
        start = cut
    return [p for p in pieces if p] or [data]


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, Any]]:
    script: list[tuple[str, Any]] = []
    for _cycle in range(draw(st.integers(1, 3))):
        script.append(("request", draw(st.one_of(st.just(_plain), st.just(_plain), requests()))))
        if draw(st.integers(0, 9)) == 0:
            script.append(("send_failed", None))
        if draw(st.integers(0, 9)) == 0:
            script.append(draw(st.sampled_from([("body", b"x"), ("end", None)])))
        data = draw(responses)
        if draw(st.booleans()):
            data += draw(responses)  # the next response, or bytes nobody asked for
        pieces = draw(splits(data))
        if draw(st.integers(0, 4)) == 0:
            pieces = pieces[: draw(st.integers(0, len(pieces)))]
        script += [("data", piece) for piece in pieces]
        if draw(st.integers(0, 4)) == 0:
            script.append(("eof", None))
            if draw(st.booleans()):
                script.append(("data", b"late"))
        script.append(("next_cycle", None))
    return script


@settings(max_examples=1500, deadline=None)
@given(scripts(), st.sampled_from([{}, {"max_header_size": 40}, {"max_body_size": 4}]))
def test_fast_path_agrees_with_h11(script: list[tuple[str, Any]], limits: dict[str, int]) -> None:
    assert run(HTTPConnection(Role.CLIENT, **limits), script) == run(H11Only(**limits), script)


def test_the_fast_path_is_taken_for_a_plain_cycle() -> None:
    """The differential test compares something: a plain cycle skips h11."""
    conn = HTTPConnection(Role.CLIENT)
    data = conn.send_request(_plain)
    assert data == b"GET /env HTTP/1.1\r\nhost: h\r\nauthorization: Bearer t\r\n\r\n"
    assert conn._fast is not None
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}")
    head = conn.next_event()
    assert head == ResponseHead(200, ((b"content-length", b"2"), (b"x-a", b"b")), "OK")
    assert conn._fast is not None


def test_h11_takes_over_and_gives_back() -> None:
    """A chunked reply goes to h11; the next plain cycle is the fast path's again."""
    conn = HTTPConnection(Role.CLIENT)
    conn.send_request(_plain)
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    events = _events(conn)
    assert conn._fast is None
    assert [type(e).__name__ for _, e in events] == [
        "ResponseHead", "BodyChunk", "EndOfMessage", "NeedData"
    ]  # fmt: skip
    conn.start_next_cycle()
    conn.send_request(_plain)
    assert conn._fast is not None
