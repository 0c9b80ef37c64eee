"""Sandboxes created from a built template, on asyncio and trio: the template's layers under
each sandbox's own, its ``ENV`` and ``WORKDIR`` for the start command, which runs at create until
its ``wait_for_port`` check passes; a start command that fails is a typed error carrying its
output and leaves no sandbox behind; a template in use cannot be deleted."""

from __future__ import annotations

import pathlib
import socket
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._runtime.sandbox import SandboxRuntime
from hopx_local._templates.images import host_images
from hopx_local._templates.start import START_NAME
from hopx_local._templates.store import layers_of

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")
LIMIT = 240
FETCH = (
    'python3 -c "import urllib.request; print(urllib.request.urlopen('
    "'http://127.0.0.1:{port}/hello.txt', timeout=20).read().decode(), end='')\""
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _options(adapter: Any, local: hopx_local.LocalServer, name: str, **kw: Any) -> Any:
    return adapter.BuildOptions(name=name, api_key=local.api_key, base_url=local.base_url, **kw)


async def _build(
    adapter: Any, local: hopx_local.LocalServer, template: Any, name: str, **kw: Any
) -> Any:
    with anyio.fail_after(LIMIT):
        return await adapter.Template.build(template, _options(adapter, local, name, **kw))


def _serving_template(adapter: Any, port: int) -> Any:
    # The build checks the start command on the host's network (the port is free there);
    # each sandbox without internet access has a network of its own, so all serve on it.
    return (
        adapter.Template()
        .from_python_image(PY)
        .set_env("GREETING", "hi")
        .set_workdir("/app")
        .copy("app/", "/app")
        .run_cmd("echo built > /app/built.txt")
        .set_start_cmd(
            'echo "$(pwd) $GREETING" > /tmp/start-env.txt && '
            f"exec python3 -m http.server {port} --bind 127.0.0.1",
            adapter.wait_for_port(port, timeout=60000, interval=300),
        )
    )


async def test_two_sandboxes_of_a_built_template_both_serve_it(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    context = tmp_path / "ctx"
    (context / "app").mkdir(parents=True)
    (context / "app" / "hello.txt").write_text("hello from the template\n")
    port = _free_port()
    template = _serving_template(adapter, port)
    result = await _build(adapter, local, template, "web", context_path=str(context))
    listed = {t.name: t for t in await adapter.AsyncSandbox.list_templates()}
    assert "web" in listed
    assert str(listed["web"].id) == str(result.template_id)

    sandboxes = []
    try:
        for _ in range(2):
            with anyio.fail_after(LIMIT):
                sandboxes.append(
                    await adapter.AsyncSandbox.create(template="web", internet_access=False)
                )
        for sb in sandboxes:
            info = await sb.get_info()
            assert info.template_name == "web"
            assert str(info.template_id) == str(result.template_id)
            with anyio.fail_after(90):
                served = await sb.commands.run(FETCH.format(port=port), timeout=60)
            assert served.stdout == "hello from the template\n", served.stderr
            seen = await sb.commands.run(
                "cat /app/built.txt /tmp/start-env.txt; echo $GREETING", timeout=60
            )
            assert seen.stdout == "built\n/app hi\nhi\n", seen.stderr
            processes = await sb.list_processes()
            (start,) = [p for p in processes if p["name"] == START_NAME]
            assert start["status"] == "running"
        # Each sandbox's layer is its own; the template's stays as built.
        one, two = sandboxes
        await one.commands.run("echo changed > /app/hello.txt", timeout=60)
        again = await two.commands.run("cat /app/hello.txt", timeout=60)
        assert again.stdout == "hello from the template\n"
        store = local.fleet.builds.store
        record = store.find("web")
        assert record is not None
        (tree,) = layers_of(store, record)
        assert (tree / "app" / "hello.txt").read_text() == "hello from the template\n"

        # A template in use is not deleted.
        with pytest.raises(adapter.HopxError) as in_use:
            await adapter.AsyncSandbox.delete_template(result.template_id)
        assert in_use.value.status_code == 409
        assert in_use.value.code == "template_in_use"
        assert one.sandbox_id in in_use.value.message
    finally:
        for sb in sandboxes:
            await sb.kill()
    deleted = await adapter.AsyncSandbox.delete_template(result.template_id)
    assert deleted["deleted"] is True
    assert "web" not in [t.name for t in await adapter.AsyncSandbox.list_templates()]


async def test_a_start_command_that_fails_is_a_typed_error_and_leaves_nothing(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    port = _free_port()
    # At build time the command serves; in a sandbox (HOPX_SANDBOX_ID set) it fails loudly.
    template = (
        adapter.Template(f"python:{PY}")
        .run_cmd("true")
        .set_start_cmd(
            'if [ -z "$HOPX_SANDBOX_ID" ]; then '
            f"exec python3 -m http.server {port} --bind 127.0.0.1; fi; "
            "echo start-output-before-failing; echo start-failed-on-purpose >&2; exit 5",
            adapter.wait_for_port(port, timeout=30000, interval=300),
        )
    )
    await _build(adapter, local, template, "fails-at-start")
    before = {r.id for r in local.fleet.registry.list(limit=100)[0]}
    sandboxes_dir = local.state_dir / "sandboxes"

    def sandbox_dirs() -> set[str]:  # (a cached blank volume image may appear beside them)
        return {p.name for p in sandboxes_dir.iterdir() if not p.name.startswith(".")}

    entries = sandbox_dirs()
    with anyio.fail_after(LIMIT), pytest.raises(adapter.HopxError) as caught:
        await adapter.AsyncSandbox.create(template="fails-at-start", internet_access=False)
    err = caught.value
    assert err.status_code == 422
    assert err.code == "template_start_failed"
    assert "exited" in err.message
    assert err.details["exit_code"] == 5
    assert "start-failed-on-purpose" in err.details["stderr"]
    assert "start-output-before-failing" in err.details["stdout"]
    assert any("start-failed-on-purpose" in line for line in err.details["logs"])
    # The half-made sandbox is gone: no record, no directory, no live agent.
    assert {r.id for r in local.fleet.registry.list(limit=100)[0]} == before
    assert local.fleet.live_count() == 0
    assert sandbox_dirs() == entries


async def test_a_start_command_never_ready_fails_after_its_timeout(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = (
        adapter.Template(f"python:{PY}")
        .run_cmd("true")
        .set_start_cmd(
            'if [ -n "$HOPX_SANDBOX_ID" ]; then echo waiting-forever; sleep 600; fi; '
            "touch /workspace/ready; sleep 600",
            adapter.wait_for_file("/workspace/ready", timeout=3000, interval=500),
        )
    )
    await _build(adapter, local, template, "never-ready-here")
    with anyio.fail_after(LIMIT), pytest.raises(adapter.HopxError) as caught:
        await adapter.AsyncSandbox.create(template="never-ready-here")
    err = caught.value
    assert (err.status_code, err.code) == (422, "template_start_failed")
    assert "not ready within 3000 ms" in err.message
    assert "waiting-forever" in err.details["stdout"]
    assert local.fleet.live_count() == 0


async def test_a_host_that_cannot_stack_layers_refuses_a_built_template(
    adapter: Any, local: hopx_local.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _build(adapter, local, adapter.Template(f"python:{PY}").run_cmd("true"), "plain")
    before = {r.id for r in local.fleet.registry.list(limit=100)[0]}
    # As where the kernel refuses the overlays: the sandbox's system stays read-only.
    monkeypatch.setattr(SandboxRuntime, "writable_system", property(lambda self: False))
    with anyio.fail_after(LIMIT), pytest.raises(adapter.HopxError) as caught:
        await adapter.AsyncSandbox.create(template="plain")
    assert (caught.value.status_code, caught.value.code) == (422, "template_unavailable")
    assert "cannot stack its layers" in caught.value.message
    assert {r.id for r in local.fleet.registry.list(limit=100)[0]} == before
    assert local.fleet.live_count() == 0
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:  # others work
        assert (await sb.commands.run("echo ok", timeout=60)).stdout == "ok\n"


def _checks(adapter: Any, port: int) -> dict[str, Any]:
    return {
        "url": adapter.wait_for_url(f"http://127.0.0.1:{port}/", timeout=60000, interval=300),
        "process": adapter.wait_for_process("sleep", timeout=60000, interval=300),
        "command": adapter.wait_for_command("test -f ready", timeout=60000, interval=300),
    }


@pytest.mark.parametrize("kind", ["url", "process", "command"])
async def test_each_ready_check_is_honoured_inside_the_sandbox(
    adapter: Any, local: hopx_local.LocalServer, kind: str
) -> None:
    port = _free_port()
    # In a sandbox the command gets ready only after a while, and only in the sandbox's own
    # view: its own /app (WORKDIR), network and processes.
    start = (
        'if [ -n "$HOPX_SANDBOX_ID" ]; then python3 -c "import time; time.sleep(1)"; fi; '
        "touch ready; "
        f"python3 -m http.server {port} --bind 127.0.0.1 & sleep 600"
    )
    template = (
        adapter.Template(f"python:{PY}")
        .run_cmd("mkdir -p /app")
        .set_workdir("/app")
        .set_start_cmd(start, _checks(adapter, port)[kind])
    )
    await _build(adapter, local, template, f"ready-{kind}")
    with anyio.fail_after(LIMIT):
        sb = await adapter.AsyncSandbox.create(template=f"ready-{kind}", internet_access=False)
    try:
        # Ready means ready: what the check waited for is there once create returns.
        if kind == "url":
            served = await sb.commands.run(
                f"python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:"
                f"{port}/', timeout=20)\"",
                timeout=60,
            )
            assert served.exit_code == 0, served.stderr
        elif kind == "process":
            names = [p["name"] for p in await sb.list_system_processes()]
            assert "sleep" in names, names
        else:
            seen = await sb.commands.run("ls /app/ready", timeout=60)
            assert seen.exit_code == 0, seen.stderr
    finally:
        await sb.kill()


async def test_a_new_sandbox_starts_with_the_templates_workspace(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    context = tmp_path / "ctx"
    (context / "proj" / "sub").mkdir(parents=True)
    (context / "proj" / "hello.txt").write_text("hello from /workspace\n")
    (context / "proj" / "sub" / "deep.txt").write_text("deep\n")
    template = (
        adapter.Template(f"python:{PY}")
        .copy("proj/", "/workspace/proj")
        .run_cmd("cd /workspace/proj && ln -s hello.txt link.txt && mkfifo pipe && chmod 755 sub")
    )
    await _build(adapter, local, template, "with-workspace", context_path=str(context))
    with anyio.fail_after(LIMIT):
        async with (
            adapter.AsyncSandbox.create(template="with-workspace") as one,
            adapter.AsyncSandbox.create(template="with-workspace") as two,
        ):
            assert await one.files.read("/workspace/proj/hello.txt") == "hello from /workspace\n"
            seen = await one.commands.run(
                "cd /workspace/proj && cat sub/deep.txt link.txt && readlink link.txt && "
                "ls pipe 2>&1; echo mine >> hello.txt && cat hello.txt",
                timeout=60,
            )
            assert seen.stdout.splitlines() == [
                "deep",
                "hello from /workspace",
                "hello.txt",
                "ls: cannot access 'pipe': No such file or directory",
                "hello from /workspace",
                "mine",
            ], seen.stderr
            other = await two.commands.run("cat /workspace/proj/hello.txt", timeout=60)
            assert other.stdout == "hello from /workspace\n"


async def test_a_workspace_nested_too_deep_is_refused_and_leaves_nothing(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd(
        "mkdir -p /workspace/$(python3 -c \"print('/'.join(['d'] * 250))\")"
    )
    await _build(adapter, local, template, "too-deep")
    before = {r.id for r in local.fleet.registry.list(limit=100)[0]}
    with anyio.fail_after(LIMIT), pytest.raises(adapter.HopxError) as caught:
        await adapter.AsyncSandbox.create(template="too-deep")
    assert (caught.value.status_code, caught.value.code) == (422, "template_workspace_failed")
    assert "nested over" in caught.value.message
    assert {r.id for r in local.fleet.registry.list(limit=100)[0]} == before
    assert local.fleet.live_count() == 0
