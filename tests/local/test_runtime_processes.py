"""Background processes, system process listing, pause/resume and the interactive terminal."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    ProcessRecord,
    SandboxFault,
    SandboxRuntime,
    TerminalSession,
    resolve_isolation,
)

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"sbx-proc-{secrets.token_hex(4)}",
        tmp_path / "sbx",
        isolation=resolve_isolation("auto"),
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
    )
    try:
        with anyio.fail_after(60):
            yield runtime
    finally:
        await runtime.shutdown()


async def eventually(predicate: Callable[[], object], seconds: float = 10) -> None:
    for _attempt in range(int(seconds / 0.05)):
        if predicate():
            return
        await anyio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def settled(sandbox: SandboxRuntime, process_id: str) -> ProcessRecord:
    with anyio.fail_after(15):
        while True:
            [record] = [r for r in sandbox.list_processes() if r.process_id == process_id]
            if record.status != "running":
                return record
            await anyio.sleep(0.05)


async def test_background_code_runs_and_finishes(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        ok = await sandbox.start_background("print('bg out')", "python", name="job")
        bad = await sandbox.start_background(None, argv=["bash", "-c", "echo e >&2; exit 3"])
        assert ok.process_id.startswith("proc_")
        assert bad.process_id.startswith("cmd_")
        assert ok.status == "running"
        assert ok.name == "job"
        done, failed = await settled(sandbox, ok.process_id), await settled(sandbox, bad.process_id)
        output = sandbox.process_output(ok.process_id)
        errors = sandbox.process_output(bad.process_id)
    assert (done.status, done.exit_code) == ("completed", 0)
    assert (failed.status, failed.exit_code) == ("failed", 3)
    assert done.end_time is not None
    assert done.duration is not None
    assert output == ("bg out\n", "")
    assert errors == ("", "e\n")


async def test_kill_stops_the_whole_tree(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        record = await sandbox.start_background(
            None, argv=["bash", "-c", "sleep 60 & sleep 60 & wait"]
        )

        # A forked bash is listed as bash until it has exec'd sleep: wait for both execs.
        def names() -> list[str]:
            return sorted(entry["name"] for entry in sandbox.system_processes())

        await eventually(lambda: names() == ["bash", "sleep", "sleep"])
        listed = sandbox.system_processes()
        killed = await sandbox.kill(record.process_id)
        remaining = sandbox.processes.pids()
        with pytest.raises(SandboxFault) as caught:
            await sandbox.kill("proc_missing")
    names = sorted(entry["name"] for entry in listed)
    assert names == ["bash", "sleep", "sleep"]
    assert all(entry["memory_mb"] > 0 for entry in listed)
    assert set(listed[0]) == {"pid", "name", "status", "cpu_percent", "memory_mb", "command"}
    assert (killed.status, killed.exit_code) == ("killed", 137)
    assert remaining == set()
    assert (caught.value.code, caught.value.status) == ("PROCESS_NOT_FOUND", 404)


async def test_background_timeout_kills(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        record = await sandbox.start_background("import time; time.sleep(60)", "python", timeout=1)
        final = await settled(sandbox, record.process_id)
    assert final.status == "failed"
    assert final.exit_code == 137


async def test_pause_stops_and_resume_continues(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        await sandbox.start_background(
            "import os, time\nn = 0\nwhile True:\n"
            "    n += 1\n    open('/workspace/.count', 'w').write(str(n))\n"
            "    os.replace('/workspace/.count', '/workspace/count')\n    time.sleep(0.02)",
            "python",
        )
        await eventually(lambda: sandbox.files.exists("/workspace/count"))
        sandbox.pause()
        await anyio.sleep(0.2)
        frozen = sandbox.files.read_text("/workspace/count")
        states = {entry["status"] for entry in sandbox.system_processes()}
        await anyio.sleep(0.4)
        still = sandbox.files.read_text("/workspace/count")
        assert sandbox.paused
        sandbox.resume()
        # Resumed, the counter moves on; how soon depends on the machine's load.
        await eventually(lambda: _count_if_readable(sandbox) > int(still))
        metrics = sandbox.metrics()
    assert frozen == still
    assert states == {"stopped"}
    assert metrics["process_count"] >= 1
    assert metrics["rss_bytes"] > 0
    assert metrics["running_background"] == 1


def _count_if_readable(sandbox: SandboxRuntime) -> int:
    """The counter, or -1 when a read raced its ``os.replace``: the runtime refuses a file
    that changed between its examination and its opening (PATH_NOT_ALLOWED)."""
    try:
        return int(sandbox.files.read_text("/workspace/count"))
    except SandboxFault as exc:
        if exc.code != "PATH_NOT_ALLOWED":
            raise
        return -1


async def read_until(session: TerminalSession, marker: bytes, seen: bytearray) -> None:
    with anyio.fail_after(15):
        while marker not in seen:
            chunk = await session.read()
            assert chunk, f"terminal ended before {marker!r}: {bytes(seen)!r}"
            seen += chunk


async def test_terminal_echo_resize_and_exit_code(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        session = await sandbox.open_terminal(80, 24, {"GREETING": "hi"})
        seen = bytearray()
        try:
            await session.write(b"echo $GREETING-$((6 * 7))\n")
            await read_until(session, b"hi-42", seen)
            await session.write(b"stty size; tty >/dev/null; echo job:$(jobs | wc -l)\n")
            await read_until(session, b"24 80", seen)
            session.resize(100, 30)
            await session.write(b"stty size\n")
            await read_until(session, b"30 100", seen)
            await session.write(b"exit 3\n")
            with anyio.fail_after(15):
                while await session.read():
                    pass
            code = await session.wait()
        finally:
            await session.aclose()
    assert code == 3
    assert b"no job control" not in seen


async def test_terminal_close_kills_the_shell(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        session = await sandbox.open_terminal(80, 24)
        await session.write(b"sleep 60\n")
        await anyio.sleep(0.3)
        await session.aclose()
        assert session.process.returncode is not None
        assert sandbox.processes.pids() == set()
        assert await session.read() == b""


@pytest.mark.skipif(
    resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
)
async def test_terminal_is_inside_the_sandbox(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        session = await sandbox.open_terminal(80, 24)
        seen = bytearray()
        try:
            await session.write(b"echo at:$(pwd):$(hostname):$(id -un)\n")
            # Root of its own user namespace where the sandbox's system is writable.
            user = "root" if sandbox.writable_system else "user"
            await read_until(session, f"at:/workspace:{sandbox.sandbox_id}:{user}".encode(), seen)
        finally:
            await session.aclose()
