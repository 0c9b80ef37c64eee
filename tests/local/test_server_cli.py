"""The ``hopx-local`` command and the pytest fixture."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from hopx_local import LocalServer
from hopx_local._cli import main

pytestmark = pytest.mark.slow

_PROBE = (
    "import json, os, urllib.request\n"
    "req = urllib.request.Request(os.environ['HOPX_BASE_URL'] + '/v1/templates',"
    " headers={'X-API-Key': os.environ['HOPX_API_KEY']})\n"
    "names = [t['name'] for t in json.load(urllib.request.urlopen(req, timeout=10))['data']]\n"
    "print(' '.join(sorted(names)))\n"
    "raise SystemExit(7)\n"
)


def test_run_passes_the_server_and_returns_the_exit_code(
    capfd: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", "--api-key", "cli-key", "--", sys.executable, "-c", _PROBE])
    assert code == 7
    out = capfd.readouterr().out
    assert "base code-interpreter" in out


def test_run_without_a_command() -> None:
    assert main(["run"]) == 2


def test_serve_prints_url_and_key_and_stops_on_sigterm(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hopx_local",
            "serve",
            "--port",
            "0",
            "--api-key",
            "k1",
            "--state-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("hopx-local listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[-1].strip()
        lines = [proc.stdout.readline() for _ in range(3)]
        assert "  HOPX_API_KEY=k1\n" in lines
        request = urllib.request.Request(url + "/v1/sandboxes", headers={"X-API-Key": "k1"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert json.load(reply)["data"] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "control GET /v1/sandboxes 200" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_without_isolation_says_so_at_start(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0", "--api-key", "k2"]
    command += ["--state-dir", str(tmp_path), "--isolation", "none"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert "(isolation: none)" in lines[3]
        assert lines[4].startswith("  WARNING: sandboxes run as plain host processes")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


pytest_plugins = ["hopx_local.pytest_plugin"]


def test_fixture_sets_the_environment(hopx_local: LocalServer) -> None:
    assert os.environ["HOPX_BASE_URL"] == hopx_local.base_url
    assert os.environ["HOPX_API_KEY"] == hopx_local.api_key
    started = time.monotonic()
    request = urllib.request.Request(hopx_local.base_url + "/health")
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert json.load(reply)["status"] == "ok"
    assert time.monotonic() - started < 10
