"""Every request the server can be sent gets a JSON error envelope with a status below 500,
unless the endpoint is one the emulator honestly cannot serve (501 and 503 for agent
self-update and desktop automation).

Hypothesis draws requests for every operation of both planes: the right or a wrong method,
path parameters, query strings and JSON bodies holding any JSON value in any field (integers
of 400 digits, floats, text with NUL bytes and lone surrogates, nested containers), garbage
bodies, missing or wrong credentials. They are sent over loopback to one real server (in its
own thread, on each loop) and one of its sandboxes. What sandboxed code may be asked to run
is kept harmless and short (the fields that name code or a program); everything else is free.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import hopx_local
from hopx_proto._http import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_proto._ops import OPERATIONS, Operation, Plane
from hopx_proto._ops._base import Loc, _arg_plan

pytestmark = pytest.mark.slow

KEY = "fuzz-key"
WAIT = 60.0

#: Operations answered 501/503 by design: nothing on this machine can serve them (agent
#: self-update, desktop automation). Template builds are served.
UNSERVABLE = frozenset(
    op for op in OPERATIONS.values() if op.name.startswith(("desktop.", "update."))
)
#: Fields naming what sandboxed code runs: drawn from harmless, quick programs only.
SAFE_CODE = ["print(1)", "", "exit 3", "raise SystemExit(2)", "# \x00 nothing", "echo hi"]
SAFE_COMMANDS = ["true", "false", "echo", "pwd", "no-such-program", ""]
PATHS = [
    "/workspace",
    "/workspace/f.txt",
    "/workspace/d/e",
    "/tmp/x",
    "/workspace/" + "n" * 255,
    "/workspace/" + "n" * 300,
    "/workspace/../etc/passwd",
    "/etc/passwd",
    "relative/name",
    "/workspace/\x00",
    "/workspace/\udcff",
    "",
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.integers(min_value=-5, max_value=10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()), max_size=12)
    | st.sampled_from(PATHS)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=6), inner, max_size=3
        )
    ),
    max_leaves=6,
)


@attrs.frozen
class Target:
    control: tuple[str, int]
    agent: tuple[str, int]
    sandbox_id: str
    token: str


def _origin(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname is not None
    assert parsed.port is not None
    return parsed.hostname, parsed.port


def send(origin: tuple[str, int], request: Request) -> Response:
    """One request on a fresh blocking connection; the whole response (bounded waits)."""
    conn = HTTPConnection(Role.CLIENT, max_body_size=256 << 20)
    with socket.create_connection(origin, timeout=WAIT) as sock:
        sock.sendall(conn.send_request(request))
        while True:
            message = conn.next_message()
            if isinstance(message, Response):
                return message
            assert message is NEED_DATA, f"connection closed without a response: {message!r}"
            conn.receive_data(sock.recv(65536))


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    state = tmp_path_factory.mktemp("fuzz") / "state"
    with anyio.from_thread.start_blocking_portal(backend=request.param) as portal:
        serving = hopx_local.serve(api_key=KEY, state_dir=state, max_sandboxes=6)
        with portal.wrap_async_context_manager(serving) as server:
            control = _origin(server.base_url)
            body = json.dumps({"template_name": "code-interpreter"}).encode()
            created = send(
                control,
                Request(
                    "POST",
                    "/v1/sandboxes",
                    (("host", "x"), ("x-api-key", KEY), ("content-type", "application/json")),
                    body,
                ),
            )
            assert created.status == 201, created.body
            sandbox = json.loads(created.body or b"")
            yield Target(
                control, _origin(sandbox["public_host"]), sandbox["id"], sandbox["auth_token"]
            )


_names = st.text(st.characters(exclude_categories=()), max_size=6) | st.sampled_from(
    ["A", "PATH", "A=B", "A\x00B", "", "\udcff", "LD_PRELOAD"]
)
_texts = st.sampled_from(PATHS) | st.text(st.characters(exclude_categories=()), max_size=10)
_ints = (
    st.integers(min_value=1, max_value=120)
    | st.sampled_from([0, -1, 2**31, 2**63, 10**400, 10**30])
    | st.integers(min_value=-(10**400), max_value=10**400)
)


def _typed(field_type: Any) -> st.SearchStrategy[Any]:
    """Values of the declared type of a field, with the edges that break servers."""
    import typing

    args = [a for a in typing.get_args(field_type) if a is not type(None)]
    origin = typing.get_origin(field_type)
    if origin is dict:
        return st.dictionaries(_names, st.text(st.characters(exclude_categories=()), max_size=6))
    if origin is list:
        return st.lists(_texts, max_size=3)
    if args and origin is not None and len(args) == 1:
        return st.none() | _typed(args[0])
    if field_type is bool:
        return st.booleans()
    if field_type is int:
        return _ints
    if field_type is float:
        return st.floats() | _ints
    if field_type is str:
        return _texts
    return _json_values


def _field_value(draw: st.DrawFn, name: str, field_type: Any) -> Any:
    if name == "code":
        return draw(st.sampled_from(SAFE_CODE))
    if name == "command":
        return draw(st.sampled_from(SAFE_COMMANDS))
    if name == "callback_url":
        return draw(st.sampled_from(["http://127.0.0.1:9/hook", "not a url", ""]))
    if draw(st.integers(0, 4)):
        return draw(_typed(field_type))
    return draw(_json_values)


def _safe(name: str, value: Any) -> bool:
    """Whether a free-form value may stand in a field that names what is run."""
    if name == "code":
        return value is None or not isinstance(value, str) or value in SAFE_CODE
    if name == "command":
        return value is None or not isinstance(value, str) or value in SAFE_COMMANDS
    if name == "callback_url":
        return not isinstance(value, str) or not value.startswith(("http", "HTTP", "Http"))
    return True


@st.composite
def requests(
    draw: st.DrawFn, target: Target
) -> tuple[Operation[Any, Any], tuple[str, int], Request]:
    ops = sorted(OPERATIONS.values(), key=lambda o: o.name)
    servable = [o for o in ops if o not in UNSERVABLE]
    op = draw(st.sampled_from(servable) if draw(st.integers(0, 9)) else st.sampled_from(ops))
    plan = _arg_plan(op.args)
    method = draw(st.sampled_from([op.method] * 8 + ["GET", "POST", "PUT", "PATCH"]))
    path = op.path
    for field in plan:
        if field.loc is Loc.PATH:
            # Never the live sandbox's id: a stop or a delete would end the run for everyone.
            value = draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=8))
            path = path.replace("{" + field.key + "}", urllib.parse.quote(value, safe=""))
    pairs = []
    for field in plan:
        if field.loc is Loc.QUERY and draw(st.integers(0, 3)):
            value = draw(_typed(field.tp) | _scalars)
            text = json.dumps(value) if not isinstance(value, str) else value
            pairs.append((field.key, text.encode("utf-8", "surrogatepass")))
    if draw(st.booleans()):
        pairs.append((draw(st.text(max_size=5)).encode(), draw(st.binary(max_size=6))))
    target_text = path + ("?" + urllib.parse.urlencode(pairs) if pairs else "")
    headers: list[tuple[str, str]] = [("host", "x")]
    credential = draw(st.sampled_from(["right"] * 8 + ["wrong", "none"]))
    if op.plane is Plane.CONTROL:
        if credential != "none":
            headers.append(("x-api-key", KEY if credential == "right" else "nope"))
        origin = target.control
    else:
        if credential != "none":
            headers.append(
                ("authorization", f"Bearer {target.token if credential == 'right' else 'a.b.c'}")
            )
        origin = target.agent
    kind = draw(st.sampled_from(["fields"] * 6 + ["none", "garbage", "json"]))
    body = b""
    if kind == "fields":
        doc: dict[str, Any] = {}
        for field in plan:
            if field.loc is Loc.WHOLE_BODY:
                doc.update(draw(st.dictionaries(_names, _json_values, max_size=3)))
            elif field.loc is Loc.BODY and draw(st.integers(0, 5)):
                doc[field.key] = _field_value(draw, field.key, field.tp)
        if draw(st.integers(0, 9)) == 0:
            doc[draw(st.text(max_size=6))] = draw(_json_values)
        doc = {key: value for key, value in doc.items() if _safe(key, value)}
        body = json.dumps(doc).encode()
    elif kind == "garbage":
        body = draw(st.binary(max_size=64))
    elif kind == "json":
        value = draw(_json_values)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if _safe(k, v)}
        body = json.dumps(value).encode()
    if body:
        ctype = (
            "application/json"
            if kind != "garbage"
            else draw(
                st.sampled_from(
                    ["application/json", "multipart/form-data; boundary=b", "text/plain"]
                )
            )
        )
        headers.append(("content-type", ctype))
    return op, origin, Request(method, target_text, tuple(headers), body)


def _check(
    op: Operation[Any, Any], origin: tuple[str, int], target: Target, response: Response
) -> None:
    status = response.status
    detail = (op.name, status, (response.body or b"")[:300])
    assert status < 500 or (status in (501, 503) and op in UNSERVABLE), detail
    ctype = (response.header("content-type") or "").lower()
    if status >= 400:
        assert ctype == "application/json", detail
        doc = json.loads(response.body or b"")
        if origin == target.control:
            assert isinstance(doc["error"]["code"], str), detail
            assert isinstance(doc["code"], str), detail
            assert isinstance(doc["error"]["message"], str), detail
        else:
            assert isinstance(doc["error"], str), detail
            assert isinstance(doc["code"], str), detail
    elif "json" in ctype:
        json.loads(response.body or b"{}")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=st.data())
def test_every_reply_is_a_typed_envelope_below_500(target: Target, data: st.DataObject) -> None:
    op, origin, request = data.draw(requests(target))
    response = send(origin, request)
    event(f"{op.plane.value} {response.status // 100}xx")
    if response.status >= 400 and origin == target.agent:
        event(f"code {json.loads(response.body or b'{}').get('code')}")
    _check(op, origin, target, response)
    # The sandbox keeps being served whatever was sent.
    health = send(target.agent, Request("GET", "/health", (("host", "x"),), b""))
    assert health.status == 200
