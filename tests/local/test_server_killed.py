"""``hopx-local serve`` killed with SIGKILL (no chance to clean up): no process any sandbox
started survives it, with bubblewrap or as plain processes, whether it stayed in its session
or started a new one. The server runs as a child process; every wait is bounded."""

from __future__ import annotations

import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time

import anyio
import pytest
from test_server_support import bearer, call, create_sandbox, read_base_url

pytestmark = pytest.mark.slow

KEY = "killed-key"


def _marked(marker: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.add(int(entry))
    return found


async def _busy(base_url: str, marker: str) -> None:
    sandbox = await create_sandbox(base_url, KEY)
    host, token = sandbox["public_host"], bearer(sandbox["auth_token"])
    for body in (
        {"command": "sleep", "args": [marker], "timeout": 600},
        {"command": "bash", "args": ["-c", f"setsid sleep {marker} & sleep {marker}"]},
    ):
        started = await call(host, "POST", "/commands/background", headers=token, json_body=body)
        assert started.status == 200, started.body


@pytest.mark.parametrize("isolation", ["auto", "none"])
def test_nothing_survives_a_killed_server(tmp_path: pathlib.Path, isolation: str) -> None:
    marker = str(10**6 + secrets.randbelow(10**6))
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0", "--api-key", KEY]
    command += ["--state-dir", str(tmp_path / "state"), "--isolation", isolation]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        anyio.run(_busy, read_base_url(proc), marker)
        for _attempt in range(100):
            if len(_marked(marker)) >= 4:
                break
            time.sleep(0.05)
        assert len(_marked(marker)) >= 4, "the sandbox's processes did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    for _attempt in range(100):
        if not _marked(marker):
            break
        time.sleep(0.05)
    assert _marked(marker) == set(), "processes survived the server"
