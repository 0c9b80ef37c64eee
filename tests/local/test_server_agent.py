"""A sandbox's agent over real sockets: auth, execution, commands, processes, files, env,
metrics, the refusals, and the execution webhook."""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import pytest
from test_server_support import RawHTTP, api, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local import LocalServer
from hopx_local._runtime.kernel import kernel_support
from hopx_local._runtime.launches import BASE_ENV_NAMES
from hopx_proto._http import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_proto._models.agent import WEBHOOK_SIGNATURE_HEADER, verify_webhook

pytestmark = pytest.mark.anyio


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


@pytest.fixture
async def sandbox() -> AsyncIterator[dict[str, Any]]:
    async with hopx_local.serve(api_key="k") as server:
        reply = await create_sandbox(server.base_url, "k")
        reply["server"] = server
        yield reply


async def agent(sb: dict[str, Any], method: str, target: str, **kw: Any) -> Response:
    headers = [*bearer(sb["auth_token"]), *kw.pop("headers", [])]
    return await call(sb["public_host"], method, target, headers=headers, **kw)


def _agent_error(body: Any, code: str) -> None:
    assert body["code"] == code, body
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["request_id"]
    assert body["timestamp"].endswith("Z")
    assert isinstance(body["details"], dict)


async def test_open_paths_and_token_checks(sandbox: dict[str, Any]) -> None:
    host = sandbox["public_host"]
    for path in ("/health", "/info", "/ping", "/system", "/"):
        assert (await call(host, "GET", path)).status == 200, path
    missing = await call(host, "GET", "/env")
    assert missing.status == 401
    _agent_error(doc(missing), "TOKEN_INVALID")
    garbage = await call(host, "GET", "/env", headers=bearer("not.a.jwt"))
    assert garbage.status == 401
    assert (await agent(sandbox, "GET", "/env")).status == 200


async def test_foreign_and_expired_tokens() -> None:
    async with hopx_local.serve(api_key="k", token_lifetime=1) as server:
        one = await create_sandbox(server.base_url, "k")
        two = await create_sandbox(server.base_url, "k")
        foreign = await call(one["public_host"], "GET", "/env", headers=bearer(two["auth_token"]))
        assert foreign.status == 401
        _agent_error(doc(foreign), "TOKEN_INVALID")
        await anyio.sleep(1.1)
        expired = await call(one["public_host"], "GET", "/env", headers=bearer(one["auth_token"]))
        assert expired.status == 401
        _agent_error(doc(expired), "TOKEN_EXPIRED")


async def test_health_and_info(sandbox: dict[str, Any]) -> None:
    health = doc(await call(sandbox["public_host"], "GET", "/health"))
    assert health["status"] == "healthy"
    assert "python" in health["features"]["languages"]
    info = doc(await call(sandbox["public_host"], "GET", "/info"))
    assert info["isolation"] in ("bwrap", "none")
    assert info["vm_id"] == sandbox["id"]
    if info["isolation"] == "none":
        assert info["warning"]


async def test_execute_with_env_workdir_and_timeout(sandbox: dict[str, Any]) -> None:
    code = "import os\nprint(os.environ['GREETING'], os.getcwd())\n"
    await agent(sandbox, "POST", "/files/mkdir", json_body={"path": "/workspace/sub"})
    reply = await agent(
        sandbox,
        "POST",
        "/execute",
        json_body={
            "code": code,
            "language": "python",
            "env": {"GREETING": "hello"},
            "workdir": "/workspace/sub",
            "timeout": 30,
        },
    )
    assert reply.status == 200, reply.body
    body = doc(reply)
    assert body["stdout"].split() == ["hello", "/workspace/sub"]
    assert body["exit_code"] == 0
    assert body["success"] is True
    failed = doc(
        await agent(sandbox, "POST", "/execute", json_body={"code": "import sys; sys.exit(3)"})
    )
    assert failed["exit_code"] == 3
    assert failed["success"] is False
    slow = doc(
        await agent(
            sandbox,
            "POST",
            "/execute",
            json_body={"code": "import time; time.sleep(30)", "timeout": 1},
        )
    )
    assert slow["success"] is False
    assert slow["timed_out"] is True


