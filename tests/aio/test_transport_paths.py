"""Error paths of the async client over an in-memory, scripted network (both event loops)."""

from __future__ import annotations

import email.utils
import pathlib
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from hopx_proto._errors import (
    AuthenticationError,
    FileNotFoundError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    ServerError,
    TimeoutError,
)
from hopx_proto._http import Request
from hopx_proto.aio import AsyncSandbox, Client, ConnectionPool, PoolLimits

from .fake import (
    AGENT_HOST,
    Action,
    CutBody,
    Drop,
    FakeBackend,
    Reply,
    ScriptedServer,
    Stall,
    make_client,
    sandbox_json,
    token_json,
)

pytestmark = pytest.mark.anyio


def routes(table: dict[str, Any]) -> Callable[[Request], Action]:
    """A handler answering ``"METHOD /path"`` keys; a list is consumed one item per request."""

    def handle(request: Request) -> Action:
        path = request.path
        if path.startswith("http://"):  # absolute form, as sent to a proxy
            path = "/" + path.split("/", 3)[3]
        key = f"{request.method} {path}"
        if key not in table:
            return Reply(404, {"error": {"code": "not_found", "message": key}})
        value = table[key]
        if isinstance(value, list):
            return value.pop(0) if len(value) > 1 else value[0]  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]

    return handle


def agent_routes(extra: dict[str, Any]) -> Callable[[Request], Action]:
    table: dict[str, Any] = {
        "GET /v1/sandboxes/sb1": Reply(json=sandbox_json()),
        "POST /v1/sandboxes/sb1/token/refresh": Reply(json=token_json()),
    }
    table.update(extra)
    return routes(table)


async def sandbox(server: ScriptedServer, **kw: Any) -> tuple[AsyncSandbox, FakeBackend]:
    client, backend = make_client(server, **kw)
    return AsyncSandbox("sb1", client=client), backend


async def test_idempotent_get_retries_on_503_with_backoff() -> None:
    server = ScriptedServer(
        routes({"GET /v1/sandboxes/sb1": [Reply(503), Reply(json=sandbox_json())]})
    )
    sb, backend = await sandbox(server)
    info = await sb.get_info()
    assert info.sandbox_id == "sb1"
    assert server.targets() == ["GET /v1/sandboxes/sb1"] * 2
    assert len(backend.sleeps) == 1
    assert 0.25 <= backend.sleeps[0] <= 0.5
    await sb.aclose()


async def test_retry_after_header_is_honoured() -> None:
    limited = Reply(429, {"error": {"message": "slow down"}}, headers=(("retry-after", "3"),))
    server = ScriptedServer(
        routes({"GET /v1/sandboxes/sb1": [limited, Reply(json=sandbox_json())]})
    )
    sb, backend = await sandbox(server)
    await sb.get_info()
    assert backend.sleeps == [3.0]
    await sb.aclose()


async def test_retry_after_http_date_and_body_hint() -> None:
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    by_date = Reply(503, {"error": {"message": "busy"}}, headers=(("retry-after", date),))
    by_body = Reply(429, {"error": {"message": "slow", "details": {"retry_after_seconds": 2}}})
    server = ScriptedServer(
        routes({"GET /v1/sandboxes/sb1": [by_date, by_body, Reply(json=sandbox_json())]})
    )
    sb, backend = await sandbox(server)
    await sb.get_info()
    assert 3.5 <= backend.sleeps[0] <= 5.0
    assert backend.sleeps[1] == 2.0
    await sb.aclose()


async def test_create_is_not_retried_after_a_503() -> None:
    server = ScriptedServer(routes({"POST /v1/sandboxes": Reply(503, {"error": {"message": "x"}})}))
    client, backend = make_client(server)
    with pytest.raises(ServerError) as info:
        await AsyncSandbox._create(client, "code-interpreter", None, None, None, None, None)
    assert server.targets() == ["POST /v1/sandboxes"]
    assert info.value.operation == "sandboxes.create"
    assert backend.sleeps == []
    await client.aclose()


async def test_create_is_retried_when_the_connection_was_refused() -> None:
    created = Reply(201, {**sandbox_json(), **token_json()})
    server = ScriptedServer(routes({"POST /v1/sandboxes": created}), refuse=1)
    client, backend = make_client(server)
    sb = await AsyncSandbox._create(client, "code-interpreter", None, None, None, None, None)
    assert sb.sandbox_id == "sb1"
    assert server.targets() == ["POST /v1/sandboxes"]
    assert len(backend.sleeps) == 1
    await sb.aclose()
    assert client.closed


