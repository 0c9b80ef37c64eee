"""A sandbox of a built template across stops, starts and a server restart, on asyncio and
trio: every start reruns the template's start command (ready again before ``start`` returns),
the sandbox's own layer is kept, and a start command that fails on a later start is a typed
error that leaves the sandbox stopped, not gone."""

from __future__ import annotations

import pathlib
import socket
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images
from hopx_local._templates.start import START_NAME

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")
LIMIT = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _template(adapter: Any, port: int) -> Any:
    # In a sandbox (HOPX_SANDBOX_ID set) each run is counted in /app/starts, and fails once
    # /app/fail-next exists; at build time it only serves.
    return (
        adapter.Template(f"python:{PY}")
        .run_cmd("mkdir -p /app && echo index > /app/index.html")
        .set_workdir("/app")
        .set_start_cmd(
            'if [ -n "$HOPX_SANDBOX_ID" ]; then echo run >> /app/starts; '
            "if [ -e /app/fail-next ]; then echo refusing-to-start >&2; exit 4; fi; fi; "
            f"exec python3 -m http.server {port} --bind 127.0.0.1",
            adapter.wait_for_port(port, timeout=60000, interval=300),
        )
    )


async def _starts(sb: Any) -> int:
    done = await sb.commands.run("wc -l < /app/starts", timeout=60)
    assert done.exit_code == 0, done.stderr
    return int(done.stdout)


async def _serving(sb: Any, port: int) -> str:
    done = await sb.commands.run(
        'python3 -c "import urllib.request; print(urllib.request.urlopen('
        f"'http://127.0.0.1:{port}/index.html', timeout=20).read().decode(), end='')\"",
        timeout=60,
    )
    assert done.exit_code == 0, done.stderr
    return str(done.stdout)


async def _start_processes(sb: Any) -> list[str]:
    return [p["status"] for p in await sb.list_processes() if p["name"] == START_NAME]


async def test_stop_then_start_reruns_the_start_command(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    port = _free_port()
    options = adapter.BuildOptions(
        name="restartable", api_key=local.api_key, base_url=local.base_url
    )
    with anyio.fail_after(LIMIT):
        await adapter.Template.build(_template(adapter, port), options)
    with anyio.fail_after(LIMIT):
        sb = await adapter.AsyncSandbox.create(template="restartable", internet_access=False)
    try:
        assert await _starts(sb) == 1
        assert await _serving(sb, port) == "index\n"
        await sb.commands.run("echo mine > /app/mine.txt", timeout=60)
        for expected in (2, 3):
            with anyio.fail_after(LIMIT):
                await sb.stop()
                await sb.start()
            assert await _starts(sb) == expected
            assert await _serving(sb, port) == "index\n"
            assert await _start_processes(sb) == ["running"]
        kept = await sb.commands.run("cat /app/mine.txt", timeout=60)
        assert kept.stdout == "mine\n"

        # A start command that fails on a later start: a typed error, the sandbox stopped.
        await sb.commands.run("touch /app/fail-next", timeout=60)
        await sb.stop()
        with anyio.fail_after(LIMIT), pytest.raises(adapter.HopxError) as caught:
            await sb.start()
        err = caught.value
        assert (err.status_code, err.code) == (422, "template_start_failed")
        assert "refusing-to-start" in err.details["stderr"]
        assert err.details["exit_code"] == 4
        info = await sb.get_info()
        assert info.status == "stopped"
        assert local.fleet.live(sb.sandbox_id) is None
    finally:
        await sb.kill()


async def test_a_server_restart_then_start_reruns_the_start_command(
    adapter: Any, tmp_path: pathlib.Path
) -> None:
    port = _free_port()
    state = tmp_path / "state"
    with anyio.fail_after(LIMIT * 2):
        async with hopx_local.serve(state_dir=state) as local:
            options = adapter.BuildOptions(
                name="survives", api_key=local.api_key, base_url=local.base_url
            )
            await adapter.Template.build(_template(adapter, port), options)
            sb = await adapter.AsyncSandbox.create(
                template="survives",
                internet_access=False,
                api_key=local.api_key,
                base_url=local.base_url,
            )
            sandbox_id = sb.sandbox_id
            assert await _starts(sb) == 1
            await sb.commands.run("echo mine > /app/mine.txt", timeout=60)
            await sb.aclose()
        async with hopx_local.serve(state_dir=state) as local:
            sb = await adapter.AsyncSandbox.connect(
                sandbox_id, api_key=local.api_key, base_url=local.base_url
            )
            assert (await sb.get_info()).status == "stopped"
            await sb.start()
            assert await _starts(sb) == 2
            assert await _serving(sb, port) == "index\n"
            assert (await sb.commands.run("cat /app/mine.txt", timeout=60)).stdout == "mine\n"
            info = await sb.get_info()
            assert info.template_name == "survives"
            await sb.kill()
            await sb.aclose()
