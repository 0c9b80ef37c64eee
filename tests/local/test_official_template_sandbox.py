"""The official ``hopx-ai`` 0.5.0 client with a template it built on the emulator: its own
``AsyncSandbox.create(template=name)`` starts a sandbox whose start command serves the copied
files, and its ``delete_template`` is refused while that sandbox exists."""

from __future__ import annotations

import gc
import pathlib
import socket
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images

hopx_ai = pytest.importorskip("hopx_ai")
template_api = pytest.importorskip("hopx_ai.template")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_official_client_creates_a_sandbox_from_its_built_template(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.txt").write_text("hello from the official template\n")
    port = _free_port()
    with anyio.fail_after(240):
        async with hopx_local.serve() as local:
            common: dict[str, Any] = {"api_key": local.api_key, "base_url": local.base_url}
            template = (
                template_api.Template()
                .from_python_image(PY)
                .copy("site/", "/srv/site")
                .set_workdir("/srv/site")
                .set_start_cmd(
                    f"python3 -m http.server {port} --bind 127.0.0.1",
                    template_api.wait_for_port(port, timeout=60000, interval=500),
                )
            )
            options = template_api.BuildOptions(
                name="official-web",
                context_path=str(tmp_path),
                template_activation_timeout=120,
                **common,
            )
            result = await template_api.Template.build(template, options)
            sb = await hopx_ai.AsyncSandbox.create(
                template="official-web", internet_access=False, **common
            )
            try:
                info = await sb.get_info()
                assert info.template_name == "official-web"
                fetched = await sb.commands.run(
                    'python3 -c "import urllib.request; print(urllib.request.urlopen('
                    f"'http://127.0.0.1:{port}/hello.txt', timeout=20).read().decode(), "
                    "end='')\"",
                    timeout_seconds=60,
                )
                assert fetched.stdout == "hello from the official template\n", fetched.stderr
                with pytest.raises(hopx_ai.errors.HopxError) as in_use:
                    await hopx_ai.AsyncSandbox.delete_template(result.template_id, **common)
                assert "in use" in str(in_use.value) or "used by" in str(in_use.value)
            finally:
                await sb.kill()
            await hopx_ai.AsyncSandbox.delete_template(result.template_id, **common)
            # Let the client's abandoned connections be finalised while this test's warning
            # filters are in force.
            del sb, in_use
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()
