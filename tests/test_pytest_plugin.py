"""The pytest plugin as a user's project uses it: each async test runs on both loops with the
client for that loop, and a ``conftest.py`` picks one loop."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

TEST = """
import pytest


@pytest.mark.anyio
async def test_prints(hopx_local, hopx_sandbox_class, anyio_backend):
    async with hopx_sandbox_class.create(template="code-interpreter") as sandbox:
        result = await sandbox.run_code("print('ok')")
    assert result.stdout == "ok\\n"
    print("RAN", anyio_backend, hopx_sandbox_class.__module__)
"""


def _pytest(project: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=project,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_each_async_test_runs_on_both_loops(tmp_path: pathlib.Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["hopx_local.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(TEST)
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RAN asyncio hopx_asyncio" in done.stdout
    assert "RAN trio hopx_trio" in done.stdout
    assert "2 passed" in done.stdout


def test_a_conftest_fixture_picks_one_loop(tmp_path: pathlib.Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n"
        'pytest_plugins = ["hopx_local.pytest_plugin"]\n\n\n'
        "@pytest.fixture\n"
        "def anyio_backend():\n"
        '    return "asyncio"\n'
    )
    (tmp_path / "test_user.py").write_text(TEST)
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RAN asyncio hopx_asyncio" in done.stdout
    assert "RAN trio" not in done.stdout
    assert "1 passed" in done.stdout