async def test_bad_agent_input(sandbox: dict[str, Any]) -> None:
    hdr = [("content-type", "application/json")]
    broken = await agent(sandbox, "POST", "/execute", headers=hdr, body=b"{oops")
    assert broken.status == 400
    _agent_error(doc(broken), "INVALID_JSON")
    missing = await agent(sandbox, "POST", "/execute", json_body={"language": "python"})
    assert missing.status == 400
    _agent_error(doc(missing), "MISSING_PARAMETER")
    typed = await agent(sandbox, "POST", "/execute", json_body={"code": 5})
    assert typed.status == 400
    _agent_error(doc(typed), "INVALID_REQUEST")
    extra = await agent(sandbox, "POST", "/execute", json_body={"code": "1", "nope": 1})
    assert extra.status == 400
    lang = await agent(sandbox, "POST", "/execute", json_body={"code": "1", "language": "cobol"})
    assert lang.status == 400
    _agent_error(doc(lang), "INVALID_REQUEST")
    wrong = await agent(sandbox, "PUT", "/execute")
    assert wrong.status == 405
    _agent_error(doc(wrong), "METHOD_NOT_ALLOWED")
    nowhere = await agent(sandbox, "GET", "/no/such/path")
    assert nowhere.status == 404


async def test_commands_and_background_processes(sandbox: dict[str, Any]) -> None:
    run = doc(
        await agent(
            sandbox,
            "POST",
            "/commands/run",
            json_body={
                "command": "bash",
                "args": ["-c", "echo out; echo err >&2; exit 4"],
                "timeout": 30,
            },
        )
    )
    assert (run["stdout"], run["stderr"], run["exit_code"]) == ("out\n", "err\n", 4)
    started = doc(
        await agent(
            sandbox,
            "POST",
            "/execute/background",
            json_body={
                "code": "import time; time.sleep(60)",
                "language": "python",
                "name": "sleeper",
            },
        )
    )
    pid = started["process_id"]
    listed = doc(await agent(sandbox, "GET", "/execute/processes"))
    [proc] = [p for p in listed["processes"] if p["process_id"] == pid]
    assert proc["status"] == "running"
    killed = await agent(sandbox, "DELETE", f"/execute/kill?process_id={pid}")
    assert killed.status == 200, killed.body
    again = await agent(sandbox, "POST", f"/execute/kill/{pid}")
    assert again.status in (200, 404)
    second = doc(
        await agent(
            sandbox,
            "POST",
            "/commands/background",
            json_body={
                "command": "bash",
                "args": ["-c", "sleep 60"],
            },
        )
    )
    assert (await agent(sandbox, "POST", f"/processes/{second['process_id']}/kill")).status == 200
    unknown = await agent(sandbox, "POST", "/processes/nope/kill")
    assert unknown.status == 404
    _agent_error(doc(unknown), "PROCESS_NOT_FOUND")
    system = doc(await agent(sandbox, "GET", "/processes"))
    assert isinstance(system["processes"], list)


async def test_files(sandbox: dict[str, Any]) -> None:
    path = "/workspace/dir/a b&c.txt"
    wrote = await agent(sandbox, "POST", "/files/write", json_body={"path": path, "content": "hi"})
    assert wrote.status == 200, wrote.body
    quoted = "/files/read?path=%2Fworkspace%2Fdir%2Fa%20b%26c.txt"
    assert doc(await agent(sandbox, "GET", quoted))["content"] == "hi"
    raw = bytes(range(256))
    await agent(
        sandbox,
        "POST",
        "/files/write",
        json_body={
            "path": "/workspace/bin",
            "content": base64.b64encode(raw).decode(),
            "encoding": "base64",
        },
    )
    download = await agent(sandbox, "GET", "/files/download?path=/workspace/bin")
    assert download.body == raw
    assert download.header("content-type") == "application/octet-stream"
    listing = doc(await agent(sandbox, "GET", "/files/list?path=/workspace"))
    names = {f["name"]: f for f in listing["files"]}
    assert names["dir"]["is_directory"] is True
    assert names["bin"]["size"] == 256
    assert doc(await agent(sandbox, "GET", "/files/exists?path=/workspace/bin"))["exists"]
    assert (await agent(sandbox, "DELETE", "/files/remove?path=/workspace/dir")).status == 200
    gone = await agent(sandbox, "GET", "/files/read?path=/workspace/dir/x")
    assert gone.status == 404
    _agent_error(doc(gone), "FILE_NOT_FOUND")
    # ``..`` stops at the sandbox's root: the sandbox's own /etc/passwd where it has a
    # filesystem of its own, a refusal where it sees only /workspace and /tmp.
    outside = await agent(sandbox, "GET", "/files/read?path=/workspace/../../etc/passwd")
    if outside.status == 200:
        assert doc(outside)["content"] != await anyio.Path("/etc/passwd").read_text()
    else:
        assert outside.status in (400, 403, 404)
    bad64 = await agent(
        sandbox,
        "POST",
        "/files/write",
        json_body={"path": "/workspace/x", "content": "@@@", "encoding": "base64"},
    )
    assert bad64.status == 400


