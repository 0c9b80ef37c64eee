"""Every public method of AsyncSandbox against the local emulator, under asyncio and trio."""

from __future__ import annotations

import pathlib
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_local._runtime.launches import BASE_ENV_NAMES
from hopx_proto._errors import (
    APIError,
    DesktopNotAvailableError,
    FileNotFoundError,
    NotFoundError,
    TemplateNotFoundError,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
]

ODD_PATH = "/workspace/dir a/b&c=d?e#f+g.txt"


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


async def test_class_level_api(adapter: Any, local: hopx_local.LocalServer) -> None:
    cls = adapter.AsyncSandbox
    health = await cls.health_check(base_url=local.base_url)
    assert isinstance(health, dict)
    assert health
    templates = await cls.list_templates()
    names = [t.name for t in templates]
    assert "code-interpreter" in names
    template = await cls.get_template("code-interpreter")
    assert template.name == "code-interpreter"
    with pytest.raises(NotFoundError):
        await cls.get_template("no-such-template")
    with pytest.raises(APIError):
        await cls.delete_template("no-such-template")
    with pytest.raises(TemplateNotFoundError) as missing:
        await cls.create(template="code-interpretr")
    assert missing.value.suggested_template == "code-interpreter"

    first = await cls.create(template="code-interpreter", timeout_seconds=600)
    second = await cls.create(template="base", env_vars={"FROM_CREATE": "yes"})
    listed = await cls.list()
    assert {first.sandbox_id, second.sandbox_id} <= {s.sandbox_id for s in listed}
    iterated = [s async for s in cls.iter()]
    assert {first.sandbox_id, second.sandbox_id} <= {s.sandbox_id for s in iterated}
    for sb in [*listed, *iterated]:
        await sb.aclose()
    again = await cls.connect(first.sandbox_id)
    assert (await again.get_info()).sandbox_id == first.sandbox_id
    await again.aclose()
    await first.kill()
    await second.kill()
    with pytest.raises(NotFoundError):
        await cls.connect(first.sandbox_id)


