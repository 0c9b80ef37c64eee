"""A real ``hopx-local serve`` killed with SIGKILL in the middle of an upload, then restarted
on the same state directory, has lost nothing it acknowledged: every sandbox, every file
written or uploaded, every variable set. What it had not acknowledged (the upload in
progress) left no trace anywhere the sandbox can see, and the tokens handed out before the
crash no longer open the sandboxes. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import os
import pathlib
import signal
from typing import Any

import anyio
import pytest
from test_server_support import (
    WAIT,
    RawHTTP,
    api,
    bearer,
    call,
    create_sandbox,
    doc,
    end_serve,
    read_base_url,
    start_serve,
)

from hopx_local._runtime.launches import BASE_ENV_NAMES

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

KEY = "crash-key"


async def _agent(host: str, token: str, method: str, target: str, **kw: Any) -> Any:
    reply = await call(host, method, target, headers=bearer(token), **kw)
    assert reply.status == 200, (target, reply.body)
    return doc(reply)


#: Bytes of the upload sent before the kill: more than the socket buffers on both sides hold,
#: so once they are sent the server has been reading the upload into a file.
SENT = 24 << 20


async def _upload_begun(host: str, token: str, path: str) -> RawHTTP:
    """An upload whose body the server has begun to write, and which is never finished."""
    client = await RawHTTP.connect(host)
    head = (
        b"POST /files/upload HTTP/1.1\r\nhost: x\r\n"
        + f"authorization: Bearer {token}\r\n".encode()
        + b"content-type: multipart/form-data; boundary=xyz\r\n"
        + f"content-length: {SENT * 2}\r\n\r\n".encode()
        + b'--xyz\r\ncontent-disposition: form-data; name="path"\r\n\r\n'
        + path.encode()
        + b'\r\n--xyz\r\ncontent-disposition: form-data; name="file"; filename="f"\r\n\r\n'
    )
    await client.send_bytes(head + b"p" * SENT)
    return client


def _parts(root: pathlib.Path) -> list[pathlib.Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".part")]


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


async def test_a_killed_server_loses_nothing_it_acknowledged(tmp_path: pathlib.Path) -> None:
    state, log = tmp_path / "state", tmp_path / "server.log"
    proc = start_serve(state, KEY, log)
    try:
        base_url = await anyio.to_thread.run_sync(read_base_url, proc)
        one = await create_sandbox(base_url, KEY)
        two = await create_sandbox(base_url, KEY, env_vars={"FROM_CREATE": "yes"})
        host, token = one["public_host"], one["auth_token"]
        await _agent(
            host,
            token,
            "POST",
            "/files/write",
            json_body={"path": "/workspace/a.txt", "content": "A"},
        )
        await _agent(host, token, "PUT", "/env", json_body={"env_vars": {"SAVED": "1"}})
        client = await _upload_begun(host, token, "/workspace/half.bin")
        os.kill(proc.pid, signal.SIGKILL)
        assert await anyio.to_thread.run_sync(proc.wait, WAIT) == -signal.SIGKILL
        await client.aclose()
    finally:
        await anyio.to_thread.run_sync(end_serve, proc)

    proc = start_serve(state, KEY, log)
    try:
        base_url = await anyio.to_thread.run_sync(read_base_url, proc)
        listed = doc(await call(base_url, "GET", "/v1/sandboxes", headers=api(KEY)))
        assert sorted(s["id"] for s in listed["data"]) == sorted([one["id"], two["id"]])
        assert {s["status"] for s in listed["data"]} == {"stopped"}
        started = {}
        for sandbox in (one, two):
            reply = await call(
                base_url, "POST", f"/v1/sandboxes/{sandbox['id']}/start", headers=api(KEY)
            )
            assert reply.status == 200, reply.body
            started[sandbox["id"]] = doc(reply)["public_host"]
        old = await call(
            started[one["id"]], "GET", "/files/list?path=/workspace", headers=bearer(token)
        )
        assert old.status == 401  # issued before the crash
        fresh = {}
        for sandbox in (one, two):
            refresh = f"/v1/sandboxes/{sandbox['id']}/token/refresh"
            reply = await call(base_url, "POST", refresh, headers=api(KEY))
            fresh[sandbox["id"]] = doc(reply)["auth_token"]
        host, token = started[one["id"]], fresh[one["id"]]
        read = await _agent(host, token, "GET", "/files/read?path=/workspace/a.txt")
        assert read["content"] == "A"
        env = await _agent(host, token, "GET", "/env")
        assert api_vars(env["env_vars"]) == {"SAVED": "1"}
        listing = await _agent(host, token, "GET", "/files/list?path=/workspace")
        assert [entry["name"] for entry in listing["files"]] == ["a.txt"]
        seen = await _agent(
            host,
            token,
            "POST",
            "/commands/run",
            json_body={"command": "ls", "args": ["-a", "/workspace", "/tmp"], "timeout": 30},
        )
        names = set(seen["stdout"].split()) - {".", "..", "/workspace:", "/tmp:"}
        assert names == {"a.txt"}, seen
        assert _parts(state / "sandboxes") == []
        other = await _agent(
            started[two["id"]],
            fresh[two["id"]],
            "POST",
            "/execute",
            json_body={
                "code": "import os; print(os.environ['FROM_CREATE'])",
                "language": "python",
                "timeout": 30,
            },
        )
        assert other["stdout"] == "yes\n"
    finally:
        await anyio.to_thread.run_sync(end_serve, proc)
