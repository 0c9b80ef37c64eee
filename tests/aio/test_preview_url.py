"""``get_preview_url`` and ``agent_url``: from the sandbox's ``preview_url`` when it has one,
else the service's host-name rule; names under ``.localhost`` are connected to as the loopback
and never through a proxy."""

from __future__ import annotations

from typing import Any

import pytest

from hopx_proto._errors import HopxError
from hopx_proto._http import Request
from hopx_proto._url import BaseURL
from hopx_proto.aio import AsyncSandbox
from hopx_proto.aio._transport import ProxyConfig, loopback_hosts

from .fake import Reply, ScriptedServer, make_client, sandbox_json
from .test_transport_paths import routes

pytestmark = pytest.mark.anyio


async def _url(info: dict[str, Any], port: int = 8080) -> str:
    server = ScriptedServer(routes({"GET /v1/sandboxes/sb1": Reply(json=info)}))
    client, _backend = make_client(server)
    sb = AsyncSandbox("sb1", client=client)
    try:
        return await sb.get_preview_url(port)
    finally:
        await sb.aclose()


@pytest.mark.parametrize(
    ("preview_url", "expected"),
    [
        ("http://sb1.localhost:41337", "http://8080-sb1.localhost:41337/"),
        ("http://sb1.localhost:41337/", "http://8080-sb1.localhost:41337/"),
        ("http://7777-sb1.localhost:41337", "http://8080-sb1.localhost:41337/"),
        ("HTTPS://sb1.eu-1001.vms.hopx.dev", "https://8080-sb1.eu-1001.vms.hopx.dev/"),
    ],
)
async def test_preview_url_of_the_description_is_used(preview_url: str, expected: str) -> None:
    info = sandbox_json(public_host="http://127.0.0.1:41337", preview_url=preview_url)
    assert await _url(info) == expected


async def test_service_host_rule_without_preview_url() -> None:
    info = sandbox_json(public_host="https://7777-sb1.eu-1001.vms.hopx.dev")
    assert await _url(info) == "https://8080-sb1.eu-1001.vms.hopx.dev/"
    assert await _url(info, 7777) == "https://7777-sb1.eu-1001.vms.hopx.dev/"


@pytest.mark.parametrize("preview_url", [None, "", "ftp://sb1.localhost:1", "http://nodots:1"])
async def test_loopback_public_host_without_usable_preview_url_raises(
    preview_url: str | None,
) -> None:
    info = sandbox_json(public_host="http://127.0.0.1:41337", preview_url=preview_url)
    with pytest.raises(HopxError, match="preview URL"):
        await _url(info)


@pytest.mark.parametrize("port", [0, -1, 65536, True, 80.0, "8080", None])
async def test_bad_port_is_refused_before_any_request(port: Any) -> None:
    server = ScriptedServer(routes({}))
    client, _backend = make_client(server)
    sb = AsyncSandbox("sb1", client=client)
    try:
        with pytest.raises(HopxError, match="port must be an int from 1 to 65535"):
            await sb.get_preview_url(port)
    finally:
        await sb.aclose()
    assert server.requests == []


def test_localhost_names_connect_to_the_loopback() -> None:
    assert loopback_hosts("8080-sb1.localhost") == ("127.0.0.1", "::1")
    assert loopback_hosts("8080-SB1.LocalHost.") == ("127.0.0.1", "::1")
    assert loopback_hosts("localhost") == ("localhost",)
    assert loopback_hosts("127.0.0.1") == ("127.0.0.1",)
    assert loopback_hosts("example.com") == ("example.com",)
    assert loopback_hosts("localhost.example.com") == ("localhost.example.com",)


def test_localhost_names_never_use_a_proxy() -> None:
    proxies = ProxyConfig.from_environ({"HTTP_PROXY": "http://proxy.test:3128"})
    direct = proxies.for_target(BaseURL.parse("http://8080-sb1.localhost:41337"))
    assert direct == (None, None)
    proxied, _auth = proxies.for_target(BaseURL.parse("http://example.com"))
    assert proxied is not None
    assert proxied.host == "proxy.test"


async def test_transport_connects_to_the_loopback_for_a_preview_host() -> None:
    server = ScriptedServer(routes({"GET /x": Reply(json={})}))
    client, _backend = make_client(server)
    try:
        await client.transport.request(
            BaseURL.parse("http://8080-sb1.localhost:41337"), Request("GET", "/x")
        )
    finally:
        await client.aclose()
    assert server.hosts == [("127.0.0.1", 41337)]
    assert server.requests[-1].header("host") == "8080-sb1.localhost:41337"


async def test_transport_tries_the_ipv6_loopback_when_the_ipv4_one_refuses() -> None:
    server = ScriptedServer(routes({"GET /x": Reply(json={})}), refuse=1)
    client, _backend = make_client(server)
    try:
        await client.transport.request(
            BaseURL.parse("http://8080-sb1.localhost:41337"), Request("GET", "/x")
        )
    finally:
        await client.aclose()
    assert server.hosts == [("127.0.0.1", 41337), ("::1", 41337)]