async def test_lifecycle(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        info = await sb.get_info()
        assert info.status == "running"
        assert repr(sb) == f"<AsyncSandbox {sb.sandbox_id}>"
        await sb.set_timeout(900)
        expiry = await sb.get_expiry_info()
        assert expiry.has_timeout
        assert 800 <= (expiry.time_to_expiry or 0) <= 900
        assert await sb.get_time_to_expiry() is not None
        assert not await sb.is_expiring_soon()
        assert await sb.is_expiring_soon(threshold_seconds=3600)
        token = await sb.get_token()
        await sb.refresh_token()
        assert await sb.get_token() != token
        assert await sb.is_healthy()
        await sb.ensure_healthy()
        # The emulator's preview_url (the service's host-name rule is in the unit tests).
        origin = (await sb.get_info()).public_host.replace(
            "127.0.0.1", f"{sb.sandbox_id}.localhost"
        )
        assert await sb.get_preview_url(8080) == origin.replace("://", "://8080-") + "/"
        assert await sb.agent_url == origin.replace("://", "://7777-") + "/"
        await sb.pause()
        assert (await sb.get_info()).status == "paused"
        await sb.resume()
        assert (await sb.get_info()).status == "running"
        await sb.stop()
        assert (await sb.get_info()).status == "stopped"
        await sb.start()
        assert (await sb.get_info()).status == "running"
        sandbox_id = sb.sandbox_id
    # ``async with`` killed it.
    with pytest.raises(NotFoundError):
        await adapter.AsyncSandbox.connect(sandbox_id)


async def test_execution(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        result = await sb.run_code("import os; print(os.environ['X'], 6 * 7)", env={"X": "hi"})
        assert result.stdout == "hi 42\n"
        assert result.exit_code == 0
        assert result.success
        failed = await sb.run_code("raise SystemExit(3)", preflight=True)
        assert failed.exit_code == 3
        shell = await sb.run_code("echo $((1+2))", language="bash")
        assert shell.stdout == "3\n"
        events = [dict(m) async for m in sb.run_code_stream("print('a'); print('b')")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "a\nb\n"
        assert events[-1]["type"] == "complete"
        started = await sb.run_code_background("import time; time.sleep(30)", name="sleeper")
        process_id = started["process_id"]
        assert any(p["process_id"] == process_id for p in await sb.list_processes())
        await sb.kill_process(process_id)
        system = await sb.list_system_processes()
        assert isinstance(system, list)
        queued = await sb.run_code_async("print(1)", "http://127.0.0.1:9/hook")
        assert queued.get("execution_id")
        assert isinstance(await sb.get_metrics_snapshot(), dict)
        assert isinstance(await sb.get_agent_metrics(), dict)
        assert isinstance(await sb.get_agent_info(), dict)
        assert isinstance(await sb.get_jupyter_sessions(), list)


async def test_files(adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        files = sb.files
        await files.mkdir("/workspace/dir a")
        await files.write(ODD_PATH, "héllo\n")
        assert await files.read(ODD_PATH) == "héllo\n"
        assert await files.exists(ODD_PATH)
        assert not await files.exists("/workspace/nothing")
        payload = bytes(range(256))
        await files.write_bytes("/workspace/raw.bin", payload)
        assert await files.read_bytes("/workspace/raw.bin") == payload
        listing = await files.list("/workspace/dir a")
        assert [f.name for f in listing] == ["b&c=d?e#f+g.txt"]
        source = tmp_path / "big source.bin"
        source.write_bytes(b"0123456789" * 200_000)
        progress: list[int] = []
        await files.upload(
            source, "/workspace/up.bin", on_progress=lambda n, _t: progress.append(n)
        )
        assert progress[-1] == 2_000_000
        target = tmp_path / "down.bin"
        await files.download("/workspace/up.bin", target)
        assert target.read_bytes() == source.read_bytes()
        with pytest.raises(FileNotFoundError):
            await files.download("/workspace/missing.bin", tmp_path / "never.bin")
        assert not (tmp_path / "never.bin").exists()
        await files.remove(ODD_PATH)
        assert not await files.exists(ODD_PATH)
        with pytest.raises(FileNotFoundError):
            await files.read(ODD_PATH)

        seen: list[dict[str, Any]] = []

        async def watch() -> None:
            async with files.watch("/workspace") as changes:
                async for change in changes:
                    seen.append(dict(change))
                    if change["path"].endswith("watched.txt"):
                        return

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                for _ in range(50):
                    await files.write("/workspace/watched.txt", "x")
                    if seen:
                        break
                    await anyio.sleep(0.1)
        assert any(c["path"].endswith("watched.txt") for c in seen)


async def test_commands(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        result = await sb.commands.run("echo out; echo err >&2; exit 4")
        assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 4)
        background = await sb.commands.run("sleep 5", background=True)
        assert background.stdout.startswith("Background process started: ")
        events = [dict(e) async for e in sb.commands.stream("for i in 1 2 3; do echo $i; done")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "1\n2\n3\n"
        chunks: list[str] = []
        streamed = await sb.commands.run("echo one; echo two", on_stdout=chunks.append)
        assert "".join(chunks) == "one\ntwo\n" == streamed.stdout
        assert streamed.exit_code == 0


async def test_env_and_cache(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        env = sb.env
        assert api_vars(await env.set_all({"A": "1", "B": "2"})) == {"A": "1", "B": "2"}
        assert (await env.update({"C": "3"}))["C"] == "3"
        await env.set("D", "4")
        assert await env.get("D") == "4"
        assert await env.get("NOPE", "dflt") == "dflt"
        await env.delete("A")
        assert api_vars(await env.get_all(timeout=10)) == {"B": "2", "C": "3", "D": "4"}
        result = await sb.run_code("import os; print(os.environ.get('B'))")
        assert result.stdout == "2\n"
        assert isinstance(await sb.cache.stats(), dict)
        await sb.cache.clear()


async def test_terminal(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        async with await sb.terminal.connect() as term:
            await sb.terminal.resize(term, 100, 30)
            await sb.terminal.send_input(term, "echo $((6*7)); exit\n")
            output = ""
            with anyio.fail_after(10):
                async for event in sb.terminal.iter_output(term):
                    if event["type"] == "output":
                        output += event["data"]
        assert "42" in output
        assert term.closed


async def test_breaking_out_of_a_stream_stops_the_remote_process(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    code = (
        "import time\n"
        "for i in range(600):\n"
        "    open('/workspace/ticks', 'a').write('.')\n"
        "    print(i, flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        with anyio.fail_after(20):
            async with sb.run_code_stream(code) as stream:
                async for message in stream:
                    if message.get("type") == "stdout":
                        break
        await anyio.sleep(0.5)
        before = len(await sb.files.read("/workspace/ticks"))
        await anyio.sleep(0.5)
        after = len(await sb.files.read("/workspace/ticks"))
        assert before == after, "the remote process kept running after the stream was left"


async def test_desktop_is_a_typed_refusal(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        with pytest.raises(DesktopNotAvailableError) as info:
            await sb.desktop.get_vnc_status()
        assert info.value.missing_dependencies
        with pytest.raises(DesktopNotAvailableError):
            await sb.desktop.click(1, 2)
        with pytest.raises(DesktopNotAvailableError):
            await sb.desktop.screenshot()


async def test_bad_token_is_refreshed_once_for_rest_and_websocket(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    from hopx_proto._policy import TokenState

    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        sb.client.tokens[sb.sandbox_id] = TokenState("not-a-valid-token", 4_102_444_800.0)
        assert api_vars(await sb.env.get_all()) == {}
        assert sb.client.tokens[sb.sandbox_id].token != "not-a-valid-token"
        sb.client.tokens[sb.sandbox_id] = TokenState("not-a-valid-token", 4_102_444_800.0)
        events = [dict(m) async for m in sb.run_code_stream("print(5)")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "5\n"
        # A token about to expire is replaced before use.
        sb.client.tokens[sb.sandbox_id] = TokenState("not-a-valid-token", 0.0)
        token = await sb.get_token()
        assert token != "not-a-valid-token"


async def test_cancelling_a_call_leaves_the_client_usable(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.env.get_all()
        pooled = sb.client.transport.open_connections()
        with anyio.move_on_after(0.3) as scope:
            await sb.run_code("import time; time.sleep(10)")
        assert scope.cancelled_caught
        # The half-used connection was closed, not pooled; the others are intact.
        assert sb.client.transport.open_connections() <= pooled
        assert (await sb.run_code("print('after')")).stdout == "after\n"
        with anyio.move_on_after(0.3):
            async with sb.run_code_stream("import time; time.sleep(10)") as stream:
                async for _message in stream:
                    pass
        assert api_vars(await sb.env.get_all()) == {}
