"""The emulator on the IPv6 loopback: URLs carry the address in brackets and both planes work."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys

import anyio
import pytest
from test_server_support import WAIT, api, bearer, call, create_sandbox, doc, read_base_url

import hopx_local


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")


@pytest.mark.anyio
@pytest.mark.parametrize("listen", ["::1", "[::1]"])
async def test_both_planes_listen_on_ipv6_loopback(listen: str) -> None:
    async with hopx_local.serve(host=listen, api_key="k") as server:
        assert server.base_url == f"http://[::1]:{server.port}"
        health = await call(server.base_url, "GET", "/health")
        assert health.status == 200
        sandbox = await create_sandbox(server.base_url, "k")
        host = sandbox["public_host"]
        assert host.startswith("http://[::1]:"), host
        assert sandbox["direct_url"] == host
        described = doc(
            await call(server.base_url, "GET", f"/v1/sandboxes/{sandbox['id']}", headers=api("k"))
        )
        assert described["public_host"] == host
        run = await call(
            host,
            "POST",
            "/execute",
            headers=bearer(sandbox["auth_token"]),
            json_body={"code": "print(6 * 7)", "language": "python", "timeout": 30},
        )
        assert run.status == 200, run.body
        assert doc(run)["stdout"] == "42\n"
        info = doc(await call(host, "GET", "/info"))
        assert info["ip"] == "::1"


async def _use(base_url: str) -> None:
    sandbox = await create_sandbox(base_url, "k6")
    assert sandbox["public_host"].startswith("http://[::1]:")
    ping = await call(sandbox["public_host"], "GET", "/ping")
    assert ping.status == 200


@pytest.mark.slow
def test_cli_serve_on_ipv6_loopback(tmp_path: pathlib.Path) -> None:
    command = [
        sys.executable,
        "-m",
        "hopx_local",
        "serve",
        "--host",
        "::1",
        "--port",
        "0",
        "--api-key",
        "k6",
        "--state-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        base_url = read_base_url(proc)
        assert base_url.startswith("http://[::1]:"), base_url
        anyio.run(_use, base_url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
