"""Seed inputs for the harnesses, rendered from the wire vectors in tests/vectors/*.json.

Requests are built with each operation's own encoder and written by a client
:class:`HTTPConnection`; responses are written by a server one, with ``Content-Length`` and
with chunked framing. A few hand-written messages cover framings the vectors do not (100
Continue, read-until-close, pipelining, trailers).
"""

from __future__ import annotations

import base64
import functools
import json
import pathlib
import typing
from typing import Any

import attrs

from hopx_proto._codec import from_wire
from hopx_proto._errors import HopxError
from hopx_proto._http import HTTPConnection, Request, Response, Role

__all__ = ["http_request_seeds", "http_response_seeds", "load_vectors", "vector_bodies"]

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "vectors"
HOST = (b"host", b"sandbox.test")


def load_vectors() -> list[dict[str, Any]]:
    """Every vector of every file, in file order."""
    cases: list[dict[str, Any]] = []
    for path in sorted(VECTORS.glob("*.json")):
        cases += json.loads(path.read_text())["vectors"]
    if not cases:
        raise SystemExit(f"no wire vectors found in {VECTORS}")
    return cases


def _body(spec: dict[str, Any]) -> bytes:
    if "json" in spec:
        return json.dumps(spec["json"]).encode()
    if "text" in spec:
        return str(spec["text"]).encode()
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    return b""


def _args(op: Any, raw: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(op.args)
    names = {f.name for f in attrs.fields(op.args)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            continue
        tp = hints[key]
        if tp is bytes or tp == (bytes | None):
            kwargs[key] = None if value is None else base64.b64decode(value)
        else:
            kwargs[key] = from_wire(tp, value, path=key)
    return op.args(**kwargs)


def _request_bytes(request: Request) -> bytes:
    client = HTTPConnection(Role.CLIENT)
    return client.send_request(request.with_headers(HOST))


def _served(response: Response, *, chunked: bool) -> bytes:
    server = HTTPConnection(Role.SERVER)
    server.receive_data(b"GET / HTTP/1.1\r\nhost: sandbox.test\r\n\r\n")
    server.next_message()
    if not chunked or response.status in (204, 304) or response.status < 200:
        return server.send_response(response)
    body = response.body or b""
    headers = tuple(
        (k, v) for k, v in response.headers if k not in (b"content-length", b"transfer-encoding")
    )
    out = server.send_response(Response(response.status, headers, None, response.reason))
    for start in range(0, len(body), 7):
        out += server.send_body(body[start : start + 7])
    return out + server.send_end()


@functools.cache
def http_request_seeds() -> tuple[bytes, ...]:
    """Request bytes: every request vector encoded by its operation, plus hand-written ones."""
    from hopx_proto._ops import OPERATIONS

    seeds: list[bytes] = []
    for case in load_vectors():
        spec = case.get("request")
        if spec is None:
            continue
        op = OPERATIONS.get(case["operation"])
        if case.get("parse_error") or op is None:
            request = Request(
                spec["method"], spec["target"], list(spec.get("headers", {}).items()), _body(spec)
            )
        else:
            try:
                request = op.encode(_args(op, case.get("args", {})), auth=case.get("auth"))
            except (HopxError, ValueError, TypeError):
                continue  # a vector the encoder refuses is not a seed
        seeds.append(_request_bytes(request))
    seeds += [
        b"POST /execute HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n",
        b"GET /a HTTP/1.1\r\nhost: h\r\n\r\nGET /b HTTP/1.1\r\nhost: h\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nhost: h\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
        b"\x81\x82abcd\x00\x00",
        b"PUT /files HTTP/1.1\r\nhost: h\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\nabc",
    ]
    return tuple(dict.fromkeys(seeds))


@functools.cache
def http_response_seeds() -> tuple[bytes, ...]:
    """Response bytes: every response vector, content-length and chunked, plus hand-written."""
    seeds: list[bytes] = []
    for case in load_vectors():
        spec = case.get("response")
        if spec is None:
            continue
        response = Response(spec["status"], list(spec.get("headers", {}).items()), _body(spec))
        seeds.append(_served(response, chunked=False))
        seeds.append(_served(response, chunked=True))
    seeds += [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the peer closes",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
        b"\x81\x02hi",
    ]
    return tuple(dict.fromkeys(seeds))


def vector_bodies() -> list[bytes]:
    """Every JSON body of every vector (request and response), as bytes."""
    out: list[bytes] = []
    for case in load_vectors():
        for key in ("request", "response"):
            spec = case.get(key)
            if spec and "json" in spec:
                out.append(json.dumps(spec["json"]).encode())
    return out
