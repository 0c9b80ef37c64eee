"""The files API of a sandbox sees its whole filesystem, as a VM's agent sees its disk, on
both loops through our client: system files are read, a missing file is a 404 wherever it is,
a file written under ``/opt`` is the sandbox's alone (not the host's, not another sandbox's),
the kernel's ``/proc`` is refused, and links made by sandboxed code never lead to the host."""

from __future__ import annotations

import os
import pathlib
import secrets
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime import IsolationMode, resolve_isolation
from hopx_proto._errors import FileNotFoundError, FileOperationError

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="a writable system needs a root server"),
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]

WAIT = 180


async def _sh(sb: Any, command: str) -> str:
    done = await sb.commands.run(command, timeout=60)
    assert done.exit_code == 0, done.stdout + done.stderr
    return str(done.stdout)


async def test_the_whole_system_is_seen_and_the_hosts_never(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    name = f"hopx-{secrets.token_hex(4)}"
    secret = tmp_path / f"secret-{secrets.token_hex(4)}.txt"
    secret.write_text("HOST SECRET\n")
    with anyio.fail_after(WAIT):
        one = await adapter.AsyncSandbox.create(template="code-interpreter")
        two = await adapter.AsyncSandbox.create(template="code-interpreter")
        try:
            # System files, as the sandbox's own programs read them.
            release = await one.files.read("/etc/os-release")
            assert release == await _sh(one, "cat /etc/os-release")
            assert "ID=" in release
            assert {"usr", "etc", "opt", "workspace"} <= {f.name for f in await one.files.list("/")}

            # A missing file is a 404 anywhere.
            with pytest.raises(FileNotFoundError):
                await one.files.read("/opt/missing")
            with pytest.raises(FileNotFoundError):
                await one.files.read_bytes("/usr/lib/no-such-file")
            assert not await one.files.exists("/opt/missing")

            # A write under /opt is the sandbox's: its code sees it, the host and another
            # sandbox do not.
            await one.files.write(f"/opt/{name}/x.txt", "from the API\n")
            assert await one.files.read(f"/opt/{name}/x.txt") == "from the API\n"
            assert await _sh(one, f"cat /opt/{name}/x.txt") == "from the API\n"
            assert not await anyio.Path(f"/opt/{name}").exists()
            assert not await two.files.exists(f"/opt/{name}/x.txt")
            with pytest.raises(FileNotFoundError):
                await two.files.read(f"/opt/{name}/x.txt")
            target = tmp_path / "downloaded.txt"
            await one.files.download(f"/opt/{name}/x.txt", str(target))
            assert target.read_text() == "from the API\n"
            source = tmp_path / "upload.bin"
            source.write_bytes(bytes(range(256)) * 64)
            await one.files.upload(source, f"/opt/{name}/up.bin")
            assert await one.files.read_bytes(f"/opt/{name}/up.bin") == source.read_bytes()
            assert {f.name for f in await one.files.list(f"/opt/{name}")} == {"x.txt", "up.bin"}
            await one.files.remove(f"/opt/{name}")
            assert not await one.files.exists(f"/opt/{name}")

            # The kernel's files are not served.
            with pytest.raises(FileOperationError) as refused:
                await one.files.read("/proc/self/environ")
            assert refused.value.status_code == 403
            assert refused.value.code == "PATH_NOT_ALLOWED"

            # Links made inside lead inside: never to the host's files.
            await _sh(
                one,
                f"ln -s /etc/shadow /workspace/shadow && ln -s {secret} /workspace/secret"
                " && ln -s ../../../../etc/os-release /workspace/release",
            )
            for link in ("/workspace/shadow", "/workspace/secret"):
                with pytest.raises(FileNotFoundError):
                    await one.files.read(link)
            assert await one.files.read("/workspace/release") == release

            # The top of the filesystem and /run are not the sandbox's to change.
            for path in ("/new-file", "/run/new-file"):
                with pytest.raises(FileOperationError) as denied:
                    await one.files.write(path, "x")
                assert denied.value.status_code == 403
                assert denied.value.code == "PERMISSION_DENIED"
        finally:
            with anyio.CancelScope(shield=True):
                await one.kill()
                await two.kill()
    assert secret.read_text() == "HOST SECRET\n"


async def test_commands_and_code_run_in_any_directory_of_the_system(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    with anyio.fail_after(WAIT):
        async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
            # A directory of the sandbox's system, made on first use as under /workspace.
            done = await sb.commands.run("pwd && touch here", working_dir="/opt/app")
            assert (done.exit_code, done.stdout) == (0, "/opt/app\n"), done.stderr
            assert await sb.files.exists("/opt/app/here")
            ran = await sb.run_code("import os; print(os.getcwd())", working_dir="/etc")
            assert ran.stdout == "/etc\n", ran
            # What no sandbox program could use as its directory is refused, as files are.
            for where in ("/proc/self", "/etc/os-release"):
                with pytest.raises(FileOperationError):
                    await sb.commands.run("pwd", working_dir=where)
