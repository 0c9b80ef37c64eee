"""The Jupyter kernel of a sandbox is one of its processes: inside its isolation, gone with it,
and never in the way of another sandbox."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import IsolationMode, Limits, SandboxRuntime, resolve_isolation
from hopx_local._runtime.kernel import (
    SandboxKernel,
    bundle_outputs,
    checked_outputs,
    kernel_support,
)
from hopx_local._runtime.launches import init_owner

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not kernel_support().available, reason=kernel_support().reason),
]

MODES = [resolve_isolation("auto"), IsolationMode.NONE]
if MODES[0] is IsolationMode.NONE:
    MODES = MODES[:1]


@contextlib.asynccontextmanager
async def kernel_sandbox(
    tmp_path: Path, mode: IsolationMode, name: str = "sbx"
) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"sbx-kernel-{secrets.token_hex(4)}",
        tmp_path / name,
        isolation=mode,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        kernel=True,
    )
    try:
        with anyio.fail_after(120):
            yield runtime
    finally:
        await runtime.shutdown()


def _host_uids(pid: int) -> set[str]:
    """The real, effective, saved and file-system uids of a host process."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return set(next(line for line in status if line.startswith("Uid:")).split()[1:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].startswith(" Z")


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
async def test_the_kernel_is_a_process_of_the_sandbox(tmp_path: Path, mode: IsolationMode) -> None:
    async with kernel_sandbox(tmp_path, mode) as sandbox:
        probe = await sandbox.execute(
            "import os, socket\nprint(os.getcwd())\nprint(socket.gethostname())", "python"
        )
        assert probe.exit_code == 0, probe.stderr
        pids = sandbox.processes.pids()
        assert pids, "the kernel is one of the sandbox's processes"
        if mode is IsolationMode.BWRAP:
            assert probe.stdout.split() == ["/workspace", sandbox.sandbox_id]
            inside = await sandbox.execute(
                "print(os.getuid(), os.getpid(), open('/proc/1/cmdline').read().split(chr(0))[0])",
                "python",
            )
            # As "user" (as root of its own user namespace where the system is writable),
            # below a reaper of its own (pid 1 of its namespace, a fork of the init).
            uid = "0" if sandbox.writable_system else "1000"
            assert inside.stdout.split() == [uid, "2", "hopx-init"]
            # Never the host's root: every process is one of the sandbox's own users.
            init_ids = init_owner(sandbox.owner)
            assert sandbox.owner is not None
            assert init_ids is not None
            allowed = {str(sandbox.owner[0]), str(init_ids[0])}
            for pid in sandbox.processes.pids():
                assert _host_uids(pid) <= allowed, pid
        listing = await sandbox.execute("print(sorted(os.listdir('.')))", "python")
        assert listing.stdout == "[]\n", "the kernel leaves nothing in /workspace"
    assert not any(_alive(pid) for pid in pids)


async def test_a_busy_kernel_does_not_hold_up_another_sandbox(tmp_path: Path) -> None:
    async with (
        kernel_sandbox(tmp_path, MODES[0], "one") as one,
        kernel_sandbox(tmp_path, MODES[0], "two") as two,
    ):
        await one.execute("pass", "python")
        await two.execute("pass", "python")
        release = tmp_path / "one" / "workspace" / "go"
        finished = anyio.Event()

        async def slow() -> None:
            code = "import os, time\nwhile not os.path.exists('go'): time.sleep(0.05)"
            await one.execute(code, "python", timeout=60)
            finished.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            other = await two.execute("print(6 * 7)", "python")
            assert other.stdout == "42\n"
            assert not finished.is_set()
            release.write_text("")
        assert finished.is_set()


async def test_cells_of_one_sandbox_take_turns(tmp_path: Path) -> None:
    async with kernel_sandbox(tmp_path, MODES[0]) as sandbox:
        await sandbox.execute("n = 0", "python")
        results: list[str] = []

        async def bump(i: int) -> None:
            done = await sandbox.execute(f"n += 1\nprint({i}, n)", "python")
            results.append(done.stdout)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(bump, i)
        assert sorted(int(line.split()[1]) for line in results) == [1, 2, 3, 4, 5]
        sessions = sandbox.kernel_sessions()
        assert [s["execution_state"] for s in sessions] == ["idle"]


