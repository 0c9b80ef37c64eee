"""Run every wire vector in tests/vectors/: encode, decode, and the server side of both."""

from __future__ import annotations

import base64
import json
import pathlib
import typing
from typing import Any

import attrs
import pytest

import hopx_proto._errors as errors
from hopx_proto._codec import from_wire, loads, to_wire
from hopx_proto._http import Request, Response
from hopx_proto._ops import OPERATIONS
from hopx_proto._ops._base import Binary, NoContent, Text

HERE = pathlib.Path(__file__).parent / "vectors"


def _load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(HERE.glob("*.json")):
        if path.name == "SCHEMA.json":
            continue
        for case in json.loads(path.read_text())["vectors"]:
            case["_file"] = path.name
            cases.append(case)
    return cases


CASES = _load()
REQUESTS = [c for c in CASES if "request" in c]
RESPONSES = [c for c in CASES if "response" in c]


def _id(case: dict[str, Any]) -> str:
    return f"{case['operation']}: {case.get('name', '')}"


def _body(spec: dict[str, Any]) -> bytes:
    if "json" in spec:
        return json.dumps(spec["json"]).encode()
    if "text" in spec:
        return str(spec["text"]).encode()
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    return b""


def build_args(op: Any, raw: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(op.args)
    names = {f.name for f in attrs.fields(op.args)}
    unknown = set(raw) - names
    assert not unknown, f"vector names unknown argument(s) {unknown}"
    kwargs = {}
    for key, value in raw.items():
        tp = hints[key]
        if tp is bytes or tp == (bytes | None):
            kwargs[key] = None if value is None else base64.b64decode(value)
        else:
            kwargs[key] = from_wire(tp, value, path=key)
    return op.args(**kwargs)


def _same_body(actual: bytes, spec: dict[str, Any]) -> None:
    if "json" in spec:
        assert loads(actual) == spec["json"]
    else:
        assert actual == _body(spec)


def test_every_operation_has_vectors() -> None:
    with_request = {c["operation"] for c in REQUESTS}
    with_response = {c["operation"] for c in RESPONSES}
    missing = sorted(set(OPERATIONS) - with_request) + sorted(
        name + " (response)" for name in set(OPERATIONS) - with_response
    )
    assert not missing, "operations without vectors: " + ", ".join(missing)
    unknown = {c["operation"] for c in CASES} - set(OPERATIONS)
    assert not unknown, f"vectors name unknown operations: {unknown}"


@pytest.mark.parametrize("case", REQUESTS, ids=_id)
def test_request_vector(case: dict[str, Any]) -> None:
    op = OPERATIONS[case["operation"]]
    spec = case["request"]
    if case.get("parse_error"):
        request = Request(
            spec["method"], spec["target"], list(spec.get("headers", {}).items()), _body(spec)
        )
        with pytest.raises(errors.RemoteProtocolError):
            op.parse(request)
        return
    args = build_args(op, case.get("args", {}))
    request = op.encode(args, auth=case.get("auth"))
    assert request.method == spec["method"]
    assert request.target == spec["target"]
    for name, value in spec.get("headers", {}).items():
        got = request.header(name)
        assert got is not None, f"header {name} missing"
        if name == "content-type" and value.startswith("multipart/form-data"):
            assert got.startswith("multipart/form-data; boundary=")
        else:
            assert got == value, name
    if "json" in spec or "text" in spec or "base64" in spec:
        if not (request.header("content-type") or "").startswith("multipart/"):
            _same_body(request.body or b"", spec)
    else:
        assert not request.body
    # The server side reads back exactly the arguments.
    assert op.parse(request) == args


def _result_json(op: Any, result: Any) -> Any:
    if isinstance(op.result, Binary):
        return base64.b64encode(result).decode()
    return to_wire(result)


@pytest.mark.parametrize("case", RESPONSES, ids=_id)
def test_response_vector(case: dict[str, Any]) -> None:
    op = OPERATIONS[case["operation"]]
    spec = case["response"]
    response = Response(spec["status"], list(spec.get("headers", {}).items()), _body(spec))
    if "error" in case:
        expected = case["error"]
        with pytest.raises(errors.HopxError) as info:
            op.decode(response)
        exc = info.value
        assert type(exc).__name__ == expected["type"]
        for key, attr in (
            ("status", "status_code"),
            ("code", "code"),
            ("request_id", "request_id"),
        ):
            if key in expected:
                assert getattr(exc, attr) == expected[key], key
        assert exc.operation == op.name
        return
    result = op.decode(response)
    if isinstance(op.result, Binary):
        assert result == base64.b64decode(case["result_base64"])
    elif isinstance(op.result, Text):
        assert result == case["result_text"]
    elif isinstance(op.result, NoContent):
        assert result is None
    else:
        assert _result_json(op, result) == case["result"]
    # The server side renders a reply that decodes to the same value.
    assert op.decode(op.render(result)) == result
