"""A layer's trees besides the system's (``/app``, ``/srv``, ``/home``) are shown in the sandbox
under its own writable layer, and a link in a layer never leads to the host."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxResources,
    SandboxRuntime,
    resolve_isolation,
)
from hopx_local._runtime.rootfs import layer_trees

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.geteuid() != 0, reason="a writable system needs a root server"),
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]


SECRET = f"hopx-secret-{secrets.token_hex(4)}"


def _layer(root: Path) -> Path:
    host = root / "host-only"
    host.mkdir()
    (host / SECRET).write_text("the host's\n")
    layer = root / "layer"
    (layer / "app" / "data").mkdir(parents=True)
    (layer / "app" / "main.txt").write_text("from the layer\n")
    (layer / "srv").mkdir()
    (layer / "srv" / "s.txt").write_text("srv\n")
    (layer / "home" / "user").mkdir(parents=True)
    (layer / "home" / "user" / ".profile").write_text("# profile\n")
    (layer / "workspace").mkdir()
    (layer / "workspace" / "not-shown").write_text("x\n")
    (layer / "hostdir").symlink_to(host)
    (layer / "opt").symlink_to(host)
    return layer


def test_layer_trees_leaves_out_links_system_and_own_directories(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    (layer / "bad name").mkdir()
    assert layer_trees([layer]) == ["/app", "/home", "/srv"]
    assert layer_trees([layer], ["/srv"]) == ["/app", "/home"]


async def _run(runtime: SandboxRuntime, script: str) -> tuple[str, str, int]:
    outcome = await runtime.execute(script, "bash", timeout=60)
    return outcome.stdout, outcome.stderr, outcome.exit_code


async def test_a_layers_trees_are_shown_writable_and_stay_unchanged(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    runtimes = [
        SandboxRuntime(
            f"sbx-{secrets.token_hex(4)}",
            tmp_path / name,
            isolation=IsolationMode.BWRAP,
            internet_access=False,
            limits=Limits(),
            output_cap=1 << 20,
            resources=SandboxResources(disk_mb=None),
            layers=[layer],
        )
        for name in ("one", "two")
    ]
    one, two = runtimes
    try:
        with anyio.fail_after(120):
            for runtime in runtimes:
                await runtime.start()
                assert runtime.writable_system, runtime.warnings
            out, err, code = await _run(
                one,
                "cat /app/main.txt /srv/s.txt /home/user/.profile && ls -d /app/data && "
                "echo changed > /app/main.txt && echo new > /app/new.txt && "
                "cat /app/main.txt /app/new.txt",
            )
            assert (out, code) == (
                "from the layer\nsrv\n# profile\n/app/data\nchanged\nnew\n",
                0,
            ), err
            # A link in the layer leads nowhere on the host, as a tree or as a system tree.
            out, err, _code = await _run(one, "ls -A /hostdir /opt /workspace 2>&1")
            assert SECRET not in out
            assert "not-shown" not in out
            out, err, code = await _run(two, "cat /app/main.txt; ls /app/new.txt")
            assert out == "from the layer\n", err
            assert "No such file" in err
            # The first sandbox's change is its own, and outlives a restart.
            await one.shutdown()
            await one.start()
            out, err, code = await _run(one, "cat /app/main.txt /app/new.txt")
            assert (out, code) == ("changed\nnew\n", 0), err
    finally:
        for runtime in runtimes:
            await runtime.shutdown()
    assert (layer / "app" / "main.txt").read_text() == "from the layer\n"
    assert not (layer / "app" / "new.txt").exists()
