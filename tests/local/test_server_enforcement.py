"""What a host enforces is said where users look: every agent's ``/info`` and the serve banner.

On this machine (root, cgroup v1, loop devices, libseccomp) everything is enforced under
bubblewrap; the facts are checked against the sandbox's own resources and runtime.
"""

from __future__ import annotations

import pytest
from test_server_support import call, create_sandbox, doc

import hopx_local
from hopx_local._cli import _describe
from hopx_local._runtime import IsolationMode, resolve_isolation
from hopx_local._runtime.host import host_enforcement

pytestmark = pytest.mark.anyio

FIELDS = {"isolation", "cgroups", "memory", "vcpu", "processes", "freeze", "disk"}
FIELDS |= {"seccomp", "no_new_userns", "own_user"}


@pytest.mark.parametrize("isolation", ["auto", "none"])
async def test_info_and_banner_say_what_is_enforced(isolation: str) -> None:
    async with hopx_local.serve(api_key="k", isolation=isolation) as server:
        sb = await create_sandbox(server.base_url, "k")
        info = doc(await call(sb["public_host"], "GET", "/info"))
        live = server.fleet.live(sb["id"])
        assert live is not None
        banner = _describe(server, isolation)
    enforcement = info["enforcement"]
    assert set(enforcement) == FIELDS
    assert enforcement == live.runtime.enforcement.to_wire()
    assert enforcement["isolation"] == server.isolation
    expected = host_enforcement(IsolationMode(server.isolation))
    assert f"  {expected.summary()}" in banner.splitlines()
    for note in expected.missing().values():
        assert f"  not enforced: {note}" in banner.splitlines()
    if server.isolation == "none":
        assert enforcement["no_new_userns"] is False
        assert enforcement["disk"] is False
    elif resolve_isolation("auto") is IsolationMode.BWRAP:
        # The sandbox's template resources are what is enforced, where the host allows it.
        assert enforcement["no_new_userns"] is True
        assert enforcement["memory"] is expected.memory
        assert enforcement["disk"] is expected.disk


@pytest.mark.parametrize("python_kernel", [True, False])
async def test_banner_says_where_python_runs(python_kernel: bool) -> None:
    async with hopx_local.serve(api_key="k", python_kernel=python_kernel) as server:
        banner = _describe(server, "auto", python_kernel=python_kernel).splitlines()
        sb = await create_sandbox(server.base_url, "k")
        health = doc(await call(sb["public_host"], "GET", "/health"))
    [line] = [line for line in banner if line.startswith("  python: ")]
    # The banner and the agent agree on where run_code runs Python.
    assert ("Jupyter kernel per sandbox" in line) is health["features"]["ipython_kernel"]
    if not python_kernel:
        assert "fresh interpreter per run" in line
        assert "--no-kernel" in line or "pip install 'hopx-sansio[kernel]'" in line
