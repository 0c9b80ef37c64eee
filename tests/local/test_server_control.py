"""Control-plane flows over real sockets: create, describe, list, lifecycle, expiry, limits,
templates, and a restart on the same state directory."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import pathlib
import shutil
from collections.abc import AsyncIterator

import anyio
import pytest
from test_server_support import api, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local import LocalServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def local() -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key="test-key", max_sandboxes=3) as server:
        yield server


def _rfc3339_z(text: str, *, precise: bool = False) -> _dt.datetime:
    """An RFC 3339 UTC time: whole seconds, or (``precise``) with microseconds."""
    assert text.endswith("Z"), text
    if precise:
        assert len(text.rsplit(".", 1)[-1]) == len("123456Z"), text
    else:
        assert "." not in text, text
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _jwt_exp(token: str) -> float:
    body = token.split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["exp"]
    assert isinstance(exp, int | float)
    return float(exp)


async def test_create_reply_has_what_clients_need(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, local.api_key, timeout_seconds=600)
    assert sandbox["status"] == "running"
    assert sandbox["public_host"].startswith("http://127.0.0.1:")
    assert isinstance(sandbox["organization_id"], int)
    assert isinstance(sandbox["template_id"], str)
    assert set(sandbox["resources"]) >= {"vcpu", "memory_mb", "disk_mb"}
    assert sandbox["auth_token"].count(".") == 2
    expires = _rfc3339_z(sandbox["token_expires_at"], precise=True)
    assert expires > _dt.datetime.now(_dt.UTC)
    # The token itself expires at the time the reply gives.
    assert _jwt_exp(sandbox["auth_token"]) == pytest.approx(expires.timestamp(), abs=1e-5)
    until = _rfc3339_z(sandbox["expires_at"], precise=True) - _dt.datetime.now(_dt.UTC)
    assert 590 <= until.total_seconds() <= 601
    got = await call(
        local.base_url, "GET", f"/v1/sandboxes/{sandbox['id']}", headers=api(local.api_key)
    )
    assert got.status == 200
    assert doc(got)["public_host"] == sandbox["public_host"]
    health = await call(sandbox["public_host"], "GET", "/health")
    assert doc(health)["status"] == "healthy"


async def test_template_by_id_and_unknown_template(local: LocalServer) -> None:
    by_id = await create_sandbox(local.base_url, local.api_key, template_name=None, template_id="2")
    assert by_id["template_name"] == "base"
    unknown = await call(
        local.base_url,
        "POST",
        "/v1/sandboxes",
        headers=api(local.api_key),
        json_body={"template_name": "nope"},
    )
    assert unknown.status == 404
    assert doc(unknown)["error"]["code"] == "template_not_found"
    message = doc(unknown)["error"]["message"]
    assert message.startswith("Template 'nope' not found; available templates: ")
    assert "code-interpreter, base" in message


@pytest.mark.skipif(shutil.which("go") is not None, reason="Go is installed here")
async def test_go_template_is_refused_honestly_without_go(local: LocalServer) -> None:
    for method, target, body in (
        ("POST", "/v1/sandboxes", {"template_name": "go"}),
        ("GET", "/v1/templates/go", None),
    ):
        response = await call(
            local.base_url, method, target, headers=api(local.api_key), json_body=body
        )
        assert response.status == 404
        error = doc(response)["error"]
        assert error["code"] == "template_not_found"
        assert "Go (go), which is not installed on this machine" in error["message"]
        assert "code-interpreter" in error["message"]
        assert "go" not in error["details"]["available_templates"]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
async def test_nodejs_template_runs_javascript(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, local.api_key, template_name="nodejs")
    assert sandbox["template_name"] == "nodejs"
    for language, code in (
        ("javascript", "console.log('Hello from', 'nodejs')"),
        ("python", "print('Hello from', 'nodejs')"),
    ):
        run = await call(
            sandbox["public_host"],
            "POST",
            "/execute",
            headers=bearer(sandbox["auth_token"]),
            json_body={"code": code, "language": language, "timeout": 30},
        )
        assert doc(run)["stdout"] == "Hello from nodejs\n", run.body


async def test_templates_list_and_get(local: LocalServer) -> None:
    listed = doc(await call(local.base_url, "GET", "/v1/templates", headers=api(local.api_key)))
    names = {t["name"] for t in listed["data"]}
    assert {"code-interpreter", "base"} <= names
    for item in listed["data"]:
        assert isinstance(item["id"], str)
        assert item["display_name"]
        assert isinstance(item["features"], list)
        assert item["is_active"] is True
    one = await call(local.base_url, "GET", "/v1/templates/base", headers=api(local.api_key))
    assert doc(one)["name"] == "base"
    missing = await call(local.base_url, "GET", "/v1/templates/zzz", headers=api(local.api_key))
    assert missing.status == 404


async def test_pagination_walks_every_sandbox(local: LocalServer) -> None:
    made = {(await create_sandbox(local.base_url, local.api_key))["id"] for _ in range(3)}
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        target = "/v1/sandboxes?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = doc(await call(local.base_url, "GET", target, headers=api(local.api_key)))
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        assert page["next_cursor"]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(made)


async def test_limit_reached(local: LocalServer) -> None:
    for _ in range(3):
        await create_sandbox(local.base_url, local.api_key)
    refused = await call(
        local.base_url,
        "POST",
        "/v1/sandboxes",
        headers=api(local.api_key),
        json_body={"template_name": "base"},
    )
    assert refused.status == 403
    body = doc(refused)
    assert "Sandbox limit reached" in body["error"]["message"]
    assert body["error"]["details"]["limit"] == 3
    assert body["error"]["details"]["current"] == 3


async def test_lifecycle(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, local.api_key)
    sid = sandbox["id"]
    key = api(local.api_key)

    async def status() -> str:
        return str(
            doc(await call(local.base_url, "GET", f"/v1/sandboxes/{sid}", headers=key))["status"]
        )

    assert (
        await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/pause", headers=key)
    ).status == 200
    assert await status() == "paused"
    paused = await call(
        sandbox["public_host"],
        "POST",
        "/execute",
        headers=bearer(sandbox["auth_token"]),
        json_body={"code": "print(1)", "language": "python"},
    )
    assert paused.status == 409
    assert doc(paused)["code"] == "SANDBOX_PAUSED"
    await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/resume", headers=key)
    assert await status() == "running"
    await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/stop", headers=key)
    assert await status() == "stopped"
    started = doc(await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/start", headers=key))
    assert started["status"] == "running"
    health = await call(started["public_host"], "GET", "/health")
    assert health.status == 200
    refreshed = doc(
        await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/token/refresh", headers=key)
    )
    assert set(refreshed) >= {"auth_token", "token_expires_at"}
    # Two refreshes, however close, are told apart by their expiry times.
    again = doc(
        await call(local.base_url, "POST", f"/v1/sandboxes/{sid}/token/refresh", headers=key)
    )
    first = _rfc3339_z(refreshed["token_expires_at"], precise=True)
    second = _rfc3339_z(again["token_expires_at"], precise=True)
    assert second > first
    assert _jwt_exp(again["auth_token"]) == pytest.approx(second.timestamp(), abs=1e-5)
    timeout = await call(
        local.base_url,
        "PUT",
        f"/v1/sandboxes/{sid}/timeout",
        headers=key,
        json_body={"timeout_seconds": 900},
    )
    assert doc(timeout)["timeout_seconds"] == 900
    gone = await call(local.base_url, "DELETE", f"/v1/sandboxes/{sid}", headers=key)
    assert gone.status == 200
    assert (await call(local.base_url, "GET", f"/v1/sandboxes/{sid}", headers=key)).status == 404
    # The agent's port is closed.
    with pytest.raises(OSError):
        await call(started["public_host"], "GET", "/health")


async def test_expired_sandbox_is_removed(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, local.api_key, timeout_seconds=1)
    with anyio.fail_after(10):
        while True:
            got = await call(
                local.base_url, "GET", f"/v1/sandboxes/{sandbox['id']}", headers=api(local.api_key)
            )
            if got.status == 404:
                break
            await anyio.sleep(0.2)


async def test_restart_keeps_sandboxes_and_files(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    async with hopx_local.serve(api_key="k", state_dir=state) as first:
        sandbox = await create_sandbox(first.base_url, "k")
        wrote = await call(
            sandbox["public_host"],
            "POST",
            "/files/write",
            headers=bearer(sandbox["auth_token"]),
            json_body={"path": "/workspace/keep.txt", "content": "still here"},
        )
        assert wrote.status == 200, wrote.body
    async with hopx_local.serve(api_key="k", state_dir=state) as second:
        listed = doc(await call(second.base_url, "GET", "/v1/sandboxes", headers=api("k")))
        [found] = [s for s in listed["data"] if s["id"] == sandbox["id"]]
        assert found["status"] == "stopped"
        started = doc(
            await call(
                second.base_url, "POST", f"/v1/sandboxes/{sandbox['id']}/start", headers=api("k")
            )
        )
        token = doc(
            await call(
                second.base_url,
                "POST",
                f"/v1/sandboxes/{sandbox['id']}/token/refresh",
                headers=api("k"),
            )
        )["auth_token"]
        read = await call(
            started["public_host"],
            "GET",
            "/files/read?path=/workspace/keep.txt",
            headers=bearer(token),
        )
        assert doc(read)["content"] == "still here"


async def test_generated_key_survives_restart(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOPX_API_KEY", raising=False)
    async with hopx_local.serve(state_dir=tmp_path) as first:
        key = first.api_key
        assert key.startswith("sk_local_")
    async with hopx_local.serve(state_dir=tmp_path) as second:
        assert second.api_key == key
    async with hopx_local.serve() as fresh:
        assert fresh.api_key != key


async def test_list_filters_by_status_and_region(local: LocalServer) -> None:
    key = api(local.api_key)
    east = await create_sandbox(local.base_url, local.api_key, region="us-east")
    plain = await create_sandbox(local.base_url, local.api_key)
    await call(local.base_url, "POST", f"/v1/sandboxes/{plain['id']}/pause", headers=key)

    async def ids(query: str) -> set[str]:
        page = doc(await call(local.base_url, "GET", f"/v1/sandboxes?{query}", headers=key))
        return {s["id"] for s in page["data"]}

    assert await ids("region=us-east") == {east["id"]}
    assert await ids("status=paused") == {plain["id"]}
    assert await ids("status=running") == {east["id"]}
