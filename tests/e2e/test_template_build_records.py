"""Build records outlive the server, on asyncio and trio: a finished build's status and log are
answered by the next server, and a build that was running when the server was killed shows as
failed, saying why, with the log it had so far."""

from __future__ import annotations

import functools
import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images
from hopx_proto.ops import (
    TEMPLATES_BUILD,
    TEMPLATES_BUILD_LOGS,
    TEMPLATES_BUILD_STATUS,
    BuildId,
    BuildLogsQuery,
    BuildTemplate,
)

from .emulator_process import _read_base_url

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")
LIMIT = 240


async def test_a_finished_build_is_answered_for_after_a_restart(
    adapter: Any, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    template = adapter.Template(f"python:{PY}").run_cmd("echo kept-log-line")
    with anyio.fail_after(LIMIT):
        async with hopx_local.serve(state_dir=state) as local:
            options = adapter.BuildOptions(
                name="kept", api_key=local.api_key, base_url=local.base_url
            )
            result = await adapter.Template.build(template, options)
        record = json.loads(
            (state / "templates" / "builds" / f"{result.build_id}.json").read_text()
        )
        assert record["status"] == "active"
        async with (
            hopx_local.serve(state_dir=state) as local,
            adapter.Client(api_key=local.api_key, base_url=local.base_url) as client,
        ):
            status = await client.call(TEMPLATES_BUILD_STATUS, BuildId(build_id=result.build_id))
            assert (status.status, status.progress) == ("active", 100)
            assert status.template_id == result.template_id
            logs = await client.call(
                TEMPLATES_BUILD_LOGS, BuildLogsQuery(build_id=result.template_id)
            )
            assert logs.complete
            assert "  kept-log-line" in logs.logs.splitlines()
            names = [
                t.name
                for t in await adapter.AsyncSandbox.list_templates(
                    api_key=local.api_key, base_url=local.base_url
                )
            ]
            assert "kept" in names
            # A new build gets a template id of its own.
            started = await client.call(
                TEMPLATES_BUILD,
                BuildTemplate(
                    name="another",
                    from_image=f"python:{PY}",
                    steps=[{"type": "RUN", "args": ["true"]}],
                ),
            )
            assert started.template_id != result.template_id


async def test_a_build_running_when_the_server_is_killed_shows_as_failed(
    adapter: Any, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    key = "sk_local_" + os.urandom(8).hex()
    argv = [sys.executable, "-m", "hopx_local", "serve", "--port", "0"]
    argv += ["--state-dir", str(state), "--api-key", key]
    server = await anyio.to_thread.run_sync(
        functools.partial(
            subprocess.Popen,
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=tmp_path,
        )
    )
    try:
        base_url = await anyio.to_thread.run_sync(_read_base_url, server, 60.0)
        async with adapter.Client(api_key=key, base_url=base_url) as client:
            started = await client.call(
                TEMPLATES_BUILD,
                BuildTemplate(
                    name="interrupted",
                    from_image=f"python:{PY}",
                    steps=[{"type": "RUN", "args": ["echo slow-step-started; sleep 300"]}],
                ),
            )
            path = state / "templates" / "builds" / f"{started.build_id}.json"
            with anyio.fail_after(LIMIT):
                while True:  # until the record on disk has the step's first line
                    try:
                        if "slow-step-started" in json.loads(path.read_text())["text"]:
                            break
                    except (OSError, ValueError):
                        pass
                    await anyio.sleep(0.2)
            assert json.loads(path.read_text())["status"] == "building"
            server.send_signal(signal.SIGKILL)
            await anyio.to_thread.run_sync(server.wait, 60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(60)
        assert server.stdout is not None
        server.stdout.close()

    with anyio.fail_after(LIMIT):
        async with (
            hopx_local.serve(state_dir=state) as local,
            adapter.Client(api_key=local.api_key, base_url=local.base_url) as client,
        ):
            status = await client.call(TEMPLATES_BUILD_STATUS, BuildId(build_id=started.build_id))
            assert status.status == "failed"
            assert "server stopped during the build" in (status.error_message or "")
            assert status.completed_at is not None
            logs = await client.call(
                TEMPLATES_BUILD_LOGS, BuildLogsQuery(build_id=started.template_id)
            )
            assert logs.complete
            assert "  slow-step-started" in logs.logs.splitlines()
            assert "server stopped during the build" in logs.logs.splitlines()[-1]
            assert local.fleet.builds.store.find("interrupted") is None
            # The name is free to be built again, and nothing of the old build is left.
            assert list((state / "templates" / "scratch").iterdir()) == []
            options = adapter.BuildOptions(
                name="interrupted", api_key=local.api_key, base_url=local.base_url
            )
            again = await adapter.Template.build(
                adapter.Template(f"python:{PY}").run_cmd("true"), options
            )
            assert again.build_id != started.build_id
    assert (
        json.loads((state / "templates" / "builds" / f"{started.build_id}.json").read_text())[
            "status"
        ]
        == "failed"
    )


async def test_records_a_crash_left_behind_are_read_as_what_they_are(
    adapter: Any, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    with anyio.fail_after(LIMIT):
        async with hopx_local.serve(state_dir=state) as local:
            options = adapter.BuildOptions(
                name="kept-first", api_key=local.api_key, base_url=local.base_url
            )
            result = await adapter.Template.build(
                adapter.Template(f"python:{PY}").run_cmd("true"), options
            )
        builds = state / "templates" / "builds"
        # Killed after keeping the template, before its record said so.
        path = builds / f"{result.build_id}.json"
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "status": "building", "completed_at": None}))
        # Records no server could have written: skipped, never fatal.
        (builds / "garbage.json").write_text("{not json")
        (builds / "wrong.json").write_text(json.dumps({"build_id": 7, "status": []}))
        (builds / "list.json").write_text("[1, 2]")
        async with (
            hopx_local.serve(state_dir=state) as local,
            adapter.Client(api_key=local.api_key, base_url=local.base_url) as client,
        ):
            status = await client.call(TEMPLATES_BUILD_STATUS, BuildId(build_id=result.build_id))
            assert (status.status, status.error_message) == ("active", None)
            logs = await client.call(
                TEMPLATES_BUILD_LOGS, BuildLogsQuery(build_id=result.template_id)
            )
            assert "server stopped" not in logs.logs
            assert logs.complete
            assert set(local.fleet.builds.builds) == {result.build_id}
    assert json.loads(path.read_text())["status"] == "active"
