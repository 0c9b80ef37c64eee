"""Bad input is a typed 4xx, never a 500 and never a half-done change: a table of requests
that each broke something, on both planes, with the status and error code each must get.

After each refusal the server is asked whether anything changed (no sandbox created, no file
or variable written), and the sandbox still runs code at the end.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_server_support import RawWebSocket, api, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local import LocalServer
from hopx_local._runtime.launches import BASE_ENV_NAMES

pytestmark = pytest.mark.anyio

KEY = "bad-input-key"
HUGE = 10**400  # json.dumps spells it as its 401 digits
RUN = {"code": "print(1)", "language": "python"}
HOOK = "http://127.0.0.1:9/"
LONG = "/workspace/" + "n" * 300

#: (method, target, raw JSON body, status, error code) on the control plane.
CONTROL_CASES = [
    ("POST", "/v1/sandboxes", json.dumps({"template_name": "base", "timeout_seconds": HUGE}), 400,
     "validation_error"),
    ("POST", "/v1/sandboxes", '{"template_name": "base", "env_vars": {"A\\u0000B": "1"}}', 400,
     "validation_error"),
    ("POST", "/v1/sandboxes", '{"template_name": "base", "env_vars": {"A": "1\\u0000"}}', 400,
     "validation_error"),
    ("POST", "/v1/sandboxes", '{"template_name": "base", "env_vars": {"": "1"}}', 400,
     "validation_error"),
    ("POST", "/v1/sandboxes", '{"template_name": "base", "env_vars": {"A": "\\udcff"}}', 400,
     "validation_error"),
    ("POST", "/v1/sandboxes", '{"template_name": "b\\ud800"}', 400, "validation_error"),
    ("PUT", "/v1/sandboxes/{id}/timeout", json.dumps({"timeout_seconds": HUGE}), 400,
     "validation_error"),
    # An upload link's signature is compared as bytes, whatever text it holds.
    ("PUT", "/v1/templates/files/upload/0?signature=%C2%80", '{"": null}', 403, "forbidden"),
    ("PUT", "/v1/templates/files/upload/00ff?signature=%E2%82%AC", "x", 403, "forbidden"),
    # A refusal that quotes the bad text must still be a reply UTF-8 can carry.
    ("POST", "/v1/templates/build", '{"\\ud800": null}', 400, "unknown_field"),
]  # fmt: skip

#: (method, target, raw JSON body, status, error code) on the agent.
AGENT_CASES = [
    ("POST", "/files/write", json.dumps({"path": LONG, "content": "x"}), 400, "INVALID_PATH"),
    ("GET", f"/files/read?path={LONG}", "", 400, "INVALID_PATH"),
    ("GET", f"/files/list?path={LONG}", "", 400, "INVALID_PATH"),
    ("GET", f"/files/exists?path={LONG}", "", 400, "INVALID_PATH"),
    ("POST", "/files/mkdir", json.dumps({"path": LONG}), 400, "INVALID_PATH"),
    ("DELETE", f"/files/remove?path={LONG}", "", 400, "INVALID_PATH"),
    ("GET", f"/files/download?path={LONG}", "", 400, "INVALID_PATH"),
    ("POST", "/files/write", '{"path": "/workspace/\\ud800", "content": "x"}', 400,
     "INVALID_REQUEST"),
    ("POST", "/files/write", '{"path": "/workspace/s", "content": "\\udcff"}', 400,
     "INVALID_REQUEST"),
    ("POST", "/execute", json.dumps({**RUN, "timeout": HUGE}), 400,
     "INVALID_REQUEST"),
    ("POST", "/execute/background",
     json.dumps({**RUN, "timeout": HUGE}), 400, "INVALID_REQUEST"),
    ("POST", "/execute/async",
     json.dumps({**RUN, "timeout": HUGE, "callback_url": HOOK}), 400, "INVALID_REQUEST"),
    ("POST", "/commands/run", json.dumps({"command": "true", "timeout": HUGE}), 400,
     "INVALID_REQUEST"),
    ("POST", "/commands/background", json.dumps({"command": "true", "timeout": HUGE}), 400,
     "INVALID_REQUEST"),
    ("POST", "/execute", json.dumps({"code": "1", "language": "python", "env": {"A\x00": "1"}}),
     400, "INVALID_REQUEST"),
    ("PUT", "/env", json.dumps({"env_vars": {"A\x00B": "1"}}), 400, "INVALID_REQUEST"),
    ("PATCH", "/env", '{"env_vars": {"\\udcff": "1"}}', 400, "INVALID_REQUEST"),
    ("PUT", "/env", '{"\\ud800": null}', 400, "INVALID_REQUEST"),
    ("PUT", "/env", '{"env_vars": {"\\ud800": null}}', 400, "INVALID_REQUEST"),
    ("POST", "/commands/run", '{"command": "true", "\\udbff": 1}', 400, "INVALID_REQUEST"),
    ("PUT", "/env", json.dumps({"env_vars": {"BIG": "x" * 200_000}}), 400, "INVALID_REQUEST"),
    ("POST", "/commands/run", json.dumps({"command": "echo", "args": ["x" * 200_000]}), 400,
     "INVALID_REQUEST"),
    ("POST", "/commands/run", json.dumps({"command": "echo", "args": ["x" * 100_000] * 10}), 400,
     "INVALID_REQUEST"),
    ("POST", "/execute", json.dumps({"code": "1", "language": "python",
                                     "env": {f"V{i}": "x" * 100_000 for i in range(8)}}), 400,
     "INVALID_REQUEST"),
]  # fmt: skip


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


@pytest.fixture
async def local(tmp_path: pathlib.Path) -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key=KEY, state_dir=tmp_path / "state") as server:
        yield server


def _refusal(reply: Any, status: int, code: str, plane: str) -> str | None:
    """What is wrong with ``reply`` as the expected refusal (``None`` if nothing)."""
    if reply.status != status:
        return f"status {reply.status}: {(reply.body or b'')[:200]!r}"
    body = doc(reply)
    found = body["error"]["code"] if plane == "control" else body["code"]
    if found != code:
        return f"code {found}: {body}"
    return None


async def test_control_plane_refusals(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    problems = []
    for method, target, body, status, code in CONTROL_CASES:
        reply = await call(
            local.base_url,
            method,
            target.replace("{id}", sandbox["id"]),
            headers=[*api(KEY), ("content-type", "application/json")],
            body=body.encode(),
        )
        problem = _refusal(reply, status, code, "control")
        if problem:
            problems.append((method, target, body[:60], problem))
    assert problems == []
    listed = doc(await call(local.base_url, "GET", "/v1/sandboxes", headers=api(KEY)))
    assert [s["id"] for s in listed["data"]] == [sandbox["id"]]  # nothing half-created
    got = doc(await call(local.base_url, "GET", f"/v1/sandboxes/{sandbox['id']}", headers=api(KEY)))
    assert got["timeout_seconds"] is None


async def test_agent_refusals(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    host, token = sandbox["public_host"], bearer(sandbox["auth_token"])
    problems = []
    for method, target, body, status, code in AGENT_CASES:
        reply = await call(
            host,
            method,
            target,
            headers=[*token, ("content-type", "application/json")],
            body=body.encode(),
        )
        problem = _refusal(reply, status, code, "agent")
        if problem:
            problems.append((method, target[:40], body[:60], problem))
    assert problems == []
    listing = doc(await call(host, "GET", "/files/list?path=/workspace", headers=token))
    assert listing["files"] == []  # nothing half-written
    env = doc(await call(host, "GET", "/env", headers=token))
    assert api_vars(env["env_vars"]) == {}
    run = await call(
        host,
        "POST",
        "/execute",
        headers=token,
        json_body={"code": "print('fine')", "language": "python", "timeout": 30},
    )
    assert doc(run)["stdout"] == "fine\n"


async def test_stream_refusals(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    token = sandbox["auth_token"]
    for path, first in (
        ("/execute/stream", {"type": "execute", **RUN, "timeout": HUGE}),
        ("/commands/stream", {"type": "run", "command": "echo", "args": ["x" * 200_000]}),
        ("/execute/stream", {"type": "execute", **RUN, "timeout": 10, "code": "'\udcff'"}),
    ):
        ws = await RawWebSocket.connect(sandbox["public_host"], path, token)
        try:
            await ws.send_json(first)
            messages = await ws.messages_until_close()
        finally:
            await ws.close()
        errors = [m for m in messages if m.get("type") == "error"]
        assert errors, (path, messages)
        assert errors[0]["code"] == "INVALID_REQUEST", messages
        assert "Invalid request: /" not in errors[0]["error"], messages  # refused for its content
        assert not any(m.get("type") in ("stdout", "result") for m in messages), messages


async def test_stream_refusals_quoting_the_request_close_with_their_code(
    local: LocalServer,
) -> None:
    # The close reason is at most 123 bytes of UTF-8: a refusal quoting wide or invalid text
    # still sends its close frame (1008), cut at a character, never a dropped connection.
    sandbox = await create_sandbox(local.base_url, KEY)
    for first in (
        {"type": "execute", **RUN, "env": {"é" * 80: "\udcff"}},
        {"type": "é" * 80, **RUN},
        {"type": "\ud800" * 40, **RUN},
        {"type": "x" * 20 + "\udfff", **RUN},
    ):
        ws = await RawWebSocket.connect(
            sandbox["public_host"], "/execute/stream", sandbox["auth_token"]
        )
        try:
            await ws.send_json(first)
            messages = await ws.messages_until_close()
        finally:
            await ws.close()
        assert [m["code"] for m in messages if m.get("type") == "error"] == ["INVALID_REQUEST"]
        assert ws.closed is not None
        assert ws.closed.code == 1008, (first["type"][:5], ws.closed)
        assert len(ws.closed.reason.encode()) <= 123
