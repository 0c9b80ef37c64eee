"""The official ``hopx-ai`` 0.5.0 builder against the emulator: its build flow (upload link,
``PUT`` of the context, build, status and log polling, the activation wait) works unchanged,
and a failing build reaches it as its own ``TemplateBuildError``."""

from __future__ import annotations

import gc
import pathlib

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


async def test_the_official_builder_builds_and_reports_failure(tmp_path: pathlib.Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "hello.txt").write_text("hello\n")
    with anyio.fail_after(180):
        async with hopx_local.serve() as local:
            lines: list[str] = []
            template = (
                template_api.Template()
                .from_python_image(PY)
                .copy("app/hello.txt", "/app/")
                .run_cmd("cat /app/hello.txt")
            )
            options = template_api.BuildOptions(
                name="official",
                api_key=local.api_key,
                base_url=local.base_url,
                context_path=str(tmp_path),
                on_log=lambda entry: lines.append(entry["message"]),
                template_activation_timeout=60,
            )
            result = await template_api.Template.build(template, options)
            assert result.template_id
            assert any(line.strip() == "hello" for line in lines), lines
            record = local.fleet.builds.store.find("official")
            assert record is not None

            broken = template_api.Template(f"python:{PY}").run_cmd("exit 7")
            options.name = "official-broken"
            with pytest.raises(hopx_ai.TemplateBuildError) as caught:
                await template_api.Template.build(broken, options)
            assert "exit code 7" in str(caught.value)
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()
