"""``Template.build`` against hopx-local, on asyncio and trio: a chain of steps with a
``COPY`` and a ``wait_for_port`` start command, its cache, its log as callbacks, and the
failures a build reports as :class:`TemplateBuildError` with its log."""

from __future__ import annotations

import pathlib
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")
BUILD_LIMIT = 240

SERVER = (
    "import http.server as h; h.test(h.SimpleHTTPRequestHandler, port={port}, bind='127.0.0.1')"
)


def _context(tmp_path: pathlib.Path) -> pathlib.Path:
    app = tmp_path / "ctx" / "app"
    app.mkdir(parents=True)
    (app / "main.py").write_text("print('hello from the template')\n")
    (app / "data").mkdir()
    (app / "data" / "words.txt").write_text("alpha\nbeta\n")
    return tmp_path / "ctx"


def _options(adapter: Any, local: hopx_local.LocalServer, name: str, **kw: Any) -> Any:
    return adapter.BuildOptions(name=name, api_key=local.api_key, base_url=local.base_url, **kw)


async def test_a_chain_with_copy_and_a_port_check_builds_and_is_cached(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = _context(tmp_path)
    logs: list[dict[str, Any]] = []
    progress: list[int] = []
    template = (
        adapter.Template()
        .from_python_image(PY)
        .set_env("GREETING", "hi")
        .set_workdir("/app")
        .copy("app/", "/app")
        .run_cmd('echo "$GREETING $(pwd)" > built.txt && cat data/words.txt | wc -l >> built.txt')
        .set_start_cmd(
            SERVER.format(port=port).join(['python3 -c "', '"']),
            adapter.wait_for_port(port, timeout=60000, interval=500),
        )
    )
    options = _options(
        adapter,
        local,
        "chain",
        context_path=str(context),
        on_log=logs.append,
        on_progress=progress.append,
    )
    with anyio.fail_after(BUILD_LIMIT):
        result = await adapter.Template.build(template, options)
    assert result.template_id and result.build_id
    messages = [entry["message"] for entry in logs]
    assert any("COPY app/ /app" in m for m in messages), messages
    assert any("ready: port" in m for m in messages), messages
    assert progress and progress[-1] == 100 or progress  # reported from the status polls
    built = await adapter.AsyncSandbox.get_template(result.template_id)
    assert built.name == "chain" and built.status == "active"
    names = [t.name for t in await adapter.AsyncSandbox.list_templates()]
    assert "chain" in names
    server_side = local.fleet.builds.store
    record = server_side.find("chain")
    assert record is not None
    (tree,) = hopx_local_layers(server_side, record)
    assert (tree / "app" / "main.py").read_text() == "print('hello from the template')\n"
    assert (tree / "app" / "built.txt").read_text().split() == ["hi", "/app", "2"]
    assert record.env == {"GREETING": "hi"} and record.workdir == "/app"
    first = await result.get_logs()
    assert "Step 4/4: RUN" in first.logs and first.complete

    again: list[dict[str, Any]] = []
    with anyio.fail_after(BUILD_LIMIT):
        await adapter.Template.build(
            template,
            _options(
                adapter, local, "chain", context_path=str(context), on_log=again.append, update=True
            ),
        )
    cached = [e["message"] for e in again]
    assert sum("using cache" in m for m in cached) == 2, cached  # the COPY and the RUN

    deleted = await adapter.AsyncSandbox.delete_template(result.template_id)
    assert deleted["deleted"] is True
    assert "chain" not in [t.name for t in await adapter.AsyncSandbox.list_templates()]


def hopx_local_layers(store: Any, record: Any) -> list[pathlib.Path]:
    from hopx_local._templates.store import layers_of

    return layers_of(store, record)


async def test_a_failing_step_raises_template_build_error_with_its_log(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.create_template(f"python:{PY}").run_cmd("echo before-failing; exit 3")
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "broken"))
    err = caught.value
    assert err.build_status == "failed" and err.build_id and err.template_id
    assert "exit code 3" in (err.error_details or "")
    assert any("before-failing" in line for line in err.logs), err.logs
    assert isinstance(err.metadata, adapter.TemplateBuildErrorMetadata)


async def test_a_start_command_that_never_gets_ready_fails_after_its_timeout(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = (
        adapter.Template(f"python:{PY}")
        .run_cmd("true")
        .set_start_cmd("sleep 600", adapter.wait_for_file("/app/never", timeout=2000, interval=500))
    )
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "never-ready"))
    assert "not ready within 2000 ms" in (caught.value.error_details or "")


async def test_a_missing_base_image_names_what_the_host_has(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template("python:2.7").run_cmd("true")
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "old-python"))
    details = caught.value.error_details or ""
    assert "python:2.7" in details and f"python:{PY}" in details