async def test_execute_is_not_retried_after_the_request_was_sent() -> None:
    server = ScriptedServer(agent_routes({"POST /execute": Drop()}))
    sb, _backend = await sandbox(server)
    with pytest.raises(NetworkError) as info:
        await sb.run_code("print(1)")
    assert info.value.request_sent
    assert [t for t in server.targets() if "execute" in t] == ["POST /execute"]
    await sb.aclose()


async def test_401_refreshes_the_token_exactly_once() -> None:
    ok = Reply(json={"env_vars": {"A": "1"}})
    unauthorized = Reply(401, {"error": "token expired", "code": "TOKEN_INVALID"})
    server = ScriptedServer(
        agent_routes(
            {
                "POST /v1/sandboxes/sb1/token/refresh": [
                    Reply(json=token_json("jwt-1")),
                    Reply(json=token_json("jwt-2")),
                ],
                "GET /env": [unauthorized, ok],
            }
        )
    )
    sb, _backend = await sandbox(server)
    assert await sb.env.get_all() == {"A": "1"}
    env_requests = [r for r in server.requests if r.path == "/env"]
    assert [r.header("authorization") for r in env_requests] == ["Bearer jwt-1", "Bearer jwt-2"]
    await sb.aclose()


async def test_second_401_is_raised() -> None:
    unauthorized = Reply(401, {"error": "no", "code": "TOKEN_INVALID"})
    server = ScriptedServer(agent_routes({"GET /env": unauthorized}))
    sb, _backend = await sandbox(server)
    with pytest.raises(AuthenticationError):
        await sb.env.get_all()
    assert len([r for r in server.requests if r.path == "/env"]) == 2
    await sb.aclose()


async def test_mid_body_close_is_a_network_error_and_retried_for_gets() -> None:
    full = Reply(json={"env_vars": {"K": "v" * 100}})
    server = ScriptedServer(agent_routes({"GET /env": [CutBody(full, keep=5), full]}))
    sb, _backend = await sandbox(server)
    assert (await sb.env.get_all())["K"] == "v" * 100
    assert len([r for r in server.requests if r.path == "/env"]) == 2
    await sb.aclose()


async def test_stall_hits_the_read_deadline() -> None:
    server = ScriptedServer(agent_routes({"GET /env": Stall()}))
    sb, _backend = await sandbox(server, timeout=0.2, max_retries=0)
    with anyio.fail_after(5):
        with pytest.raises(TimeoutError) as info:
            await sb.env.get_all()
    assert info.value.sandbox_id == "sb1"
    assert sb.client.transport.open_connections() == 1  # the control connection, idle
    await sb.aclose()
    assert server.open_now == 0


async def test_cancellation_leaves_the_pool_consistent() -> None:
    server = ScriptedServer(
        agent_routes({"GET /env": [Stall(), Reply(json={"env_vars": {"A": "1"}})]})
    )
    sb, _backend = await sandbox(server)
    await sb.get_token()
    with anyio.move_on_after(0.1) as scope:
        await sb.env.get_all()
    assert scope.cancelled_caught
    # The stalled connection was discarded, not returned to the pool.
    assert sb.client.transport.open_connections() == 1
    assert await sb.env.get_all() == {"A": "1"}
    await sb.aclose()
    assert server.open_now == 0


async def test_connections_are_reused() -> None:
    server = ScriptedServer(agent_routes({"GET /env": Reply(json={"env_vars": {}})}))
    sb, _backend = await sandbox(server)
    for _ in range(5):
        await sb.env.get_all()
    assert server.opened == 2  # one control-plane, one agent connection
    await sb.aclose()
    assert server.open_now == 0


async def test_bad_public_host_fails_at_once_naming_the_sandbox() -> None:
    server = ScriptedServer(
        agent_routes(
            {"GET /v1/sandboxes/sb1": Reply(json=sandbox_json(public_host="1.2.3.4:7777"))}
        )
    )
    sb, backend = await sandbox(server)
    with anyio.fail_after(2):
        with pytest.raises(RemoteProtocolError) as info:
            await sb.run_code("print(1)")
    assert "sb1" in str(info.value)
    assert backend.sleeps == []
    await sb.aclose()


async def test_file_paths_are_escaped() -> None:
    server = ScriptedServer(agent_routes({"GET /files/read": Reply(json={"content": "hi"})}))
    sb, _backend = await sandbox(server)
    assert await sb.files.read("/workspace/a b&c=d?e#f.txt") == "hi"
    read = next(r for r in server.requests if r.path == "/files/read")
    assert read.target == "/files/read?path=/workspace/a%20b%26c%3Dd%3Fe%23f.txt"
    await sb.aclose()


