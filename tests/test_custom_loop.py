"""examples/custom_loop.py runs end to end against the emulator, driven by ``hopx-local run``."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_loop.py"


def _run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_custom_loop_creates_runs_streams_and_kills(tmp_path: pathlib.Path) -> None:
    done = _run(
        sys.executable, "-m", "hopx_local", "run", "--state-dir", str(tmp_path),
        "--", sys.executable, str(EXAMPLE),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    created = [line for line in lines if line.startswith("created sandbox ")]
    assert len(created) == 1, done.stdout
    sandbox_id = created[0].split()[2]
    assert "(running) at http://127.0.0.1:" in created[0]
    assert "execute.run: exit_code=0 stdout='42'" in lines
    assert "  stream result: exit_code=0" in lines
    assert "  stream complete: exit_code=0" in lines
    assert "  stream closed (1000)" in lines
    assert "streamed stdout='tick 0\\ntick 1\\ntick 2\\n' stderr='oops\\n'" in lines
    assert lines[-1] == f"killed sandbox {sandbox_id}"
    # The emulator saw each call once; the plain ones in order (the upgrade is logged when
    # its connection ends, which may be after the next request arrived).
    log = done.stderr
    steps = [
        "control POST /v1/sandboxes 201",
        "POST /execute 200",
        f"control DELETE /v1/sandboxes/{sandbox_id} 200",
    ]
    positions = [log.find(step) for step in steps]
    assert -1 not in positions, log
    assert positions == sorted(positions), log
    assert log.count("GET /execute/stream 101") == 1, log


def test_custom_loop_reports_a_wrong_key_as_authentication_error(tmp_path: pathlib.Path) -> None:
    done = _run(
        sys.executable, "-m", "hopx_local", "run", "--state-dir", str(tmp_path),
        "--api-key", "right-key", "--", sys.executable, "-c",
        "import os, runpy, sys; os.environ['HOPX_API_KEY'] = 'wrong-key'; "
        f"sys.argv = [{str(EXAMPLE)!r}]; runpy.run_path(sys.argv[0], run_name='__main__')",
    )  # fmt: skip
    assert done.returncode == 1
    assert "AuthenticationError" in done.stderr
    assert "created sandbox" not in done.stdout


def test_custom_loop_needs_a_base_url() -> None:
    env = {"HOPX_BASE_URL": "", "HOPX_API_KEY": "k"}
    done = _run(sys.executable, str(EXAMPLE), env=env)
    assert done.returncode == 1
    assert "LocalProtocolError" in done.stderr
    assert "HOPX_BASE_URL is empty" in done.stderr
