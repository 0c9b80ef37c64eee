"""Sandbox volumes are sparse copies of one empty image per size, made once.

Skipped where the host gives no volumes (not root, no loop devices, no ``mkfs.ext4``).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import IsolationMode, Limits, SandboxResources, SandboxRuntime
from hopx_local._runtime.isolation import resolve_isolation
from hopx_local._runtime.volume import volumes_supported

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP or not volumes_supported(),
        reason="no bubblewrap or no volumes here",
    ),
]


def runtime(tmp_path: Path, name: str, disk_mb: int) -> SandboxRuntime:
    return SandboxRuntime(
        f"{name}-{secrets.token_hex(4)}",
        tmp_path / name,
        isolation=IsolationMode.BWRAP,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        resources=SandboxResources(disk_mb=disk_mb),
    )


def templates(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob(".volume-*"))


async def test_images_are_sparse_copies_of_one_template(tmp_path: Path) -> None:
    # A half-made template of a server that is gone (pid 2**22 + 1 is above any pid_max).
    stale = tmp_path / f".volume-64m.{2**22 + 1}-0000.part"
    stale.write_bytes(b"x")
    sandboxes = [runtime(tmp_path, name, 64) for name in ("one", "two")]
    try:
        for sandbox in sandboxes:
            await sandbox.start()
        wrote = await sandboxes[1].execute("echo hi > /workspace/a && cat /workspace/a", "bash")
        images = [sandbox.volume.image for sandbox in sandboxes]
        made = templates(tmp_path)
        used = [image.stat().st_blocks * 512 for image in images]
        sizes = [image.stat().st_size for image in images]
    finally:
        for sandbox in sandboxes:
            await sandbox.shutdown()
    assert wrote.stdout == "hi\n", wrote
    assert made == [".volume-64m.img"]  # the stale half-made one removed
    assert sizes == [64 << 20] * 2
    # Copies keep the holes: each holds its metadata (and the little written), not 64 MiB.
    assert max(used) < 4 << 20, used
    checked = await anyio.run_process(["e2fsck", "-fn", str(images[0])], check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_a_new_size_gets_its_own_template(tmp_path: Path) -> None:
    first, second = runtime(tmp_path, "a", 48), runtime(tmp_path, "b", 80)
    try:
        await first.start()
        await second.start()
        small = await first.execute("df -m --output=size /workspace | tail -1", "bash")
        large = await second.execute("df -m --output=size /workspace | tail -1", "bash")
    finally:
        await first.shutdown()
        await second.shutdown()
    assert templates(tmp_path) == [".volume-48m.img", ".volume-80m.img"]
    assert int(small.stdout) < int(large.stdout) <= 80, (small, large)
