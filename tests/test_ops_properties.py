"""Properties every operation of the table has, whoever wrote it.

1. Server-side ``parse`` reads back exactly the arguments client-side ``encode`` sent, directly
   and after the request crossed an HTTP/1.1 connection.
2. ``decode(render(result)) == result``.
3. A response fed to the client connection in arbitrary pieces decodes exactly as in one piece.
4. Any status from 100 to 599 with any body gives a result (2xx only) or a ``HopxError``, never
   another exception.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs
import pytest
import strategies as gen
from hypothesis import HealthCheck, given, reject, settings, strategies as st

from hopx_proto._errors import HopxError, LocalProtocolError
from hopx_proto._http import HTTPConnection, Request, Response, Role
from hopx_proto._ops import OPERATIONS, Operation
from hopx_proto._ops._base import Model

NAMES = sorted(OPERATIONS)
# A WebSocket upgrade's success (101) belongs to the WebSocket machine, not to ``decode``.
RESULT_NAMES = [
    n for n in NAMES if gen.supports_result(OPERATIONS[n]) and not OPERATIONS[n].websocket
]
HOST = ("host", "sandbox.example.invalid")


def _examples(count: int) -> settings:
    """Modest example counts keep the whole file under a minute for ~150 operations."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def _through_connection(request: Request) -> Request:
    """The request as a server reads it off the wire."""
    client = HTTPConnection(Role.CLIENT)
    server = HTTPConnection(Role.SERVER)
    server.receive_data(client.send_request(request.with_headers(HOST)))
    message = server.next_message()
    assert isinstance(message, Request)
    return message


@pytest.mark.parametrize("name", NAMES)
@_examples(10)
@given(data=st.data())
def test_parse_reads_back_what_encode_sent(name: str, data: st.DataObject) -> None:
    op = OPERATIONS[name]
    args = data.draw(gen.args_for(op), label="args")
    auth = data.draw(st.none() | st.just("credential-1"), label="auth")
    try:
        request = op.encode(args, auth=auth)
    except LocalProtocolError:
        # A check that runs at encode time rather than in the constructor: these arguments
        # were never valid, and nothing was produced.
        reject()
    assert request.method == op.method
    assert request.target.isascii()
    assert op.parse(request) == args
    assert op.parse(_through_connection(request)) == args


@pytest.mark.parametrize("name", RESULT_NAMES)
@_examples(10)
@given(data=st.data())
def test_decode_reads_back_what_render_sent(name: str, data: st.DataObject) -> None:
    op = OPERATIONS[name]
    result = data.draw(gen.result_for(op), label="result")
    response = op.render(result)
    assert response.status == op.success
    decoded = op.decode(response)
    if result is None:
        assert decoded is None or decoded == {}
    else:
        assert decoded == result


# -- 3. split invariance ---------------------------------------------------------------------

_ERROR_STATUSES = st.sampled_from([400, 401, 403, 404, 409, 410, 413, 422, 429, 500, 502, 503])


def _error_bodies() -> st.SearchStrategy[bytes]:
    envelope = st.fixed_dictionaries(
        {"error": st.one_of(gen.strings, gen.json_objects)},
        optional={"code": gen.strings, "message": gen.strings, "details": gen.json_objects},
    )
    return st.one_of(envelope.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64))


@st.composite
def _responses(draw: st.DrawFn, op: Operation[Any, Any]) -> Response:
    if gen.supports_result(op) and not op.websocket and draw(st.booleans()):
        return op.render(draw(gen.result_for(op)))
    status = draw(_ERROR_STATUSES)
    return Response(status, [("content-type", "application/json")], draw(_error_bodies()))


