"""The file API of a running bubblewrap sandbox sees the sandbox's whole filesystem, as a VM's
agent sees its disk, and nothing of the host's: paths resolve inside the sandbox's own root
(``..`` stops there, links are sandbox paths), the kernel's trees are refused, and writes land
only in the sandbox's own writable layer, never at its top, in ``/run`` or over a mount point."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxFault,
    SandboxRuntime,
    resolve_isolation,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a writable system needs a root server")


@contextlib.asynccontextmanager
async def running(root: Path, *, writable_system: bool = True) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"sbx-sys-{secrets.token_hex(4)}",
        root,
        isolation=IsolationMode.BWRAP,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        writable_system=writable_system,
    )
    try:
        with anyio.fail_after(90):
            await runtime.start()
        yield runtime
    finally:
        with anyio.fail_after(60):
            await runtime.shutdown()


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[SandboxRuntime]:
    async with running(tmp_path / "sandbox") as runtime:
        yield runtime


async def fault_of(call: Awaitable[Any]) -> SandboxFault:
    with pytest.raises(SandboxFault) as caught:
        await call
    return caught.value


async def sh(runtime: SandboxRuntime, script: str) -> str:
    outcome = await runtime.execute(script, "bash", timeout=60)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stdout


async def test_system_files_are_read_as_the_sandbox_sees_them(sandbox: SandboxRuntime) -> None:
    inside = await sh(sandbox, "cat /etc/os-release")
    assert inside
    assert await sandbox.read_text("/etc/os-release") == inside
    assert await sandbox.exists("/usr/bin")
    names = {entry["name"] for entry in await sandbox.list("/")}
    assert {"usr", "etc", "workspace", "tmp"} <= names
    for missing in ("/opt/missing", "/nonexistent/file", "/usr/no-such-dir/x"):
        assert (await fault_of(sandbox.read_text(missing))).code == "FILE_NOT_FOUND"
        assert not await sandbox.exists(missing)
    assert (await fault_of(sandbox.list("/opt/missing"))).code == "FILE_NOT_FOUND"
    assert (await fault_of(sandbox.read_text("/"))).code == "INVALID_PATH"


async def test_dot_dot_stops_at_the_sandboxs_root(sandbox: SandboxRuntime) -> None:
    inside = await sh(sandbox, "cat /etc/passwd")
    for path in ("/workspace/../../../../etc/passwd", "/../../etc/passwd", "../../etc/passwd"):
        assert await sandbox.read_text(path) == inside
    host = await anyio.Path("/etc/passwd").read_text()
    assert inside != host


async def test_links_resolve_inside_the_sandbox_never_on_the_host(
    sandbox: SandboxRuntime, tmp_path: Path
) -> None:
    secret = tmp_path / f"secret-{secrets.token_hex(4)}"
    secret.write_text("HOST SECRET\n")
    await sh(
        sandbox,
        f"ln -s /etc/os-release /workspace/abs && ln -s {secret} /workspace/host"
        " && ln -s /etc/shadow /workspace/shadow && ln -s /root/.ssh/id_rsa /workspace/key"
        " && ln -s ../../../../../../../etc/passwd /workspace/rel",
    )
    assert await sandbox.read_text("/workspace/abs") == await sh(sandbox, "cat /etc/os-release")
    assert await sandbox.read_text("/workspace/rel") == await sh(sandbox, "cat /etc/passwd")
    for link in ("/workspace/host", "/workspace/shadow", "/workspace/key"):
        assert (await fault_of(sandbox.read_text(link))).code == "FILE_NOT_FOUND", link
    # Writing through the link makes the file inside the sandbox, not on the host.
    await sandbox.write("/workspace/host", b"written from the API\n")
    assert secret.read_text() == "HOST SECRET\n"
    assert await sh(sandbox, f"cat {secret}") == "written from the API\n"
    # A link is listed and removed as a link.
    listed = {entry["name"]: entry for entry in await sandbox.list("/workspace")}
    assert listed["shadow"]["permissions"].startswith("l")
    await sandbox.remove("/workspace/shadow")
    assert not await sandbox.exists("/workspace/shadow")


async def test_symlink_loops_are_refused(sandbox: SandboxRuntime) -> None:
    await sh(
        sandbox,
        "ln -s /workspace/b /workspace/a && ln -s /workspace/a /workspace/b"
        " && ln -s self /workspace/self && ln -s /opt/up /opt/up",
    )
    for path in ("/workspace/a", "/workspace/self/x", "/opt/up"):
        failure = await fault_of(sandbox.read_text(path))
        assert failure.code == "INVALID_PATH"
        assert "symbolic links" in failure.message
    await sandbox.remove("/workspace/a")  # the link itself, never followed
    assert not await sandbox.exists("/workspace/a")


async def test_the_kernels_trees_are_not_served(sandbox: SandboxRuntime) -> None:
    await sh(sandbox, "ln -s /proc/self/environ /workspace/env && ln -s /dev /workspace/dev")
    for path in ("/proc/self/environ", "/proc", "/sys/kernel", "/dev/null", "/workspace/env"):
        assert (await fault_of(sandbox.read_text(path))).code == "PATH_NOT_ALLOWED", path
    assert (await fault_of(sandbox.list("/workspace/dev"))).code == "PATH_NOT_ALLOWED"
    assert (await fault_of(sandbox.exists("/proc/1"))).code == "PATH_NOT_ALLOWED"
    assert (await fault_of(sandbox.write("/dev/x", b"x"))).code == "PATH_NOT_ALLOWED"
    assert (await fault_of(sandbox.remove("/workspace/dev/null"))).code == "PATH_NOT_ALLOWED"


@needs_root
async def test_writes_land_in_the_sandboxs_own_layer(
    sandbox: SandboxRuntime, tmp_path: Path
) -> None:
    name = f"hopx-{secrets.token_hex(4)}"
    await sandbox.write(f"/opt/{name}/data.txt", b"first\n", "0640")
    assert await sandbox.read_text(f"/opt/{name}/data.txt") == "first\n"
    await sandbox.write(f"/opt/{name}/data.txt", b"second\n")
    assert (await fault_of(sandbox.write(f"/opt/{name}/data.txt", b"x", overwrite=False))).code == (
        "FILE_ALREADY_EXISTS"
    )
    # Sandboxed code sees it, may change it, and it keeps its mode.
    assert await sh(sandbox, f"cat /opt/{name}/data.txt; stat -c %a /opt/{name}/data.txt") == (
        "second\n640\n"
    )
    await sh(sandbox, f"echo more >> /opt/{name}/data.txt")
    assert await sandbox.read_text(f"/opt/{name}/data.txt") == "second\nmore\n"
    # It is in the sandbox's layer, not on the host; nothing was left beside it.
    upper = sandbox.layout.system / "opt" / "upper" / name
    assert (upper / "data.txt").read_text() == "second\nmore\n"
    assert not await anyio.Path(f"/opt/{name}").exists()
    assert [entry["name"] for entry in await sandbox.list(f"/opt/{name}")] == ["data.txt"]
    # The system's other trees take writes as well, over the read-only layers below.
    await sandbox.write("/usr/local/lib/hopx-note.txt", b"note")
    assert await sh(sandbox, "cat /usr/local/lib/hopx-note.txt") == "note"
    assert not await anyio.Path("/usr/local/lib/hopx-note.txt").exists()
    await sandbox.mkdir(f"/var/lib/{name}/deep")
    assert await sandbox.exists(f"/var/lib/{name}/deep")
    await sandbox.remove(f"/opt/{name}")
    assert not await sandbox.exists(f"/opt/{name}")
    assert not upper.exists()
    # Another sandbox has none of it.
    async with running(tmp_path / "other") as other:
        assert not await other.exists(f"/var/lib/{name}")
        assert (await fault_of(other.read_text("/usr/local/lib/hopx-note.txt"))).code == (
            "FILE_NOT_FOUND"
        )


@needs_root
async def test_a_failed_upload_leaves_nothing_in_the_system(sandbox: SandboxRuntime) -> None:
    class Broken(Exception):
        pass

    async def cut_short() -> None:
        async with sandbox.write_stream("/opt/partial.bin") as writer:
            await writer.write(b"x" * 1000)
            raise Broken

    with pytest.raises(Broken):
        await cut_short()
    assert not await sandbox.exists("/opt/partial.bin")
    assert await sandbox.list("/opt") == []
    async with sandbox.write_stream("/opt/whole.bin") as writer:
        await writer.write(b"y" * 1000)
    assert await sandbox.read_bytes("/opt/whole.bin") == b"y" * 1000
    assert [entry["name"] for entry in await sandbox.list("/opt")] == ["whole.bin"]


@needs_root
async def test_the_top_run_and_mount_points_are_not_changed(sandbox: SandboxRuntime) -> None:
    for call in (
        sandbox.write("/new-file", b"x"),
        sandbox.write("/run/new-file", b"x"),
        sandbox.mkdir("/new-dir/sub"),
        sandbox.mkdir("/run/hopx/sub"),
        sandbox.remove("/"),
        sandbox.write("/", b"x"),
        sandbox.remove("/run/hopx"),
    ):
        failure = await fault_of(call)
        assert (failure.code, failure.status) == ("PERMISSION_DENIED", 403), failure
        if "writable" in failure.details:
            assert {"/workspace", "/tmp", "/opt", "/usr"} <= set(failure.details["writable"])
    for mount in ("/workspace", "/tmp", "/usr", "/etc"):
        failure = await fault_of(sandbox.remove(mount))
        assert failure.code == "PERMISSION_DENIED"
        assert "mount point" in failure.message
        assert (await fault_of(sandbox.write(mount, b"x"))).code == "PERMISSION_DENIED"
    denied = await fault_of(sandbox.write("/run/other", b"x"))
    assert "/workspace" in denied.details["writable"]
    names = {entry["name"] for entry in await sandbox.list("/")}
    assert not {"new-file", "new-dir"} & names
    assert await sandbox.exists("/workspace")
    await sandbox.mkdir("/usr/lib")  # already there: nothing to make, nothing refused
    await sandbox.mkdir("/run/hopx")


@needs_root
async def test_a_read_only_system_refuses_writes_outside_the_workspace(tmp_path: Path) -> None:
    async with running(tmp_path / "ro", writable_system=False) as runtime:
        assert not runtime.writable_system
        assert await runtime.read_text("/etc/os-release")
        for path in ("/usr/local/x", "/opt/x", "/etc/x"):
            failure = await fault_of(runtime.write(path, b"x"))
            assert failure.code == "PERMISSION_DENIED", path
        assert not await anyio.Path("/usr/local/x").exists()
        await runtime.write("/workspace/ok", b"ok")
        assert await sh(runtime, "cat /workspace/ok") == "ok"


async def test_watching_a_system_directory(sandbox: SandboxRuntime) -> None:
    await sandbox.mkdir("/workspace/watched")
    changes = await sandbox.watch("/workspace/watched")
    try:
        await sh(sandbox, "echo x > /workspace/watched/new")
        with anyio.fail_after(30):
            change = await changes.__anext__()
    finally:
        await changes.aclose()
    assert (change["path"], change["event"]) == ("/workspace/watched/new", "created")
    assert (await fault_of(sandbox.watch("/opt/absent"))).code == "DIRECTORY_NOT_FOUND"
    assert (await fault_of(sandbox.watch("/proc"))).code == "PATH_NOT_ALLOWED"


async def test_a_pid_that_is_not_the_sandboxs_init_is_never_looked_through(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sandbox.write("/workspace/kept", b"kept")
    monkeypatch.setattr(sandbox.processes, "init_pid", os.getpid())  # the host's root
    failure = await fault_of(sandbox.read_text("/etc/os-release"))
    assert (failure.code, failure.status) == ("SANDBOX_STOPPED", 409)
    assert await sandbox.read_text("/workspace/kept") == "kept"
    monkeypatch.undo()
    assert await sandbox.read_text("/etc/os-release")


async def test_a_stopped_sandbox_serves_its_workspace_only(tmp_path: Path) -> None:
    async with running(tmp_path / "stopped") as runtime:
        await runtime.write("/workspace/kept", b"kept")
    assert await runtime.read_text("/workspace/kept") == "kept"
    failure = await fault_of(runtime.read_text("/etc/os-release"))
    assert (failure.code, failure.status) == ("SANDBOX_STOPPED", 409)


async def test_without_bubblewrap_only_the_workspace_and_tmp_are_seen(tmp_path: Path) -> None:
    runtime = SandboxRuntime(
        "sbx-plain",
        tmp_path / "plain",
        isolation=IsolationMode.NONE,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
    )
    for path in ("/etc/os-release", "/opt/missing", "/"):
        assert (await fault_of(runtime.read_text(path))).code == "PATH_NOT_ALLOWED"
    await runtime.write("/tmp/x", b"x")
    assert await runtime.read_text("/tmp/x") == "x"


async def test_a_sandbox_stopping_during_a_call_is_a_409(tmp_path: Path) -> None:
    from hopx_local._runtime.sysroot import open_system

    async with running(tmp_path / "stopping") as runtime:
        system = open_system(runtime.processes.init_pid, runtime.layout)
        assert system is not None
    # Its init is gone now, its mounts with it.
    with system, pytest.raises(SandboxFault) as caught:
        system.check_writable(system.root, "/opt/x")
    assert (caught.value.code, caught.value.status) == ("SANDBOX_STOPPED", 409)


@needs_root
async def test_what_code_plants_in_the_system_is_not_opened(sandbox: SandboxRuntime) -> None:
    await sh(sandbox, "mkfifo /opt/fifo && mkdir -p /var/lib/hopx && ln -s /proc /var/lib/hopx/p")
    with anyio.fail_after(30):  # a FIFO opened for reading would wait for a writer
        failure = await fault_of(sandbox.read_bytes("/opt/fifo"))
    assert (failure.code, failure.details) == ("INVALID_PATH", {"kind": "FIFO"})
    failure = await fault_of(sandbox.read_text("/var/lib/hopx/p/self/environ"))
    assert failure.code == "PATH_NOT_ALLOWED"
    await sandbox.remove("/var/lib/hopx")  # the link goes, never what it points at
    assert not await sandbox.exists("/var/lib/hopx")


async def test_mount_ids_agree_with_the_kernels_descriptor_table(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._runtime import sysroot

    system = sysroot.open_system(sandbox.processes.init_pid, sandbox.layout)
    assert system is not None
    with system:
        names = ["", "workspace", "tmp", "usr", "run", "bin"]
        found = [sysroot.mount_id(system.root, name) for name in names]
        monkeypatch.setattr(sysroot, "_statx", None)  # kernels before statx's mount ids
        assert [sysroot.mount_id(system.root, name) for name in names] == found
    assert found[1] != found[0]  # /workspace is a mount of its own
    assert found[5] == found[0]  # /bin is a link in the root's own filesystem


@needs_root
async def test_without_nameless_files_a_hidden_name_is_used_and_cleared(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._runtime import files

    # O_TMPFILE without write access is EINVAL, as from a filesystem that has no such files.
    monkeypatch.setattr(files, "_NAMELESS", os.O_RDONLY | os.O_TMPFILE | os.O_CLOEXEC)
    await sandbox.write("/opt/hidden/a.txt", b"one")
    await sandbox.write("/opt/hidden/a.txt", b"two")
    failure = await fault_of(sandbox.write("/opt/hidden/a.txt", b"three", overwrite=False))
    assert failure.code == "FILE_ALREADY_EXISTS"
    await sandbox.write("/opt/hidden/b.txt", b"new", overwrite=False)
    assert await sandbox.read_text("/opt/hidden/a.txt") == "two"
    assert await sandbox.read_text("/opt/hidden/b.txt") == "new"
    assert [entry["name"] for entry in await sandbox.list("/opt/hidden")] == ["a.txt", "b.txt"]
