"""Attacks from inside a sandbox on a real ``hopx-local serve``: the server's working directory,
its state directory, its secrets and the host paths beside them stay out of reach whatever
the request, and commands are resolved inside the sandbox.

The server runs as a child process started from a project folder (a secret and an ``.ssh``
directory beside its working directory, its default state directory inside the project) or
from ``/``; each probe runs through ``commands.run`` as the official client sends it
(``bash -c``), in sandboxes with and without internet access.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from test_server_support import WAIT, api, bearer, call, create_sandbox, doc

from hopx_local._runtime import IsolationMode, resolve_isolation
from hopx_local._runtime.isolation import BOOT_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        resolve_isolation("auto") is not IsolationMode.BWRAP, reason="bubblewrap is not usable"
    ),
]


class Project:
    """A project folder with secrets, and where the server keeps its state inside it."""

    def __init__(self, root: pathlib.Path) -> None:
        self.token = secrets.token_hex(8)
        self.root = root / f"project-{self.token}"
        self.work = self.root / "work"
        self.work.mkdir(parents=True)
        self.secret = self.root / f"secret-{self.token}.txt"
        self.secret.write_text(f"SECRET {self.token}\n")
        (self.root / ".ssh").mkdir()
        (self.root / ".ssh" / "id_rsa").write_text(f"PRIVATE KEY {self.token}\n")
        # A shell at a host path only the caller knows: running it must not mount its
        # directory into the sandbox.
        self.tool = self.root / f"tools-{self.token}" / "bin" / "sh"
        self.tool.parent.mkdir(parents=True)
        shutil.copy2(os.path.realpath("/bin/sh"), self.tool)
        self.data_home = self.root / "data"
        self.state = self.data_home / "hopx-local"


@pytest.fixture
def project(tmp_path: pathlib.Path) -> Project:
    return Project(tmp_path)


def _banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    """HOPX_BASE_URL and HOPX_API_KEY from the serve banner (bounded by WAIT)."""
    assert proc.stdout is not None
    watchdog = threading.Timer(WAIT, proc.kill)
    watchdog.start()
    found: dict[str, str] = {}
    try:
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key in ("HOPX_BASE_URL", "HOPX_API_KEY"):
                found[key] = value
            if len(found) == 2:
                return found
    finally:
        watchdog.cancel()
    raise AssertionError(f"hopx-local serve did not print its banner: {found}")


@pytest.fixture(params=["project", "root"])
def server(
    request: pytest.FixtureRequest, project: Project, tmp_path: pathlib.Path
) -> Iterator[dict[str, str]]:
    cwd = project.work if request.param == "project" else pathlib.Path("/")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPX_")}
    env.update(XDG_DATA_HOME=str(project.data_home), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0", "--isolation", "bwrap"]
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        yield _banner(proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


async def _run(host: str, token: str, command: str, *args: str) -> dict[str, Any]:
    body = {"command": command, "args": list(args), "timeout": 60}
    reply = await call(host, "POST", "/commands/run", headers=bearer(token), json_body=body)
    assert reply.status == 200, reply.body
    result: dict[str, Any] = doc(reply)
    return result


def _probe_script(project: Project) -> str:
    paths = [project.secret, project.root / ".ssh" / "id_rsa"]
    paths += [project.state / "api_key", project.state / "jwt.secret"]
    return "\n".join(
        [
            f"cat {' '.join(map(str, paths))}",
            "cat /proc/self/cwd/../secret-* /proc/self/cwd/../../secret-* /proc/1/cwd/../*",
            "ls -a / /proc/1/root/ /proc/self/cwd/..",
            f"find / -path /proc -prune -o -path /sys -prune -o -name '*{project.token}*' -print",
            "find / -path /proc -prune -o -path /sys -prune -o -name 'jwt.secret' -print",
            "echo cmdline:$(tr '\\0' ' ' < /proc/1/cmdline)",
            "cat /proc/self/mountinfo",
            "true",
        ]
    )


def _host_paths(project: Project) -> list[str]:
    return [str(project.root), str(project.state), str(BOOT_DIR), os.getcwd()]


@pytest.mark.parametrize("internet_access", [False, True])
def test_the_server_and_its_secrets_are_out_of_reach(
    server: dict[str, str], project: Project, internet_access: bool
) -> None:
    async def attack() -> None:
        base, key = server["HOPX_BASE_URL"], server["HOPX_API_KEY"]
        assert (project.state / "api_key").exists()
        sandbox = await create_sandbox(base, key, internet_access=internet_access)
        host, token = sandbox["public_host"], sandbox["auth_token"]
        probe = await _run(host, token, "bash", "-c", _probe_script(project))
        # Error messages on stderr name the paths tried; nothing found may name them.
        seen, found = probe["stdout"] + probe["stderr"], probe["stdout"]
        for content in (f"SECRET {project.token}", f"PRIVATE KEY {project.token}", key):
            assert content not in seen, seen
        assert project.token not in found, found
        for path in _host_paths(project):
            assert path not in found, (path, found)
        [cmdline] = [line for line in probe["stdout"].splitlines() if line.startswith("cmdline:")]
        words = cmdline.removeprefix("cmdline:").split()
        assert words[0] == "hopx-init", cmdline
        assert all(not w.startswith("/") or w.startswith("/run/hopx/") for w in words), cmdline

        # A command at a host path only the caller knows is looked up inside the sandbox,
        # where it does not exist: nothing of the host is mounted for it.
        crafted = await _run(host, token, str(project.tool), "-c", f"cat {project.secret}")
        assert f"SECRET {project.token}" not in crafted["stdout"] + crafted["stderr"]
        assert crafted["exit_code"] == 127, crafted
        through_cwd = await _run(host, token, "/proc/self/cwd/../../../bin/sh", "-c", "ls /")
        assert str(project.root) not in through_cwd["stdout"]
        # A symlink planted in /workspace pointing at a host directory leads nowhere.
        link = f"ln -s {project.root} /workspace/host; cat /workspace/host/secret-*"
        linked = await _run(host, token, "bash", "-c", link)
        assert f"SECRET {project.token}" not in linked["stdout"] + linked["stderr"]
        relinked = await _run(host, token, f"/workspace/host/tools-{project.token}/bin/sh")
        assert relinked["exit_code"] == 127, relinked

        # Plain commands work from any server working directory (``/`` included).
        echoed = await _run(host, token, "echo", "still", "fine")
        assert (echoed["stdout"], echoed["exit_code"]) == ("still fine\n", 0), echoed

        # And the control plane does not take what the sandbox could have found.
        listed = await call(base, "GET", "/v1/sandboxes", headers=api("sk_local_guess"))
        assert listed.status == 401

    anyio.run(attack)
