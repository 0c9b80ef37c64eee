"""What a bubblewrap sandbox contains: files, other sandboxes, processes, network, limits."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxRuntime,
    available_languages,
    isolation_warning,
    resolve_isolation,
)
from hopx_local._runtime.procfs import pids_owned_by

pytestmark = pytest.mark.anyio

ISOLATED = resolve_isolation("auto") is IsolationMode.BWRAP
needs_bwrap = pytest.mark.skipif(not ISOLATED, reason="bubblewrap is not usable here")


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    name: str = "sbx",
    *,
    internet_access: bool = False,
    limits: Limits | None = None,
) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"{name}-{secrets.token_hex(4)}",
        tmp_path / name,
        isolation=IsolationMode.BWRAP,
        internet_access=internet_access,
        limits=limits or Limits(),
        output_cap=1 << 20,
    )
    try:
        with anyio.fail_after(60):
            yield runtime
    finally:
        await runtime.shutdown()


def test_isolation_modes_resolve() -> None:
    assert resolve_isolation("none") is IsolationMode.NONE
    assert resolve_isolation(" NONE ") is IsolationMode.NONE
    with pytest.raises(ValueError, match="isolation must be"):
        resolve_isolation("docker")
    warning = isolation_warning(IsolationMode.NONE)
    assert warning is not None
    assert "host" in warning
    assert isolation_warning(IsolationMode.BWRAP) is None


def test_languages_table() -> None:
    languages = available_languages()
    assert languages["python"][0] == os.path.realpath(languages["python"][0])
    assert languages["python"][1:] == ["-u"]
    assert languages["python3"] == languages["python"]
    assert Path(languages["bash"][0]).name == "bash"


@needs_bwrap
async def test_host_files_outside_the_sandbox_are_invisible(tmp_path: Path) -> None:
    planted = Path("/root") / f"hopx-secret-{secrets.token_hex(4)}"
    planted.write_text("top secret")
    written = Path("/usr") / f"hopx-written-{secrets.token_hex(4)}"
    try:
        async with running(tmp_path) as sandbox:
            outcome = await sandbox.execute(
                f"cat {planted}; ls -a /root; ls /work 2>&1; id -u; hostname; "
                f"touch {written} /run/hopx/x; ls {written}; id -u > /workspace/who",
                "bash",
            )
    finally:
        planted.unlink()
    assert "top secret" not in outcome.stdout
    assert "No such file" in outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[:3] == [".", "..", ".pyenv"] or ".pyenv" not in str(planted)
    assert "No such file" in lines[3]
    assert lines[5] == sandbox.sandbox_id
    # Code may be root of its own user namespace, but never the host's root: what it
    # writes belongs to the sandbox's unprivileged user on the host.
    who = (sandbox.layout.workspace / "who").stat()
    assert who.st_uid != 0
    assert sandbox.owner is not None
    assert (who.st_uid, who.st_gid) == sandbox.owner
    # Its system is writable (its own layer), the host's is untouched and the emulator's
    # own files stay out of reach.
    assert lines[4] == "0"
    assert lines[6] == str(written)
    assert not written.exists()
    assert "cannot touch '/run/hopx/x'" in outcome.stderr


@needs_bwrap
async def test_sandboxes_cannot_see_each_other(tmp_path: Path) -> None:
    async with running(tmp_path, "one") as one, running(tmp_path, "two") as two:
        two.files.write("/workspace/only-two.txt", b"two's data")
        host_copy = two.layout.workspace / "only-two.txt"
        outcome = await one.execute(
            f"cat {host_copy} /workspace/only-two.txt; "
            "find /workspace /tmp /run /etc -name only-two.txt 2>/dev/null; "
            "ls /workspace /tmp",
            "bash",
        )
    assert "two's data" not in outcome.stdout
    assert "only-two" not in outcome.stdout


@needs_bwrap
async def test_host_processes_are_invisible(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute(
            "import os\n"
            "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "print(len(pids))\n"
            f"print(os.path.exists('/proc/{os.getpid()}/cmdline') and "
            f"'pytest' in open('/proc/{os.getpid()}/cmdline').read())\n",
            "python",
        )
    count, sees_us = outcome.stdout.split()
    assert int(count) <= 4
    assert sees_us == "False"


@needs_bwrap
@pytest.mark.parametrize("internet_access", [False, True])
async def test_network_follows_internet_access(tmp_path: Path, internet_access: bool) -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with running(tmp_path, internet_access=internet_access) as sandbox:
            outcome = await sandbox.execute(
                "import socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
                "    print('connected')\n"
                "except OSError as exc:\n"
                "    print('refused', type(exc).__name__)\n",
                "python",
                timeout=20,
            )
    expected = "connected" if internet_access else "refused"
    assert outcome.stdout.startswith(expected), outcome


@needs_bwrap
async def test_fork_bomb_is_contained_by_the_process_limit(tmp_path: Path) -> None:
    limits = Limits(max_processes=24)
    async with running(tmp_path, limits=limits) as sandbox:
        counted = await sandbox.execute(
            "import os, time\n"
            "children = 0\n"
            "try:\n"
            "    while children < 500:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        children += 1\n"
            "except OSError as exc:\n"
            "    print('stopped at', children, exc.errno)\n",
            "python",
            timeout=20,
        )
        started = time.monotonic()
        # The classic bomb. Its top-level shell may return at once (the forks go on in
        # orphaned subshells) or be refused forks itself, so what it prints is up to the
        # scheduler; what must hold is that the call returns in time, that nothing of the bomb
        # survives it, and that the sandbox still runs code afterwards.
        await sandbox.execute(":(){ :|:& };:; wait", "bash", timeout=3)
        elapsed = time.monotonic() - started
        assert sandbox.owner is not None
        leftovers = pids_owned_by(sandbox.owner[0])
        after = await sandbox.execute("print('still fine')", "python", timeout=20)
    words = counted.stdout.split()
    assert words[:2] == ["stopped", "at"], counted
    assert int(words[2]) < 24
    assert words[3] == "11"  # EAGAIN
    assert elapsed < 10
    assert leftovers == set()
    assert after.stdout == "still fine\n", after


@needs_bwrap
async def test_memory_hog_is_contained(tmp_path: Path) -> None:
    async with running(tmp_path, limits=Limits(memory_bytes=512 << 20)) as sandbox:
        outcome = await sandbox.execute("hog = bytearray(2 << 30)\nprint('allocated')", "python")
        after = await sandbox.execute("print('still fine')", "python")
    assert outcome.exit_code == 1
    assert "MemoryError" in outcome.stderr
    assert "allocated" not in outcome.stdout
    assert after.stdout == "still fine\n"


@needs_bwrap
async def test_file_size_limit(tmp_path: Path) -> None:
    async with running(tmp_path, limits=Limits(file_size_bytes=1 << 20)) as sandbox:
        outcome = await sandbox.execute("head -c 3000000 /dev/zero > /workspace/big", "bash")
        size = (sandbox.layout.workspace / "big").stat().st_size
    assert outcome.exit_code != 0
    assert size == 1 << 20


@needs_bwrap
async def test_code_can_change_files_written_through_the_api(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        sandbox.files.write("/workspace/data/notes.txt", b"one\n")
        outcome = await sandbox.execute(
            "echo two >> /workspace/data/notes.txt && mkdir /workspace/data/sub && echo ok",
            "bash",
        )
        content = sandbox.files.read_text("/workspace/data/notes.txt")
    assert outcome.stdout == "ok\n", outcome.stderr
    assert content == "one\ntwo\n"


def test_auto_falls_back_without_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    from hopx_local._runtime import isolation

    monkeypatch.setattr(isolation, "bwrap_path", lambda: None)
    isolation._bwrap_works.cache_clear()
    try:
        assert resolve_isolation("auto") is IsolationMode.NONE
        with pytest.raises(ValueError, match="bubblewrap"):
            resolve_isolation("bwrap")
    finally:
        isolation._bwrap_works.cache_clear()