async def test_multipart_upload(sandbox: dict[str, Any]) -> None:
    boundary = "b0undary"
    data = b"\x00\x01payload" * 5000
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n'
            "/workspace/up.bin\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="up.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    reply = await agent(
        sandbox,
        "POST",
        "/files/upload",
        body=body,
        headers=[("content-type", f"multipart/form-data; boundary={boundary}")],
    )
    assert reply.status == 200, reply.body
    assert doc(reply)["size"] == len(data)
    back = await agent(sandbox, "GET", "/files/download?path=/workspace/up.bin")
    assert back.body == data
    truncated = body[: len(body) // 2]
    client = await RawHTTP.connect(sandbox["public_host"])
    try:
        head = (
            "POST /files/upload HTTP/1.1\r\nhost: x\r\n"
            f"authorization: Bearer {sandbox['auth_token']}\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\n"
            f"content-length: {len(truncated)}\r\n\r\n"
        ).encode()
        await client.send_bytes(head + truncated[:-10])
        await client.stream.send_eof()
    finally:
        await client.aclose()
    # The server notices the cut-off body and throws the partial file away.
    with anyio.fail_after(10):
        while True:
            listing = doc(await agent(sandbox, "GET", "/files/list?path=/workspace"))
            if not any(".part" in f["name"] for f in listing["files"]):
                break
            await anyio.sleep(0.1)


async def test_env(sandbox: dict[str, Any]) -> None:
    await agent(sandbox, "PUT", "/env", json_body={"env_vars": {"A": "1", "B": "2"}})
    await agent(sandbox, "PATCH", "/env", json_body={"env_vars": {"C": "3"}, "merge": True})
    got = doc(await agent(sandbox, "GET", "/env"))["env_vars"]
    assert api_vars(got) == {"A": "1", "B": "2", "C": "3"}
    # What GET /env shows is what a process of the sandbox really starts with.
    shown = doc(
        await agent(sandbox, "POST", "/execute", json_body={"code": "env", "language": "bash"})
    )
    real = dict(line.split("=", 1) for line in shown["stdout"].splitlines() if "=" in line)
    assert got.items() <= real.items()
    assert got["HOPX_SANDBOX_ID"] == sandbox["id"]
    out = doc(
        await agent(
            sandbox, "POST", "/execute", json_body={"code": "import os; print(os.environ['C'])"}
        )
    )
    assert out["stdout"] == "3\n"
    await agent(sandbox, "DELETE", "/env")
    assert api_vars(doc(await agent(sandbox, "GET", "/env"))["env_vars"]) == {}


async def test_metrics_cache_jupyter(sandbox: dict[str, Any]) -> None:
    await agent(sandbox, "POST", "/execute", json_body={"code": "print(1)"})
    snap = doc(await agent(sandbox, "GET", "/metrics/snapshot"))
    assert snap["total_executions"] >= 1
    assert snap["total_requests"] >= 1
    assert doc(await agent(sandbox, "GET", "/metrics"))["uptime_seconds"] >= 0
    prom = await agent(sandbox, "GET", "/metrics/prometheus")
    assert prom.header("content-type").startswith("text/plain")
    assert b"hopx_agent_requests_total" in prom.body
    stats = doc(await agent(sandbox, "GET", "/cache/stats"))
    assert stats["hits"] == 0
    assert doc(await agent(sandbox, "POST", "/cache/clear"))["success"] is True
    # The print ran in the sandbox's kernel (when ipykernel is installed), which is listed.
    sessions = doc(await agent(sandbox, "GET", "/jupyter/sessions"))["sessions"]
    if kernel_support().available:
        assert [s["execution_state"] for s in sessions] == ["idle"]
    else:
        assert sessions == []


async def test_desktop_and_update_are_refused(sandbox: dict[str, Any]) -> None:
    shot = await agent(sandbox, "GET", "/desktop/screenshot")
    assert shot.status == 503
    _agent_error(doc(shot), "DESKTOP_NOT_AVAILABLE")
    assert doc(shot)["details"]["missing_dependencies"]
    vnc = await agent(sandbox, "POST", "/desktop/vnc/start", json_body={})
    assert vnc.status == 503
    update = await agent(sandbox, "GET", "/update/backups")
    assert update.status == 501


async def _receive_one_post(
    listener: anyio.abc.Listener[anyio.abc.SocketStream], got: list[Request], arrived: anyio.Event
) -> None:
    async with await listener.accept() as stream:
        conn = HTTPConnection(Role.SERVER)
        while True:
            message = conn.next_message()
            if isinstance(message, Request):
                got.append(message)
                arrived.set()
                await stream.send(conn.send_response(Response(204, (), b"")))
                return
            if message is not NEED_DATA:
                return
            conn.receive_data(await stream.receive())


async def test_async_execution_posts_signed_webhook(sandbox: dict[str, Any]) -> None:
    got: list[Request] = []
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    [listener] = multi.listeners
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with multi, anyio.create_task_group() as tg:
        arrived = anyio.Event()
        tg.start_soon(functools.partial(_receive_one_post, listener, got, arrived))
        queued = doc(
            await agent(
                sandbox,
                "POST",
                "/execute/async",
                json_body={
                    "code": "print('done')",
                    "language": "python",
                    "callback_url": f"http://127.0.0.1:{port}/hook",
                    "callback_headers": {"X-Extra": "1"},
                    "callback_signature_secret": "s3cret",
                },
            )
        )
        assert queued["status"] == "queued"
        with anyio.fail_after(30):
            await arrived.wait()
    [post] = got
    assert post.target == "/hook"
    assert post.header("x-extra") == "1"
    assert verify_webhook("s3cret", post.body or b"", post.header(WEBHOOK_SIGNATURE_HEADER))
    payload = json.loads(post.body or b"")
    assert payload["execution_id"] == queued["execution_id"]
    assert payload["status"] == "completed"
    assert payload["stdout"] == "done\n"


async def test_server_error_keeps_serving(sandbox: dict[str, Any]) -> None:
    server: LocalServer = sandbox["server"]
    live = server.fleet.live(sandbox["id"])
    assert live is not None

    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    original = live.runtime.metrics
    live.runtime.metrics = broken  # type: ignore[method-assign]
    try:
        failed = await agent(sandbox, "GET", "/metrics")
    finally:
        live.runtime.metrics = original  # type: ignore[method-assign]
    assert failed.status == 500
    _agent_error(doc(failed), "INTERNAL_ERROR")
    assert (await agent(sandbox, "GET", "/metrics")).status == 200
    assert (await call(server.base_url, "GET", "/v1/templates", headers=api("k"))).status == 200


async def test_unisolated_mode_says_so() -> None:
    async with hopx_local.serve(api_key="k", isolation="none") as server:
        assert server.isolation == "none"
        sb = await create_sandbox(server.base_url, "k")
        info = doc(await call(sb["public_host"], "GET", "/info"))
        assert info["isolation"] == "none"
        assert info["isolated"] is False
        assert "WARNING" in info["warning"]
        ran = doc(await agent(sb, "POST", "/execute", json_body={"code": "print(2 + 2)"}))
        assert ran["stdout"] == "4\n"


async def test_rich_outputs_reach_the_execute_reply(sandbox: dict[str, Any]) -> None:
    code = (
        "import sitecustomize\n"
        "sitecustomize.emit('text/html', '<b>hi</b>')\n"
        "sitecustomize.emit('image/png', b'\\x89PNG')\n"
    )
    reply = doc(await agent(sandbox, "POST", "/execute", json_body={"code": code}))
    assert reply["html"] == "<b>hi</b>"
    assert base64.b64decode(reply["png"]) == b"\x89PNG"


async def test_info_lists_the_sandbox_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hopx.local")
    async with hopx_local.serve(api_key="k", isolation="none") as server:
        assert server.warning is not None
        sb = await create_sandbox(server.base_url, "k")
        info = doc(await call(sb["public_host"], "GET", "/info"))
        assert info["isolated"] is False
        assert info["warning"] == server.warning
        assert server.warning in info["warnings"]
        live = server.fleet.live(sb["id"])
        assert live is not None
        assert info["warnings"] == live.runtime.warnings
        await create_sandbox(server.base_url, "k")
    # Notes beyond the isolation warning are logged once per server, not once per sandbox.
    for note in info["warnings"]:
        logged = [r for r in caplog.records if note in r.getMessage()]
        assert len(logged) == (0 if note == server.warning else 1), note
