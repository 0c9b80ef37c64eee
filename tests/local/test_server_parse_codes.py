"""The error code of a 400 reply comes from what the parser found wrong, never from the words
of its message: a value or a field named ``missing`` is not a missing field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from test_server_support import api, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local import LocalServer
from hopx_local._server.agent import PARSE_ERROR_CODES as AGENT_CODES
from hopx_local._server.control import PARSE_ERROR_CODES as CONTROL_CODES
from hopx_proto._codec import from_wire, loads
from hopx_proto._errors import RemoteProtocolError, StreamEndedError
from hopx_proto._http import Request
from hopx_proto._multipart import MultipartDecoder, parse_header_params
from hopx_proto._ops import OPERATIONS

pytestmark = pytest.mark.anyio

KEY = "k"
JSON = ("content-type", "application/json")


# ---------------------------------------------------------------------------------------------
# The kind on the exception


def test_kind_is_keyword_only_optional_and_not_in_the_message() -> None:
    plain = RemoteProtocolError("bad", status_hint=413, close_code=1009)
    assert plain.kind is None
    assert (plain.status_hint, plain.close_code, plain.message) == (413, 1009, "bad")
    typed = RemoteProtocolError("field x is absent", kind="missing_field", operation="op")
    assert typed.kind == "missing_field"
    assert "missing_field" not in str(typed)
    assert str(typed) == "op: field x is absent"
    with pytest.raises(TypeError):
        RemoteProtocolError("bad", "missing_field")  # type: ignore[misc]
    assert StreamEndedError("ended").kind is None


@attrs.frozen
class _Item:
    size: int


def test_the_codec_and_the_multipart_decoder_say_what_was_wrong() -> None:
    with pytest.raises(RemoteProtocolError) as broken:
        loads(b'{"missing', what="request body")
    assert broken.value.kind == "invalid_json"
    with pytest.raises(RemoteProtocolError) as absent:
        from_wire(_Item, {})
    assert absent.value.kind == "missing_field"
    with pytest.raises(RemoteProtocolError) as typed:
        from_wire(_Item, {"size": "missing"})
    assert typed.value.kind == "invalid_value"
    assert "missing" in typed.value.message
    with pytest.raises(RemoteProtocolError) as gap:
        parse_header_params('form-data; name*0="a"; name*2="b"')
    assert gap.value.kind == "malformed_body"
    assert "missing" in gap.value.message
    decoder = MultipartDecoder("multipart/form-data; boundary=b")
    decoder.receive_data(b"--b\r\nX: y\r\n\r\nz\r\n--b--\r\n")
    with pytest.raises(RemoteProtocolError) as undisposed:
        decoder.next_event()
    assert undisposed.value.kind == "malformed_body"


def _parse_kind(name: str, target: str, body: bytes, method: str) -> str | None:
    request = Request(method, target, ((b"content-type", b"application/json"),), body)
    with pytest.raises(RemoteProtocolError) as caught:
        OPERATIONS[name].parse(request)
    return caught.value.kind


def test_operation_parse_sets_the_kind() -> None:
    kind = _parse_kind
    assert kind("execute.run", "/execute", b"{oops", "POST") == "invalid_json"
    assert kind("execute.run", "/execute", b'{"language": "python"}', "POST") == "missing_field"
    assert kind("execute.run", "/execute", b'{"code": ["missing"]}', "POST") == "invalid_value"
    assert kind("execute.run", "/execute", b'{"code": "1", "missing": 1}', "POST") == (
        "unknown_field"
    )
    assert kind("execute.run", "/execute", b"[1]", "POST") == "invalid_value"
    assert kind("files.read", "/files/read", b"", "GET") == "missing_field"
    assert kind("files.read", "/files/read?path=missing", b"", "GET") == "invalid_value"
    assert kind("sandboxes.list", "/v1/sandboxes?limit=missing", b"", "GET") == "invalid_value"
    assert kind("sandboxes.create", "/v1/sandboxes", b'{"missing": 1}', "POST") == ("unknown_field")


def test_every_kind_has_a_code_on_both_planes() -> None:
    assert AGENT_CODES == {"invalid_json": "INVALID_JSON", "missing_field": "MISSING_PARAMETER"}
    assert CONTROL_CODES == {
        "invalid_json": "invalid_json",
        "missing_field": "missing_field",
        "unknown_field": "unknown_field",
    }


# ---------------------------------------------------------------------------------------------
# Against the emulator


@pytest.fixture
async def local() -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key=KEY) as server:
        yield server


@pytest.mark.parametrize(
    ("method", "target", "body", "code"),
    [
        ("POST", "/v1/sandboxes", b'{"template_name": "missing', "invalid_json"),
        ("POST", "/v1/sandboxes", b'{"template_name": ["missing"]}', "validation_error"),
        (
            "POST",
            "/v1/sandboxes",
            b'{"template_name": "b", "timeout_seconds": "missing"}',
            "validation_error",
        ),
        ("POST", "/v1/sandboxes", b'{"template_name": "base", "missing": 1}', "unknown_field"),
        ("PUT", "/v1/sandboxes/abc/timeout", b"{}", "missing_field"),
        ("PUT", "/v1/sandboxes/abc/timeout", b'{"timeout_seconds": "missing"}', "validation_error"),
        (
            "PUT",
            "/v1/sandboxes/abc/timeout",
            b'{"timeout_seconds": 5, "missing": 1}',
            "unknown_field",
        ),
        ("GET", "/v1/sandboxes?limit=0", b"", "validation_error"),
    ],
)
async def test_control_plane_codes(
    local: LocalServer, method: str, target: str, body: bytes, code: str
) -> None:
    headers = [*api(KEY), JSON] if body else api(KEY)
    response = await call(local.base_url, method, target, headers=headers, body=body)
    assert response.status == 400, response.body
    reply = doc(response)
    assert (reply["code"], reply["error"]["code"]) == (code, code), reply
    if b"missing" in body and code != "invalid_json":
        # The message names the offending value or field, so it says "missing" too.
        assert "missing" in reply["error"]["message"], reply


@pytest.fixture
async def sandbox(local: LocalServer) -> dict[str, Any]:
    return await create_sandbox(local.base_url, KEY)


async def _agent(sandbox: dict[str, Any], method: str, target: str, **kw: Any) -> Any:
    headers = [*bearer(sandbox["auth_token"]), *kw.pop("headers", [])]
    response = await call(sandbox["public_host"], method, target, headers=headers, **kw)
    assert response.status == 400, response.body
    return doc(response)


@pytest.mark.parametrize(
    ("json_body", "code"),
    [
        ({"language": "python"}, "MISSING_PARAMETER"),
        ({"code": ["missing"]}, "INVALID_REQUEST"),
        ({"code": "1", "missing": 1}, "INVALID_REQUEST"),
        ({"code": "1", "timeout": "missing"}, "INVALID_REQUEST"),
    ],
)
async def test_agent_body_codes(sandbox: dict[str, Any], json_body: Any, code: str) -> None:
    body = await _agent(sandbox, "POST", "/execute", json_body=json_body)
    assert body["code"] == code, body
    if code == "INVALID_REQUEST":
        assert "missing" in body["error"]


async def test_agent_malformed_json(sandbox: dict[str, Any]) -> None:
    body = await _agent(sandbox, "POST", "/execute", headers=[JSON], body=b'{"missing')
    assert body["code"] == "INVALID_JSON", body


async def test_agent_query_codes(sandbox: dict[str, Any]) -> None:
    assert (await _agent(sandbox, "GET", "/files/read"))["code"] == "MISSING_PARAMETER"
    relative = await _agent(sandbox, "GET", "/files/read?path=missing")
    assert relative["code"] == "INVALID_REQUEST", relative


async def test_agent_multipart_gap_is_not_a_missing_parameter(sandbox: dict[str, Any]) -> None:
    # A name split into continuations 0 and 2: the decoder says continuations are missing,
    # which is a malformed body, not an absent parameter.
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name*0="pa"; name*2="th"\r\n\r\n'
        b"/workspace/x\r\n"
        b"--b--\r\n"
    )
    reply = await _agent(
        sandbox,
        "POST",
        "/files/upload",
        headers=[("content-type", "multipart/form-data; boundary=b")],
        body=body,
    )
    assert reply["code"] == "INVALID_REQUEST", reply
    assert "missing" in reply["error"]
