"""Tokens end with what they grant: after a sandbox stops (by ``stop``, or with the server),
the tokens issued before are refused, while a refresh leaves earlier tokens valid until their
own expiry. Real server on loopback, real sandboxes; both loops."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_server_support import RawWebSocket, api, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local import LocalServer
from hopx_proto._errors import AuthenticationError

pytestmark = pytest.mark.anyio

KEY = "tokens-key"


@pytest.fixture
async def local(tmp_path: pathlib.Path) -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key=KEY, state_dir=tmp_path / "state") as server:
        yield server


async def _control(local: LocalServer, sandbox_id: str, action: str) -> dict[str, Any]:
    target = f"/v1/sandboxes/{sandbox_id}/{action}"
    reply = await call(local.base_url, "POST", target, headers=api(KEY))
    assert reply.status == 200, reply.body
    result: dict[str, Any] = doc(reply)
    return result


async def _opens(host: str, token: str) -> int:
    """The status of an authenticated agent call made with ``token``."""
    reply = await call(host, "GET", "/files/list?path=/workspace", headers=bearer(token))
    if reply.status == 401:
        assert doc(reply)["code"] == "TOKEN_INVALID", reply.body
    return reply.status


async def test_a_refresh_keeps_the_old_token_and_a_stop_ends_both(local: LocalServer) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    first = sandbox["auth_token"]
    refreshed = (await _control(local, sandbox["id"], "token/refresh"))["auth_token"]
    assert refreshed != first
    host = sandbox["public_host"]
    assert await _opens(host, first) == 200  # requests in flight keep working
    assert await _opens(host, refreshed) == 200
    await _control(local, sandbox["id"], "stop")
    started = await _control(local, sandbox["id"], "start")
    host = started["public_host"]
    assert await _opens(host, first) == 401
    assert await _opens(host, refreshed) == 401
    with pytest.raises(AuthenticationError):  # the upgrade is refused too
        await RawWebSocket.connect(host, "/execute/stream", first)
    current = (await _control(local, sandbox["id"], "token/refresh"))["auth_token"]
    assert await _opens(host, current) == 200
    # The open endpoints do not look at tokens at all.
    health = await call(host, "GET", "/health", headers=bearer(first))
    assert health.status == 200
    # A token issued while the sandbox is stopped opens it once it runs again.
    await _control(local, sandbox["id"], "stop")
    while_stopped = (await _control(local, sandbox["id"], "token/refresh"))["auth_token"]
    host = (await _control(local, sandbox["id"], "start"))["public_host"]
    assert await _opens(host, while_stopped) == 200
    assert await _opens(host, current) == 401


async def test_tokens_from_before_a_server_restart_are_refused(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    async with hopx_local.serve(api_key=KEY, state_dir=state) as first:
        sandbox = await create_sandbox(first.base_url, KEY)
        assert await _opens(sandbox["public_host"], sandbox["auth_token"]) == 200
    async with hopx_local.serve(api_key=KEY, state_dir=state) as second:
        started = await _control(second, sandbox["id"], "start")
        assert await _opens(started["public_host"], sandbox["auth_token"]) == 401
        fresh = (await _control(second, sandbox["id"], "token/refresh"))["auth_token"]
        assert await _opens(started["public_host"], fresh) == 200


async def test_clients_recover_after_stop_and_start(local: LocalServer, anyio_backend: str) -> None:
    import hopx_asyncio
    import hopx_trio

    adapter: Any = hopx_trio if anyio_backend == "trio" else hopx_asyncio
    async with adapter.AsyncSandbox.create(
        template="code-interpreter", api_key=KEY, base_url=local.base_url
    ) as sb:
        await sb.files.write("/workspace/kept.txt", "kept")
        await sb.stop()
        await sb.start()
        # The stale token gets a 401; the client refreshes it once and carries on.
        assert await sb.files.read("/workspace/kept.txt") == "kept"
        result = await sb.run_code("print('after restart')")
        assert result.stdout == "after restart\n"
