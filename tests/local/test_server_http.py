"""The serving loop and both envelopes: bad input, limits, routing, auth, request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from test_server_support import WAIT, RawHTTP, api, call, doc

import hopx_local
from hopx_local import LocalServer, ServerLimits

pytestmark = pytest.mark.anyio


@pytest.fixture
async def local() -> AsyncIterator[LocalServer]:
    limits = ServerLimits(max_body_size=64 * 1024, idle_timeout=5.0, read_timeout=5.0)
    async with hopx_local.serve(api_key="test-key", limits=limits) as server:
        yield server


def _control_error(body: object, code: str) -> None:
    assert isinstance(body, dict)
    assert body["code"] == code
    err = body["error"]
    assert err["code"] == code
    assert err["message"]
    assert err["request_id"] == body["request_id"]
    assert isinstance(err["details"], dict)


async def test_health_needs_no_key_and_has_request_id(local: LocalServer) -> None:
    response = await call(local.base_url, "GET", "/health")
    assert response.status == 200
    assert doc(response)["status"] == "ok"
    assert response.header("x-request-id")


async def test_missing_and_wrong_api_key(local: LocalServer) -> None:
    missing = await call(local.base_url, "GET", "/v1/sandboxes")
    assert missing.status == 401
    _control_error(doc(missing), "unauthorized")
    assert doc(missing)["request_id"] == missing.header("x-request-id")
    wrong = await call(local.base_url, "GET", "/v1/sandboxes", headers=api("nope"))
    assert wrong.status == 401
    # A Bearer API key counts on template routes only (the build flow sends it that way).
    bearer = [("authorization", "Bearer test-key")]
    assert (await call(local.base_url, "GET", "/v1/templates", headers=bearer)).status == 200
    assert (await call(local.base_url, "GET", "/v1/sandboxes", headers=bearer)).status == 401


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (b"{not json", "invalid_json", "JSON"),
        (b'{"template_name": 5}', "validation_error", "template_name"),
        (b'{"template_name": "base", "bogus": 1}', "unknown_field", "bogus"),
        (b"{}", "validation_error", "template"),
        (b'{"template_name": "base", "timeout_seconds": "10"}', "validation_error", "timeout"),
        (b"[1, 2]", "validation_error", "object"),
    ],
)
async def test_bad_create_bodies(local: LocalServer, body: bytes, code: str, needle: str) -> None:
    response = await call(
        local.base_url,
        "POST",
        "/v1/sandboxes",
        headers=[*api(local.api_key), ("content-type", "application/json")],
        body=body,
    )
    assert response.status == 400, response.body
    _control_error(doc(response), code)
    assert needle in doc(response)["error"]["message"]


async def test_missing_field_on_set_timeout(local: LocalServer) -> None:
    response = await call(
        local.base_url, "PUT", "/v1/sandboxes/abc/timeout", headers=api(local.api_key), json_body={}
    )
    assert response.status == 400
    _control_error(doc(response), "missing_field")


async def test_unknown_path_and_wrong_method(local: LocalServer) -> None:
    missing = await call(local.base_url, "GET", "/v2/nothing", headers=api(local.api_key))
    assert missing.status == 404
    _control_error(doc(missing), "not_found")
    wrong = await call(local.base_url, "PATCH", "/v1/sandboxes", headers=api(local.api_key))
    assert wrong.status == 405
    _control_error(doc(wrong), "method_not_allowed")
    assert set(wrong.header("allow").split(", ")) == {"GET", "POST"}


async def test_oversized_body_is_413(local: LocalServer) -> None:
    big = b'{"template_name": "' + b"x" * 70_000 + b'"}'
    response = await call(
        local.base_url,
        "POST",
        "/v1/sandboxes",
        headers=[*api(local.api_key), ("content-type", "application/json")],
        body=big,
    )
    assert response.status == 413
    _control_error(doc(response), "payload_too_large")


async def test_oversized_chunked_body_is_413(local: LocalServer) -> None:
    client = await RawHTTP.connect(local.base_url)
    try:
        head = (
            b"POST /v1/sandboxes HTTP/1.1\r\nhost: x\r\nx-api-key: test-key\r\n"
            b"transfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
        )
        chunk = b"x" * 40_000
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        await client.send_bytes(head + piece + piece)
        response = await client.read_response()
        assert response.status == 413
        assert response.header("connection") == "close"
    finally:
        await client.aclose()


async def test_garbage_request_line_gets_400_and_close(local: LocalServer) -> None:
    client = await RawHTTP.connect(local.base_url)
    try:
        await client.send_bytes(b"THIS IS NOT HTTP\r\n\r\n")
        response = await client.read_response()
        assert response.status == 400
        assert doc(response)["error"]["code"] == "validation_error"
        assert response.header("x-request-id")
    finally:
        await client.aclose()


async def test_keep_alive_serves_many_requests(local: LocalServer) -> None:
    client = await RawHTTP.connect(local.base_url)
    try:
        ids = set()
        for _ in range(5):
            response = await client.request("GET", "/v1/templates", headers=api(local.api_key))
            assert response.status == 200
            ids.add(response.header("x-request-id"))
        assert len(ids) == 5
    finally:
        await client.aclose()


async def test_idle_connection_is_closed() -> None:
    limits = ServerLimits(idle_timeout=0.3)
    async with hopx_local.serve(api_key="k", limits=limits) as server:
        client = await RawHTTP.connect(server.base_url)
        try:
            with anyio.fail_after(WAIT):
                try:
                    data = await client.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
            assert data == b""
        finally:
            await client.aclose()


async def test_template_build_endpoints_answer_and_refuse_bad_input(local: LocalServer) -> None:
    bearer = [("authorization", "Bearer test-key")]
    link = await call(
        local.base_url,
        "POST",
        "/v1/templates/files/upload-link",
        headers=bearer,
        json_body={"files_hash": "ab", "content_length": 1},
    )
    assert link.status == 200, link.body
    assert doc(link)["present"] is False
    assert doc(link)["upload_url"].startswith(local.base_url + "/v1/templates/files/upload/ab?")
    for method, path, body, status, code in [
        ("GET", "/v1/templates/build/b1/status", None, 404, "not_found"),
        ("GET", "/v1/templates/build/b1/logs?offset=0", None, 404, "not_found"),
        ("PUT", "/v1/templates/files/upload/ab?signature=forged", None, 403, "forbidden"),
        (
            "POST",
            "/v1/templates/files/upload-link",
            {"files_hash": "ab", "content_length": 1 << 40},
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/templates/build",
            {"name": "base", "from_image": "python:3.11", "steps": []},
            409,
            "template_exists",
        ),
        (
            "POST",
            "/v1/templates/build",
            {"name": "../x", "from_image": "python:3.11", "steps": []},
            400,
            "validation_error",
        ),
    ]:
        response = await call(local.base_url, method, path, headers=bearer, json_body=body)
        assert response.status == status, (path, response.body)
        _control_error(doc(response), code)


async def test_oversized_head_is_refused(local: LocalServer) -> None:
    client = await RawHTTP.connect(local.base_url)
    try:
        await client.send_bytes(
            b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n"
        )
        response = await client.read_response()
        assert response.status == 431
        assert doc(response)["error"]["code"] == "headers_too_large"
    finally:
        await client.aclose()


async def test_port_in_use_is_an_error(local: LocalServer) -> None:
    with pytest.raises(OSError):
        async with hopx_local.serve(port=local.port):
            pass


async def test_errors_in_the_block_are_not_wrapped() -> None:
    async def use_and_fail() -> None:
        async with hopx_local.serve(api_key="k") as server:
            assert server.warning is None or "WARNING" in server.warning
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await use_and_fail()
