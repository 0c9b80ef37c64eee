"""A sandbox's writable system: its own top layer over read-only ones, within its disk limit,
kept across a restart, and never anything of the host's that others may not read."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxResources,
    SandboxRuntime,
    resolve_isolation,
    rootfs,
)
from hopx_local._runtime.volume import volumes_supported

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.geteuid() != 0, reason="a writable system needs a root server"),
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]

needs_volumes = pytest.mark.skipif(not volumes_supported(), reason="no loop devices here")


@contextlib.asynccontextmanager
async def sandbox(
    root: Path,
    *,
    disk_mb: int | None = None,
    layers: Sequence[Path] = (),
    sandbox_id: str | None = None,
) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        sandbox_id or f"sbx-{secrets.token_hex(4)}",
        root,
        isolation=IsolationMode.BWRAP,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        resources=SandboxResources(disk_mb=disk_mb),
        layers=layers,
    )
    try:
        with anyio.fail_after(90):
            await runtime.start()
            assert runtime.writable_system, runtime.warnings
            yield runtime
    finally:
        await runtime.shutdown()


async def sh(runtime: SandboxRuntime, script: str) -> tuple[str, str, int]:
    outcome = await runtime.execute(script, "bash", timeout=60)
    return outcome.stdout, outcome.stderr, outcome.exit_code


@needs_volumes
async def test_the_layer_is_kept_across_a_restart_and_bounded_by_disk_mb(tmp_path: Path) -> None:
    name = f"hopx-{secrets.token_hex(4)}"
    async with sandbox(tmp_path / "one", disk_mb=64) as one:
        out, err, code = await sh(one, f"echo kept > /usr/local/bin/{name}; echo ok > /etc/{name}")
        assert code == 0, err
        # Past disk_mb, writing to the system fails inside the sandbox only.
        out, err, code = await sh(one, "head -c 100000000 /dev/zero > /opt/big; echo $?")
        assert out.strip() != "0"
        assert "No space left on device" in err
        out, err, code = await sh(one, "rm /opt/big && echo still fine")
        assert out == "still fine\n", err
        await one.shutdown()
        await one.start()
        out, err, code = await sh(one, f"cat /usr/local/bin/{name} /etc/{name}")
        assert out == "kept\nok\n", err
        assert (one.layout.root / "disk.img").exists()
        assert not (one.layout.root / "system").exists(), "the layer is on the volume"
    assert not await anyio.Path(f"/usr/local/bin/{name}").exists()
    assert not await anyio.Path(f"/etc/{name}").exists()


@needs_volumes
async def test_a_new_server_mounts_the_layer_a_former_one_left(tmp_path: Path) -> None:
    name = f"hopx-{secrets.token_hex(4)}"
    sandbox_id = f"sbx-{secrets.token_hex(4)}"
    async with sandbox(tmp_path / "one", disk_mb=64, sandbox_id=sandbox_id) as one:
        _out, err, code = await sh(one, f"echo kept > /etc/{name}; rm /etc/hosts")
        assert code == 0, err
    # A new server process makes its base layer anew; the sandbox's own layer still fits.
    rootfs._base_layer.cache_clear()
    async with sandbox(tmp_path / "one", disk_mb=64, sandbox_id=sandbox_id) as again:
        out, err, _code = await sh(again, f"cat /etc/{name}; ls /etc/hosts")
    assert out == "kept\n", err
    assert "No such file" in err


async def test_layers_below_the_sandboxs_own_stay_unchanged(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "usr" / "share" / "hopx").mkdir(parents=True)
    (layer / "usr" / "share" / "hopx" / "from-layer").write_text("layer\n")
    (layer / "etc").mkdir()
    (layer / "etc" / "hopx-layer.conf").write_text("conf\n")
    async with (
        sandbox(tmp_path / "one", layers=[layer]) as one,
        sandbox(tmp_path / "two", layers=[layer]) as two,
    ):
        out, err, _code = await sh(
            one,
            "cat /usr/share/hopx/from-layer /etc/hopx-layer.conf; "
            "echo changed > /usr/share/hopx/from-layer; rm /etc/hopx-layer.conf; "
            "cat /usr/share/hopx/from-layer; ls /etc/hopx-layer.conf; stat -c %U /usr/share/hopx",
        )
        assert out.splitlines() == ["layer", "conf", "changed", "root"], err
        assert "No such file" in err
        out, err, code = await sh(two, "cat /usr/share/hopx/from-layer /etc/hopx-layer.conf")
        assert (out, code) == ("layer\nconf\n", 0), err
    assert (layer / "usr" / "share" / "hopx" / "from-layer").read_text() == "layer\n"
    assert (layer / "etc" / "hopx-layer.conf").exists()
    # Without a volume, the sandbox's layer is in its own directory, removed with it.
    assert (tmp_path / "one" / "system" / "usr" / "upper").is_dir()


def _hidden_from_others(path: Path) -> bool:
    mode = path.stat().st_mode
    return not mode & (stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH)


async def test_the_hosts_private_files_stay_out_of_etc(tmp_path: Path) -> None:
    hidden = [
        path
        for path in (Path("/etc/shadow"), Path("/etc/ssl/private"), Path("/etc/gshadow"))
        if path.exists() and _hidden_from_others(path)
    ]
    async with sandbox(tmp_path / "one") as one:
        names = " ".join(str(path) for path in hidden)
        out, err, _code = await sh(
            one, f"ls -d {names} 2>&1; touch /etc/new && echo wrote; head -c0 /etc/hosts && echo r"
        )
    assert out.count("No such file") == len(hidden), out
    assert out.splitlines()[-2:] == ["wrote", "r"], err
    assert not await anyio.Path("/etc/new").exists()