def _server_bytes(request: Request, response: Response, pieces: list[int]) -> bytes:
    """``response`` as a server writes it: with Content-Length, or chunked at ``pieces``."""
    server = HTTPConnection(Role.SERVER)
    server.receive_data(HTTPConnection(Role.CLIENT).send_request(request))
    assert isinstance(server.next_message(), Request)
    if not pieces:
        return server.send_response(response)
    body = response.body or b""
    out = server.send_response(attrs.evolve(response, body=None))
    cuts = sorted({min(p, len(body)) for p in pieces} | {0, len(body)})
    for start, end in itertools.pairwise(cuts):
        out += server.send_body(body[start:end])
    return out + server.send_end()


def _client_receive(request: Request, chunks: list[bytes]) -> Response:
    client = HTTPConnection(Role.CLIENT)
    client.send_request(request)
    for chunk in chunks:
        client.receive_data(chunk)
        message = client.next_message()
        if isinstance(message, Response):
            return message
    client.receive_data(b"")
    message = client.next_message()
    assert isinstance(message, Response), message
    return message


def _outcome(op: Operation[Any, Any], response: Response) -> tuple[Any, ...]:
    try:
        return ("result", op.decode(response))
    except HopxError as exc:
        return ("error", type(exc), str(exc))


@pytest.mark.parametrize("name", NAMES)
@_examples(5)
@given(data=st.data())
def test_split_response_decodes_like_a_whole_one(name: str, data: st.DataObject) -> None:
    op = OPERATIONS[name]
    request = Request(op.method, "/", [HOST], b"")
    response = data.draw(_responses(op), label="response")
    pieces = data.draw(st.lists(st.integers(0, 300), max_size=4), label="body pieces")
    wire = _server_bytes(request, response, pieces)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=12), label="cuts")))
    bounds = [0, *cuts, len(wire)]
    chunks = [wire[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    whole = _client_receive(request, [wire])
    split = _client_receive(request, chunks)
    assert (split.status, split.body) == (whole.status, whole.body)
    assert split.header("content-type") == whole.header("content-type")
    assert whole.body == (response.body if response.status not in (204, 304) else b"")
    assert _outcome(op, split) == _outcome(op, whole)


# -- 4. any status, any body ------------------------------------------------------------------


def _model_keys(cls: type) -> list[str]:
    keys: list[str] = []
    for field in attrs.fields(cls):
        keys.append(field.metadata.get("hopx_wire") or field.name)
        keys.extend(field.metadata.get("hopx_aliases", ()))
    return keys


def _bodies(op: Operation[Any, Any]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, arbitrary JSON, and objects with the result's own keys holding junk."""
    choices = [st.binary(max_size=80), gen.json_values.map(lambda v: json.dumps(v).encode())]
    if isinstance(op.result, Model) and attrs.has(op.result.cls):
        keys = _model_keys(op.result.cls)
        if keys:
            junk = st.dictionaries(st.sampled_from(keys), gen.json_values, max_size=6)
            choices.append(junk.map(lambda d: json.dumps(d).encode()))
    texts = st.sampled_from([b"NaN", b"Infinity", b"-1e400", b"[" * 2000, b'{"a":1e400}'])
    choices.append(texts)
    return st.one_of(*choices)


_CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/octet-stream",
        "text/html",
    ]
)


@pytest.mark.parametrize("name", NAMES)
@_examples(12)
@given(data=st.data())
def test_any_status_and_body_gives_a_result_or_a_hopx_error(name: str, data: st.DataObject) -> None:
    op = OPERATIONS[name]
    status = data.draw(st.integers(100, 599), label="status")
    body = data.draw(_bodies(op), label="body")
    headers: list[tuple[str, str]] = []
    ctype = data.draw(_CONTENT_TYPES, label="content-type")
    if ctype is not None:
        headers.append(("content-type", ctype))
    extra = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["retry-after", "x-request-id"]),
                st.text(st.characters(max_codepoint=255), max_size=12),
            ),
            max_size=2,
        ),
        label="headers",
    )
    headers.extend(extra)
    response = Response(status, headers, body)
    outcome = _outcome(op, response)
    if outcome[0] == "error":
        assert issubclass(outcome[1], HopxError)
    else:
        assert 200 <= status < 300, f"{op.name} returned a result for HTTP {status}"
