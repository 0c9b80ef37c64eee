"""``hopx-local serve`` interrupted while sandboxes run processes: every process dies, the
registry says ``stopped``, and a restart lists the sandboxes with their files.

The server runs as a child process; every wait is bounded.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import signal
import subprocess
import time
from typing import Any

import anyio
import pytest
from test_server_support import (
    WAIT,
    RawWebSocket,
    api,
    bearer,
    call,
    create_sandbox,
    doc,
    read_base_url,
    start_serve,
)

from hopx_local._runtime.registry import Registry

pytestmark = pytest.mark.slow

KEY = "shutdown-key"
#: How long the server may take to stop, and the processes to be gone after that.
STOP_WAIT = 20.0
GONE_WAIT = 5.0


def _start(state: pathlib.Path, isolation: str, log: pathlib.Path) -> subprocess.Popen[str]:
    return start_serve(state, KEY, log, "--isolation", isolation)


def _stop(proc: subprocess.Popen[str], signum: int | None = None) -> int:
    try:
        if signum is not None:
            proc.send_signal(signum)
        return proc.wait(timeout=STOP_WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _pids_running(marker: str) -> set[int]:
    """Processes whose command line mentions ``marker`` (zombies excluded)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
            state = pathlib.Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.add(int(entry))
    return found


async def _busy_sandboxes(base_url: str, marker: str) -> tuple[list[dict[str, Any]], RawWebSocket]:
    """Two sandboxes, each with a file, a background command, background code and (in the
    first) a live execution stream; the open stream is returned."""
    sandboxes = []
    for index in range(2):
        sb = await create_sandbox(base_url, KEY)
        host, token = sb["public_host"], bearer(sb["auth_token"])
        wrote = await call(
            host,
            "POST",
            "/files/write",
            headers=token,
            json_body={"path": "/workspace/note.txt", "content": f"note {index}"},
        )
        assert wrote.status == 200, wrote.body
        command = await call(
            host,
            "POST",
            "/commands/background",
            headers=token,
            json_body={"command": "sleep", "args": [marker], "timeout": 600},
        )
        assert command.status == 200, command.body
        code = await call(
            host,
            "POST",
            "/execute/background",
            headers=token,
            json_body={"code": f"sleep {marker}", "language": "bash", "timeout": 600},
        )
        assert code.status == 200, code.body
        sandboxes.append(sb)
    first = sandboxes[0]
    ws = await RawWebSocket.connect(first["public_host"], "/execute/stream", first["auth_token"])
    await ws.send_json(
        {
            "type": "execute",
            "language": "bash",
            "timeout": 600,
            "code": f"echo started; sleep {marker}",
        }
    )
    message = await ws.receive_json()
    assert message is not None
    assert message["type"] == "stdout"
    return sandboxes, ws


async def _interrupt_busy_server(
    proc: subprocess.Popen[str], signum: int, marker: str
) -> tuple[list[dict[str, Any]], int]:
    """Make the sandboxes busy, then signal the server while the stream is being read."""
    base_url = await anyio.to_thread.run_sync(read_base_url, proc)
    sandboxes, ws = await _busy_sandboxes(base_url, marker)
    try:
        # A program started by a shell may still be on its way to exec when the shell's
        # output arrives; wait (bounded) for all five to show.
        for _attempt in range(100):
            if len(_pids_running(marker)) >= 5:
                break
            await anyio.sleep(0.05)
        assert len(_pids_running(marker)) >= 5, "the sandboxes' processes did not start"
        proc.send_signal(signum)
        code = await anyio.to_thread.run_sync(_stop, proc)
        # The stream ends with the server (no complete message).
        with anyio.fail_after(WAIT):
            rest = await ws.messages_until_close()
        assert not any(m["type"] == "complete" for m in rest)
    finally:
        await ws.close()
    return sandboxes, code


async def _after_restart(base_url: str, sandboxes: list[dict[str, Any]]) -> None:
    listed = await call(base_url, "GET", "/v1/sandboxes", headers=api(KEY))
    statuses = {s["id"]: s["status"] for s in doc(listed)["data"]}
    assert statuses == {sb["id"]: "stopped" for sb in sandboxes}
    for index, sb in enumerate(sandboxes):
        started = await call(base_url, "POST", f"/v1/sandboxes/{sb['id']}/start", headers=api(KEY))
        assert started.status == 200, started.body
        host = doc(started)["public_host"]
        token = await call(
            base_url, "POST", f"/v1/sandboxes/{sb['id']}/token/refresh", headers=api(KEY)
        )
        read = await call(
            host,
            "GET",
            "/files/read?path=/workspace/note.txt",
            headers=bearer(doc(token)["auth_token"]),
        )
        assert doc(read)["content"] == f"note {index}"


@pytest.mark.parametrize(
    ("signum", "isolation"),
    [(signal.SIGTERM, "auto"), (signal.SIGINT, "auto"), (signal.SIGTERM, "none")],
)
def test_interrupted_server_kills_everything_and_keeps_the_records(
    tmp_path: pathlib.Path, signum: int, isolation: str
) -> None:
    state = tmp_path / "state"
    log = tmp_path / "server.log"
    marker = str(10**6 + secrets.randbelow(10**6))
    proc = _start(state, isolation, log)
    try:
        sandboxes, code = anyio.run(_interrupt_busy_server, proc, signum, marker)
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert code == 0, log.read_text()
    deadline = time.monotonic() + GONE_WAIT
    while _pids_running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pids_running(marker) == set(), "processes survived the server"
    registry = Registry(state / "registry.sqlite3")
    try:
        records, _cursor = registry.list()
        assert {r.id: r.status for r in records} == {sb["id"]: "stopped" for sb in sandboxes}
    finally:
        registry.close()
    restarted = _start(state, isolation, log)
    try:
        anyio.run(_after_restart, read_base_url(restarted), sandboxes)
        assert _stop(restarted, signal.SIGTERM) == 0
    finally:
        if restarted.poll() is None:
            _stop(restarted)
    assert _pids_running(marker) == set()
