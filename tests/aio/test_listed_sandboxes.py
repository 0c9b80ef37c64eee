"""Listed sandboxes keep what the listing said (no GET for it before the first agent call), and a
download's progress callback receives the size the agent announced. Both loops."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from hopx_proto import SandboxInfo
from hopx_proto.aio import AsyncSandbox

from .fake import Reply, ScriptedServer, make_client, sandbox_json, token_json
from .test_transport_paths import agent_routes, routes

pytestmark = pytest.mark.anyio

LISTING = {
    "data": [
        sandbox_json("sb1", template_name="code-interpreter"),
        sandbox_json("sb2", public_host="http://agent2.test:7777"),
        sandbox_json("sb3", status="creating"),
    ],
    "has_more": False,
}


def _server() -> ScriptedServer:
    return ScriptedServer(
        routes(
            {
                "GET /v1/sandboxes": Reply(json=LISTING),
                "POST /v1/sandboxes/sb1/token/refresh": Reply(json=token_json()),
                "GET /files/read": Reply(json={"content": "hi"}),
            }
        )
    )


async def _check(listed: list[Any], server: ScriptedServer) -> None:
    assert [s.sandbox_id for s in listed] == ["sb1", "sb2", "sb3"]
    assert all(isinstance(s.info, SandboxInfo) for s in listed)
    assert listed[0].info.template_name == "code-interpreter"
    assert listed[2].info.status == "creating"
    assert await listed[0].files.read("/workspace/a.txt") == "hi"
    assert "GET /v1/sandboxes/sb1" not in server.targets()
    assert [t for t in server.targets() if t.startswith("GET /files")] == [
        "GET /files/read?path=/workspace/a.txt"
    ]


async def test_list_entries_keep_the_listed_info() -> None:
    server = _server()
    client, _backend = make_client(server)
    listed = await AsyncSandbox.list(client=client)
    await _check(listed, server)
    for sb in listed:
        await sb.aclose()


async def test_iter_entries_keep_the_listed_info() -> None:
    server = _server()
    client, _backend = make_client(server)
    listed = [sb async for sb in AsyncSandbox.iter(client=client)]
    await _check(listed, server)
    for sb in listed:
        await sb.aclose()


async def test_info_follows_create_connect_and_get_info() -> None:
    server = ScriptedServer(agent_routes({}))
    client, _backend = make_client(server)
    bare = AsyncSandbox("sb1", client=client)
    assert bare.info is None
    fetched = await bare.get_info()
    assert bare.info == fetched
    connected = await AsyncSandbox.connect("sb1", client=client)
    assert connected.info is not None
    assert connected.info.public_host == sandbox_json()["public_host"]
    await bare.aclose()
    await connected.aclose()


async def test_download_progress_has_the_announced_total(tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * 1024
    server = ScriptedServer(agent_routes({"GET /files/download": Reply(body=data)}))
    client, _backend = make_client(server)
    sb = AsyncSandbox("sb1", client=client)
    seen: list[tuple[int, int | None]] = []
    await sb.files.download(
        "/workspace/x.bin", tmp_path / "x.bin", on_progress=lambda n, t: seen.append((n, t))
    )
    assert seen
    assert seen[-1] == (len(data), len(data))
    assert {total for _n, total in seen} == {len(data)}
    await sb.aclose()
