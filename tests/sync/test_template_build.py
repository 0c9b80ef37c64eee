"""``hopx_sync.Template.build`` blocks until the template is built (or raises
:class:`TemplateBuildError` with its log), against the emulator in a child process."""

from __future__ import annotations

import pytest

import hopx_sync
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images
from tests.e2e.emulator_process import EmulatorProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")


def _options(local: EmulatorProcess, name: str, **kw: object) -> hopx_sync.BuildOptions:
    return hopx_sync.BuildOptions(name=name, api_key=local.api_key, base_url=local.base_url, **kw)  # type: ignore[arg-type]


def test_build_blocks_until_built_and_its_log_reads_back(local: EmulatorProcess) -> None:
    lines: list[str] = []
    template = hopx_sync.create_template(f"python:{PY}").run_cmd("echo built-synchronously")
    result = hopx_sync.Template.build(
        template, _options(local, "sync-built", on_log=lambda e: lines.append(e["message"]))
    )
    assert isinstance(result, hopx_sync.BuildResult)
    assert any("built-synchronously" in line for line in lines)
    logs = result.get_logs()
    assert "built-synchronously" in logs.logs
    assert logs.complete
    again = hopx_sync.get_logs(result.template_id, local.api_key, base_url=local.base_url)
    assert again.logs == logs.logs
    streamed = [
        e["message"]
        for e in hopx_sync.Template.stream_logs(
            result.template_id, local.api_key, base_url=local.base_url
        )
    ]
    assert any("built-synchronously" in m for m in streamed)
    names = [t.name for t in hopx_sync.Sandbox.list_templates()]
    assert "sync-built" in names


def test_a_failing_build_raises_with_its_log(local: EmulatorProcess) -> None:
    template = hopx_sync.Template(f"python:{PY}").run_cmd("echo about-to-fail >&2; false")
    with pytest.raises(hopx_sync.TemplateBuildError) as caught:
        hopx_sync.Template.build(template, _options(local, "sync-broken"))
    assert caught.value.build_status == "failed"
    assert any("about-to-fail" in line for line in caught.value.logs)