def test_display_bundles_become_one_output_per_rich_type() -> None:
    figure = {"image/png": "iVBO", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    table = {"text/html": '<table class="dataframe">', "text/plain": "   a"}
    assert bundle_outputs(figure) == [
        {
            "type": "image/png",
            "format": "base64",
            "data": "iVBO",
            "metadata": {"source": "matplotlib", "size": 4},
        }
    ]
    assert bundle_outputs(table)[0]["metadata"]["source"] == "pandas"
    assert bundle_outputs({"text/plain": "2"}) == []
    both = bundle_outputs({"text/html": "<b>", "application/json": {"a": 1}})
    assert [o["type"] for o in both] == ["text/html", "application/json"]
    assert both[1]["metadata"]["source"] == "other"


def test_outputs_of_the_wrong_shape_are_left_out_with_a_reason() -> None:
    deep: list[object] = []
    inner = deep
    for _level in range(100):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    outputs, notes = checked_outputs(
        {
            "image/png": 123,
            "text/html": "<b>ok</b>",
            "application/json": {"deep": deep},
            "application/vnd.plotly.v1+json": "not json",
        }
    )
    assert [o["type"] for o in outputs] == ["text/html"]
    assert notes == [
        "a display output of type image/png was dropped: its data is int, not text",
        "a display output of type application/json was dropped: it nests deeper than 64 levels",
        "a display output of type application/vnd.plotly.v1+json was dropped: its data is str,"
        " not a JSON object or array",
    ]
    assert bundle_outputs({"application/json": {"a": [[{"b": 1}]]}})[0]["data"] == {
        "a": [[{"b": 1}]]
    }


def test_a_display_that_does_not_parse_is_noted_and_nothing_else_is(tmp_path: Path) -> None:
    kernel = SandboxKernel(tmp_path / "kernel", "/kernel", None)
    kernel.prepare()
    session = kernel._session
    parent = {"msg_id": "cell-1"}

    def frames(kind: str) -> list[bytes]:
        sent = session.serialize(session.msg(kind, {"data": {}}, parent=parent))
        sent[-1] = b"[" * 100_000  # content nested past any parser, its signature broken
        return [bytes(frame) for frame in sent]

    noted = kernel._parse(frames("display_data"))
    assert noted is not None
    assert noted["unreadable"] is True
    assert noted["parent_header"] == parent
    assert noted["msg_type"] == "display_data"
    assert kernel._parse(frames("status")) is None
    assert kernel._parse([b"not", b"a message"]) is None


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
async def test_a_kernel_that_cannot_start_says_why(tmp_path: Path, mode: IsolationMode) -> None:
    from hopx_local._runtime.errors import SandboxFault

    async with kernel_sandbox(tmp_path, mode) as sandbox:
        # An interpreter with no standard library dies before the kernel says a word.
        sandbox.env_update({"PYTHONHOME": "/nonexistent"})
        with pytest.raises(SandboxFault) as info:
            await sandbox.execute("print(1)", "python")
        assert info.value.code == "EXECUTION_FAILED"
        message = str(info.value)
        assert "the Python kernel did not start (it exited)" in message
        assert "its last words:" in message
        # Put right, the next call starts a kernel that works.
        sandbox.env_set({})
        assert (await sandbox.execute("print(1)", "python")).stdout == "1\n"


def test_sealing_never_closes_the_kernels_directory_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Right after binding its sockets the kernel opens its connection file through this
    # directory; the server takes the directory back at that moment. At no point may the
    # directory be closed to the kernel's user (a root-owned 0700 would be, for an instant).
    host_dir = tmp_path / "kernel"
    host_dir.mkdir(mode=0o700)
    sockets = []
    for port in range(1, 6):
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(host_dir / f"k-{port}"))
        sockets.append(sock)
    owner = (os.geteuid(), os.getegid())
    kernel = SandboxKernel(host_dir, "/run/k", owner)
    modes: list[int] = []
    real_chown = os.chown

    def chown(path: object, uid: int, gid: int) -> None:
        modes.append(stat.S_IMODE(os.stat(host_dir).st_mode))
        real_chown(path, uid, gid)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "chown", chown)
    try:
        kernel._seal()
    finally:
        for sock in sockets:
            sock.close()
    assert modes, "the directory was not taken back"
    assert all(mode & 0o005 == 0o005 for mode in modes), [oct(m) for m in modes]
    assert stat.S_IMODE(os.stat(host_dir).st_mode) == 0o755
