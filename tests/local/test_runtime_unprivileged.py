"""The runtime as a laptop runs it: a server that is not root (here: ``nobody``).

Bubblewrap then runs as the server's own user inside a user namespace, with no cgroup and no
loop device to use. Sandboxes must still be isolated, each execution still in a pid namespace
of its own, new user namespaces still refused, and what is not enforced said in words.

The test needs root to become ``nobody``, and an interpreter ``nobody`` can run (the system's
``python3``, with this checkout and its environment's packages on ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from hopx_local._runtime import IsolationMode, resolve_isolation

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root"),
    pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system python3"),
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]

SCRIPT = """
import anyio, json, pathlib, sys
from hopx_local._runtime import IsolationMode, Limits, SandboxResources, SandboxRuntime

async def main():
    runtime = SandboxRuntime(
        "sbx-unprivileged", pathlib.Path(sys.argv[1]), isolation=IsolationMode.BWRAP,
        internet_access=False, limits=Limits(), output_cap=1 << 20,
        resources=SandboxResources(memory_mb=512, disk_mb=64),
    )
    try:
        with anyio.fail_after(90):
            probe = await runtime.execute(
                "import os\\n"
                "print(os.getuid(), os.getpid())\\n"
                "print(open('/proc/1/cmdline').read().split(chr(0))[0])\\n"
                "print(os.path.exists(sys.argv[0]) if False else os.listdir('/'))\\n",
                "python",
            )
            await runtime.execute("sleep 1234567 </dev/null >/dev/null 2>&1 &", "bash")
            leftovers = sorted(runtime.processes.pids())
            userns = await runtime.execute("unshare -U true; echo $?", "bash")
            print(json.dumps({
                "stdout": probe.stdout, "stderr": probe.stderr, "leftovers": leftovers,
                "userns": userns.stdout, "warnings": runtime.warnings,
                "enforcement": runtime.enforcement.to_wire(),
            }))
    finally:
        await runtime.shutdown()

anyio.run(main)
"""


@pytest.fixture
def home() -> Iterator[pathlib.Path]:
    directory = pathlib.Path(tempfile.mkdtemp(prefix="hopx-nobody-"))
    os.chmod(directory, 0o755)
    os.chown(directory, NOBODY, NOBODY)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_server_that_is_not_root_still_isolates(home: pathlib.Path) -> None:
    packages = [p for p in sys.path if p.endswith("site-packages") and "venv" in p]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *packages]),
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", SCRIPT, str(home / "sandbox")],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    uid, pid = report["stdout"].split()[:2]
    assert (uid, pid) == ("1000", "2"), report  # code as "user", below its own reaper
    assert report["stdout"].splitlines()[1] == "hopx-init", report
    assert str(home) not in report["stdout"]
    assert report["leftovers"] == []
    assert report["userns"].strip() == "1", report
    enforcement = report["enforcement"]
    assert enforcement["own_user"] is False
    assert enforcement["disk"] is False
    assert enforcement["no_new_userns"] is True
    assert any("disk_mb is not enforced" in note for note in report["warnings"])
    if not enforcement["memory"]:
        assert any("memory_mb is not enforced" in note for note in report["warnings"])
