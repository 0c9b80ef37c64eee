"""The sandbox file API: path confinement, atomic writes, listings, watch, env persistence."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from runtime_support import file_runtime

from hopx_local._runtime import SandboxFault, SandboxRuntime

pytestmark = pytest.mark.anyio

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def sandbox(tmp_path: Path) -> SandboxRuntime:
    return file_runtime(tmp_path / "sbx")


async def fault_of(call: Callable[..., Awaitable[object]], *args: object) -> SandboxFault:
    with pytest.raises(SandboxFault) as caught:
        await call(*args)
    return caught.value


async def test_write_read_round_trip_with_parents_and_mode(sandbox: SandboxRuntime) -> None:
    size = await sandbox.write("/workspace/a/b/c.txt", "héllo\n".encode(), "0600")
    assert size == len("héllo\n".encode())
    assert await sandbox.read_text("/workspace/a/b/c.txt") == "héllo\n"
    assert await sandbox.read_bytes("a/b/c.txt") == "héllo\n".encode()
    [entry] = await sandbox.list("/workspace/a/b")
    assert entry["name"] == "c.txt"
    assert entry["path"] == "/workspace/a/b/c.txt"
    assert entry["size"] == 7
    assert entry["is_directory"] is False
    assert entry["permissions"] == "-rw-------"
    assert RFC3339.match(entry["modified_time"])


async def test_overwrite_keeps_mode_and_refuses_when_asked(sandbox: SandboxRuntime) -> None:
    await sandbox.write("/tmp/x.sh", b"echo 1", "0755")
    await sandbox.write("/tmp/x.sh", b"echo 2")
    assert (await sandbox.list("/tmp/x.sh"))[0]["permissions"] == "-rwxr-xr-x"
    failure = await fault_of(sandbox.write, "/tmp/x.sh", b"3", None, False)
    assert (failure.code, failure.status) == ("FILE_ALREADY_EXISTS", 409)
    assert await sandbox.read_text("/tmp/x.sh") == "echo 2"


async def test_bad_mode_is_refused(sandbox: SandboxRuntime) -> None:
    assert (await fault_of(sandbox.write, "/workspace/m", b"", "rwx")).code == "INVALID_REQUEST"
    assert not await sandbox.exists("/workspace/m")


async def test_writes_leave_no_temporary_files(sandbox: SandboxRuntime) -> None:
    for index in range(5):
        await sandbox.write("/workspace/file", str(index).encode())
    assert [entry["name"] for entry in await sandbox.list("/workspace")] == ["file"]


async def test_failed_upload_leaves_nothing(sandbox: SandboxRuntime) -> None:
    async def interrupted_upload() -> None:
        async with sandbox.write_stream("/workspace/up.bin") as writer:
            await writer.write(b"partial")
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await interrupted_upload()
    assert await sandbox.list("/workspace") == []
    async with sandbox.write_stream("/workspace/up.bin", "0640") as writer:
        await writer.write(b"a" * 300_000)
        await writer.write(b"b")
    size, chunks = await sandbox.open_read("/workspace/up.bin")
    received = b"".join([chunk async for chunk in chunks])
    assert size == 300_001
    assert received == b"a" * 300_000 + b"b"
    assert (await sandbox.list("/workspace"))[0]["permissions"] == "-rw-r-----"


async def test_list_mkdir_remove(sandbox: SandboxRuntime) -> None:
    await sandbox.mkdir("/workspace/d/e/f")
    await sandbox.mkdir("/workspace/d/e/f")
    await sandbox.write("/workspace/d/e/f/g.txt", b"g")
    await sandbox.write("/workspace/d/top.txt", b"t")
    names = [(entry["name"], entry["is_directory"]) for entry in await sandbox.list("/workspace/d")]
    assert names == [("e", True), ("top.txt", False)]
    assert (await sandbox.list("/workspace/d"))[0]["permissions"].startswith("d")
    await sandbox.remove("/workspace/d")
    assert not await sandbox.exists("/workspace/d")
    missing = await fault_of(sandbox.remove, "/workspace/d")
    assert (missing.code, missing.status) == ("FILE_NOT_FOUND", 404)
    assert (await fault_of(sandbox.remove, "/workspace")).code == "PATH_NOT_ALLOWED"


async def test_missing_files_are_404(sandbox: SandboxRuntime) -> None:
    for call in (sandbox.read_text, sandbox.read_bytes, sandbox.list):
        failure = await fault_of(call, "/workspace/nope/nothing")
        assert (failure.code, failure.status) == ("FILE_NOT_FOUND", 404)
    assert await sandbox.exists("/workspace/nope") is False


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/workspace/../etc/passwd",
        "../../etc/passwd",
        "/workspace/a/../../root",
        "/workspacex/file",
        "/workspace/\x00evil",
        "/",
        "/proc/self/environ",
    ],
)
async def test_escaping_paths_are_403(sandbox: SandboxRuntime, path: str) -> None:
    for call in (sandbox.read_text, sandbox.exists, sandbox.list, sandbox.remove):
        failure = await fault_of(call, path)
        assert (failure.code, failure.status) == ("PATH_NOT_ALLOWED", 403)
    assert (await fault_of(sandbox.write, path, b"x")).code == "PATH_NOT_ALLOWED"


async def test_symlinks_are_followed_only_inside(sandbox: SandboxRuntime) -> None:
    workspace = sandbox.layout.workspace
    sandbox.env_set({"SECRET": "1"})
    assert (sandbox.layout.state / "env.json").exists()
    await sandbox.write("/tmp/real.txt", b"inside")
    os.symlink("/etc/passwd", workspace / "abs-out")
    os.symlink("../../../../../../etc", workspace / "rel-out")
    os.symlink(str(sandbox.layout.root / "state"), workspace / "host-abs")
    os.symlink("/tmp/real.txt", workspace / "abs-in")
    os.symlink("loop", workspace / "loop")
    for path in ("/workspace/abs-out", "/workspace/rel-out/passwd"):
        assert (await fault_of(sandbox.read_text, path)).code == "PATH_NOT_ALLOWED"
        assert (await fault_of(sandbox.write, path, b"x")).code == "PATH_NOT_ALLOWED"
    # An absolute target means a sandbox path: a host path under /tmp stays in the sandbox.
    assert (
        await fault_of(sandbox.read_text, "/workspace/host-abs/env.json")
    ).code == "FILE_NOT_FOUND"
    assert Path("/etc/passwd").read_text().startswith("root")  # noqa: ASYNC240
    assert await sandbox.read_text("/workspace/abs-in") == "inside"
    assert (await fault_of(sandbox.read_text, "/workspace/loop")).code == "INVALID_PATH"
    await sandbox.remove("/workspace/abs-in")
    assert await sandbox.read_text("/tmp/real.txt") == "inside"


async def test_directories_are_not_files(sandbox: SandboxRuntime) -> None:
    await sandbox.mkdir("/workspace/dir")
    assert (await fault_of(sandbox.read_text, "/workspace/dir")).code == "INVALID_PATH"
    assert (await fault_of(sandbox.write, "/workspace/dir", b"x")).code == "INVALID_PATH"
    assert (await fault_of(sandbox.write, "/workspace", b"x")).code == "INVALID_PATH"


async def test_env_store_survives_a_new_runtime(sandbox: SandboxRuntime) -> None:
    sandbox.env_set({"A": "1", "B": "2"})
    sandbox.env_update({"B": "3", "C": "4"})
    again = file_runtime(sandbox.layout.root, sandbox.sandbox_id)
    assert again.env_get() == {"A": "1", "B": "3", "C": "4"}
    with pytest.raises(SandboxFault):
        again.env_set({"": "x"})
    assert again.env_get() == {"A": "1", "B": "3", "C": "4"}


async def test_watch_reports_changes(sandbox: SandboxRuntime) -> None:
    await sandbox.mkdir("/workspace/w")
    events: list[tuple[str, str]] = []
    watch = await sandbox.watch("/workspace/w")

    async def until(wanted: tuple[str, str]) -> None:
        with anyio.fail_after(5):
            while wanted not in events:
                change = await watch.__anext__()
                assert RFC3339.match(change["timestamp"])
                events.append((change["event"], change["path"]))

    await sandbox.write("/workspace/w/new.txt", b"1")
    await until(("created", "/workspace/w/new.txt"))
    await sandbox.write("/workspace/w/new.txt", b"12345")
    await until(("modified", "/workspace/w/new.txt"))
    os.rename(sandbox.layout.workspace / "w" / "new.txt", sandbox.layout.workspace / "w" / "r")
    await until(("renamed", "/workspace/w/r"))
    assert ("renamed", "/workspace/w/new.txt") in events
    await sandbox.remove("/workspace/w/r")
    await until(("deleted", "/workspace/w/r"))
    await watch.aclose()
    failure = await fault_of(sandbox.watch, "/workspace/absent")
    assert failure.code == "DIRECTORY_NOT_FOUND"


async def test_huge_whole_file_reads_are_refused(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._runtime import files

    monkeypatch.setattr(files, "MAX_WHOLE_READ", 10)
    await sandbox.write("/workspace/big", b"x" * 11)
    await sandbox.write("/workspace/small", b"x" * 10)
    assert (await fault_of(sandbox.read_text, "/workspace/big")).code == "INVALID_REQUEST"
    assert await sandbox.read_bytes("/workspace/small") == b"x" * 10


async def test_mkdir_over_a_file_is_refused(sandbox: SandboxRuntime) -> None:
    await sandbox.write("/workspace/plain", b"x")
    assert (await fault_of(sandbox.mkdir, "/workspace/plain")).code == "FILE_ALREADY_EXISTS"
    assert (await fault_of(sandbox.mkdir, "/workspace/plain/sub")).code == "INVALID_PATH"
    assert (await fault_of(sandbox.write, "/workspace/plain/sub", b"y")).code == "INVALID_PATH"


async def test_a_directory_swapped_for_a_symlink_is_not_followed(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolution happened first; the swap is seen by the descriptor walk and refused."""
    from hopx_local._runtime.paths import SandboxPaths

    outside = sandbox.layout.root / "outside"
    outside.mkdir()
    await sandbox.mkdir("/workspace/dir")
    real_resolve = SandboxPaths.resolve

    def resolve_then_swap(
        paths: SandboxPaths, path: object, *, follow_final: bool = True
    ) -> tuple[Path, str]:
        resolved = real_resolve(paths, path, follow_final=follow_final)
        target = sandbox.layout.workspace / "dir"
        if target.is_dir() and not target.is_symlink():
            target.rmdir()
            target.symlink_to(outside)
        return resolved

    monkeypatch.setattr(SandboxPaths, "resolve", resolve_then_swap)
    failure = await fault_of(sandbox.write, "/workspace/dir/file", b"escaped")
    assert failure.code == "PATH_NOT_ALLOWED"
    (outside / "file").write_text("host data")
    (sandbox.layout.workspace / "dir").unlink()
    (sandbox.layout.workspace / "dir").mkdir()
    assert (await fault_of(sandbox.read_text, "/workspace/dir/file")).code == "PATH_NOT_ALLOWED"
    assert [path.name for path in outside.iterdir()] == ["file"]
