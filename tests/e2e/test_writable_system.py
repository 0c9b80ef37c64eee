"""A sandbox's system is its own and writable: ``pip install`` from a package index on loopback,
then the package in ``run_code`` and in ``python3`` alike, in no other sandbox and not on the
host; a stop and a start keep the sandbox's layer, ``kill`` deletes it."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import os
import pathlib
import secrets
import sys
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime import IsolationMode, resolve_isolation
from hopx_local._runtime.volume import volumes_supported

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="a writable system needs a root server"),
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]

WAIT = 120
HOST_PYTHON = os.path.realpath(sys.executable)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def build_wheel(directory: pathlib.Path, module: str, value: str) -> pathlib.Path:
    """A pure-Python wheel of one module whose ``VALUE`` is ``value``."""
    info = f"{module}-1.0.dist-info"
    files = {
        f"{module}/__init__.py": f"VALUE = {value!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(_record_line(name, data) for name, data in files.items())
    record += f"{info}/RECORD,,\n"
    wheel = directory / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", record)
    return wheel


@contextlib.contextmanager
def package_index(root: pathlib.Path, module: str, value: str) -> Iterator[str]:
    """A simple package index serving one wheel on 127.0.0.1: its URL while it runs."""
    project = root / "simple" / module.replace("_", "-")
    project.mkdir(parents=True)
    build_wheel(project, module, value)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


async def _run(sb: Any, command: str, seconds: int = 60) -> Any:
    return await sb.commands.run(command, timeout=seconds)


async def test_pip_install_lands_in_the_sandboxs_own_layer(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    module = f"hopxdemo_{secrets.token_hex(4)}"
    value = secrets.token_hex(8)
    tool = f"/usr/local/bin/hopx-tool-{secrets.token_hex(4)}"
    with anyio.fail_after(WAIT * 3), package_index(tmp_path / "index", module, value) as index:
        cls = adapter.AsyncSandbox
        one = await cls.create(template="code-interpreter", internet_access=True)
        two = await cls.create(template="code-interpreter", internet_access=True)
        try:
            # The kernel runs before the install, as in a notebook.
            before = await one.run_code(
                f"import importlib.util as u; print(u.find_spec({module!r}))"
            )
            assert before.stdout == "None\n", before.stderr
            same = await _run(
                one, "command -v python3 pip; python3 -c 'import sys; print(sys.prefix)'"
            )
            kernel = await one.run_code("import sys; print(sys.prefix)")
            assert same.stdout.splitlines()[2] == kernel.stdout.strip(), "one Python"
            installed = await _run(
                one, f"pip install --no-cache-dir --index-url {index} {module}", seconds=WAIT
            )
            assert installed.exit_code == 0, installed.stdout + installed.stderr
            imported = await one.run_code(f"import {module}; print({module}.VALUE)")
            assert imported.stdout == f"{value}\n", imported.stderr
            shell = await _run(one, f"python3 -c 'import {module}; print({module}.VALUE)'")
            assert shell.stdout == f"{value}\n", shell.stderr
            wrote = await _run(one, f"echo x > {tool} && cat {tool}; id -u")
            assert wrote.stdout == "x\n0\n", wrote.stderr

            # Another sandbox and the host have neither.
            other = await _run(two, f"python3 -c 'import {module}'; cat {tool}")
            assert other.exit_code != 0
            assert "ModuleNotFoundError" in other.stderr
            assert "No such file" in other.stderr
            missing = await two.run_code(f"import {module}")
            assert "ModuleNotFoundError" in (missing.stderr + str(missing.error or ""))
            host = await anyio.run_process(
                [HOST_PYTHON, "-I", "-c", f"import {module}"], check=False
            )
            assert host.returncode != 0
            assert not await anyio.Path(tool).exists()

            # A stop and a start keep the sandbox's layer (its volume, where there is one).
            await one.stop()
            await one.start()
            kept = await _run(
                one, f"python3 -c 'import {module}; print({module}.VALUE)'; cat {tool}"
            )
            assert kept.stdout == f"{value}\nx\n", kept.stderr
            root = pathlib.Path(local.state_dir) / "sandboxes" / one.sandbox_id
            assert root.exists()
            if volumes_supported():
                assert (root / "disk.img").exists()
                assert not (root / "system").exists(), "the layer lives on the volume"
        finally:
            await one.kill()
            await two.kill()
        assert not root.exists(), "kill deletes the sandbox's layer"