async def test_agent_errors_are_typed() -> None:
    missing = Reply(404, {"error": "no such file", "code": "FILE_NOT_FOUND"})
    server = ScriptedServer(agent_routes({"GET /files/read": missing}))
    sb, _backend = await sandbox(server)
    with pytest.raises(FileNotFoundError) as info:
        await sb.files.read("/workspace/nope")
    assert info.value.path == "/workspace/nope"
    assert info.value.sandbox_id == "sb1"
    await sb.aclose()


async def test_download_is_atomic(tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * 64
    full = Reply(body=data)
    server = ScriptedServer(agent_routes({"GET /files/download": [CutBody(full, keep=100), full]}))
    sb, _backend = await sandbox(server, max_retries=0)
    target = tmp_path / "out.bin"
    with pytest.raises(NetworkError):
        await sb.files.download("/workspace/x.bin", target)
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240
    seen: list[int] = []
    await sb.files.download("/workspace/x.bin", target, on_progress=lambda n, _t: seen.append(n))
    assert target.read_bytes() == data
    assert seen[-1] == len(data)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # noqa: ASYNC240
    await sb.aclose()


async def test_upload_streams_a_sized_multipart_body(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "local data.bin"
    source.write_bytes(b"x" * 300_000)
    server = ScriptedServer(agent_routes({"POST /files/upload": Reply(json={"success": True})}))
    sb, _backend = await sandbox(server)
    progress: list[tuple[int, int | None]] = []
    await sb.files.upload(
        source, "/workspace/up.bin", on_progress=lambda d, t: progress.append((d, t))
    )
    upload = next(r for r in server.requests if r.path == "/files/upload")
    assert upload.header("content-length") == str(len(upload.body or b""))
    assert b'filename="local data.bin"' in (upload.body or b"")
    assert progress[-1] == (300_000, 300_000)
    await sb.aclose()


async def test_missing_api_key_is_a_clear_error() -> None:
    backend = FakeBackend(ScriptedServer(routes({})), {})
    with pytest.raises(LocalProtocolError, match="HOPX_API_KEY"):
        Client(backend)


async def test_base_url_from_environment() -> None:
    server = ScriptedServer(routes({}))
    backend = FakeBackend(server, {"HOPX_API_KEY": "k", "HOPX_BASE_URL": "http://other.test:81"})
    client = Client(backend)
    assert client.base_url == "http://other.test:81"
    await client.aclose()


async def test_kill_releases_the_pool() -> None:
    server = ScriptedServer(agent_routes({"DELETE /v1/sandboxes/sb1": Reply(json={})}))
    sb, _backend = await sandbox(server)
    await sb.get_info()
    await sb.kill()
    assert sb.client.closed
    assert server.open_now == 0


async def test_agent_host_is_the_public_host() -> None:
    server = ScriptedServer(agent_routes({"GET /env": Reply(json={"env_vars": {}})}))
    sb, _backend = await sandbox(server)
    await sb.env.get_all()
    assert ("agent.test", 7777) in server.hosts
    assert AGENT_HOST.endswith(":7777")
    await sb.aclose()


async def test_https_through_a_proxy_tunnel() -> None:
    server = ScriptedServer(routes({"GET /v1/sandboxes/sb1": Reply(json=sandbox_json())}))
    backend = FakeBackend(
        server, {"HOPX_API_KEY": "k", "HTTPS_PROXY": "http://user:pw@proxy.test:3128"}
    )
    client = Client(backend, base_url="https://api.test")
    sb = AsyncSandbox("sb1", client=client)
    await sb.get_info()
    assert server.hosts == [("proxy.test", 3128)]
    connect, get = server.requests
    assert (connect.method, connect.target) == ("CONNECT", "api.test:443")
    assert connect.header("proxy-authorization") == "Basic dXNlcjpwdw=="
    assert (get.target, get.header("host")) == ("/v1/sandboxes/sb1", "api.test")
    await sb.aclose()


async def test_plain_http_through_a_proxy_and_no_proxy() -> None:
    server = ScriptedServer(routes({"GET /v1/sandboxes/sb1": Reply(json=sandbox_json())}))
    client, _backend = make_client(server, {"HTTP_PROXY": "proxy.test:8080"})
    sb = AsyncSandbox("sb1", client=client)
    await sb.get_info()
    assert server.hosts == [("proxy.test", 8080)]
    assert server.requests[0].target == "http://api.test/v1/sandboxes/sb1"
    await sb.aclose()

    server = ScriptedServer(routes({"GET /v1/sandboxes/sb1": Reply(json=sandbox_json())}))
    client, _backend = make_client(
        server, {"HTTP_PROXY": "proxy.test:8080", "NO_PROXY": "localhost,.test"}
    )
    sb = AsyncSandbox("sb1", client=client)
    await sb.get_info()
    assert server.hosts == [("api.test", 80)]
    assert server.requests[0].target == "/v1/sandboxes/sb1"
    await sb.aclose()


async def test_logs_never_show_credentials(caplog: pytest.LogCaptureFixture) -> None:
    server = ScriptedServer(agent_routes({"GET /env": Reply(json={"env_vars": {}})}))
    sb, _backend = await sandbox(server)
    with caplog.at_level("DEBUG", logger="hopx"):
        await sb.env.get_all()
    text = caplog.text
    assert "/env" in text
    assert "key-1" not in text
    assert "jwt-1" not in text
    assert "***" in text
    await sb.aclose()


async def test_pool_limits_connections_per_host() -> None:
    server = ScriptedServer(agent_routes({"GET /env": Reply(json={"env_vars": {}})}))
    sb, _backend = await sandbox(server, limits=PoolLimits(max_per_host=2, max_idle_per_host=2))
    await sb.get_token()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(sb.env.get_all)
    agent_connections = [h for h in server.hosts if h == ("agent.test", 7777)]
    assert len(agent_connections) <= 2
    await sb.aclose()
    assert server.open_now == 0


def test_pool_bookkeeping_expires_idle_connections() -> None:
    pool: ConnectionPool[str] = ConnectionPool(PoolLimits(max_idle_per_host=2, idle_expiry=10))
    key = ("http", "h", 80)
    assert pool.checkin(key, "a", now=0) == []
    assert pool.checkin(key, "b", now=1) == []
    assert pool.checkin(key, "c", now=2) == ["a"]
    assert pool.checkout(key, now=5) == ("c", [])
    assert pool.checkout(key, now=11.5) == (None, ["b"])
    assert pool.close() == []
    with pytest.raises(LocalProtocolError):
        pool.checkout(key, now=12)


async def test_ipv6_literal_hosts() -> None:
    server = ScriptedServer(routes({"GET /v1/sandboxes/sb1": Reply(json=sandbox_json())}))
    backend = FakeBackend(server, {"HOPX_API_KEY": "k"})
    client = Client(backend, base_url="http://[::1]:8080")
    sb = AsyncSandbox("sb1", client=client)
    await sb.get_info()
    assert server.hosts == [("::1", 8080)]
    assert server.requests[0].header("host") == "[::1]:8080"
    await sb.aclose()


async def test_context_exit_after_an_explicit_kill_sends_one_delete() -> None:
    server = ScriptedServer(agent_routes({"DELETE /v1/sandboxes/sb1": Reply(json={})}))
    sb, _backend = await sandbox(server)
    async with sb:
        await sb.kill()
    assert server.targets().count("DELETE /v1/sandboxes/sb1") == 1
    assert server.open_now == 0


async def test_unencodable_path_is_a_typed_error_before_any_request() -> None:
    server = ScriptedServer(agent_routes({}))
    sb, _backend = await sandbox(server)
    with pytest.raises(LocalProtocolError, match=r"files\.read"):
        await sb.files.read("/workspace/bad\udcff.txt")
    assert not [r for r in server.requests if r.path.startswith("/files")]
    await sb.aclose()


async def test_a_callers_client_is_shared_and_left_open() -> None:
    listing = {"data": [sandbox_json("a"), sandbox_json("b")], "has_more": False}
    server = ScriptedServer(
        routes(
            {
                "GET /v1/sandboxes": Reply(json=listing),
                "GET /v1/sandboxes/a": Reply(json=sandbox_json("a")),
                "DELETE /v1/sandboxes/a": Reply(json={}),
            }
        )
    )
    backend = FakeBackend(server, {"HOPX_API_KEY": "k"})
    async with Client(backend, base_url="http://api.test") as client:
        sandboxes = await AsyncSandbox.list(client=client)
        connected = await AsyncSandbox.connect("a", client=client)
        await connected.kill()
        for sb in sandboxes:
            await sb.aclose()
        assert client.transport.open_connections() == 1
        assert server.opened == 1  # every call shared one pooled connection
    assert client.closed
    assert server.open_now == 0
