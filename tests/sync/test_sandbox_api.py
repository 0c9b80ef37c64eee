"""Every public method of the synchronous Sandbox and its resources against the emulator."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import threading
import time
from typing import Any

import pytest

import hopx_sync
from hopx_local._runtime.launches import BASE_ENV_NAMES
from hopx_proto import LocalProtocolError
from hopx_proto._policy import TokenState
from hopx_sync import (
    APIError,
    CommandResult,
    DesktopNotAvailableError,
    FileNotFoundError,
    HopxError,
    NotFoundError,
    Sandbox,
    TemplateNotFoundError,
)
from tests.e2e.emulator_process import EmulatorProcess

pytestmark = pytest.mark.slow

ODD_PATH = "/workspace/dir a/b&c=d?e#f+g.txt"


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


def test_class_level_api(local: EmulatorProcess) -> None:
    health = Sandbox.health_check(base_url=local.base_url)
    assert isinstance(health, dict)
    assert health
    assert "code-interpreter" in [t.name for t in Sandbox.list_templates()]
    assert Sandbox.get_template("code-interpreter").name == "code-interpreter"
    with pytest.raises(NotFoundError):
        Sandbox.get_template("no-such-template")
    with pytest.raises(APIError):
        Sandbox.delete_template("no-such-template")
    with pytest.raises(TemplateNotFoundError) as missing:
        Sandbox.create(template="code-interpretr")
    assert missing.value.suggested_template == "code-interpreter"

    first = Sandbox.create(template="code-interpreter", timeout_seconds=600)
    second = Sandbox.create(template="base", env_vars={"FROM_CREATE": "yes"})
    assert isinstance(first, Sandbox)
    listed = Sandbox.list()
    assert all(isinstance(s, Sandbox) for s in listed)
    assert {first.sandbox_id, second.sandbox_id} <= {s.sandbox_id for s in listed}
    iterated = list(Sandbox.iter())
    assert {first.sandbox_id, second.sandbox_id} <= {s.sandbox_id for s in iterated}
    for sb in [*listed, *iterated]:
        sb.close()
    again = Sandbox.connect(first.sandbox_id)
    assert again.get_info().sandbox_id == first.sandbox_id
    again.close()
    first.kill()
    second.kill()
    with pytest.raises(NotFoundError):
        Sandbox.connect(first.sandbox_id)


def test_lifecycle(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        assert sb.get_info().status == "running"
        assert repr(sb) == f"<Sandbox {sb.sandbox_id}>"
        sb.set_timeout(900)
        expiry = sb.get_expiry_info()
        assert expiry.has_timeout
        assert 800 <= (expiry.time_to_expiry or 0) <= 900
        assert sb.get_time_to_expiry() is not None
        assert not sb.is_expiring_soon()
        assert sb.is_expiring_soon(threshold_seconds=3600)
        token = sb.get_token()
        sb.refresh_token()
        assert sb.get_token() != token
        assert sb.is_healthy()
        sb.ensure_healthy()
        # The emulator's preview_url (the service's host-name rule is in the unit tests).
        origin = sb.get_info().public_host.replace("127.0.0.1", f"{sb.sandbox_id}.localhost")
        assert sb.get_preview_url(8080) == origin.replace("://", "://8080-") + "/"
        assert sb.agent_url == origin.replace("://", "://7777-") + "/"
        sb.pause()
        assert sb.get_info().status == "paused"
        sb.resume()
        assert sb.get_info().status == "running"
        sb.stop()
        assert sb.get_info().status == "stopped"
        sb.start()
        assert sb.get_info().status == "running"
        sandbox_id = sb.sandbox_id
    # ``with`` killed it.
    with pytest.raises(NotFoundError):
        Sandbox.connect(sandbox_id)


def test_debug_talks_to_the_agent_directly(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        info = sb.get_info()
        direct = Sandbox.debug(info.agent_base, sb.get_token(), sb.sandbox_id)
        assert direct.run_code("print(7)").stdout == "7\n"
        direct.close()
    with pytest.raises(HopxError):
        Sandbox.debug("ftp://example.invalid", "jwt")


def test_execution(local: EmulatorProcess) -> None:
    threads = set(threading.enumerate())
    with Sandbox.create(template="code-interpreter") as sb:
        result = sb.run_code("import os; print(os.environ['X'], 6 * 7)", env={"X": "hi"})
        assert (result.stdout, result.exit_code, result.success) == ("hi 42\n", 0, True)
        assert sb.run_code("raise SystemExit(3)", preflight=True).exit_code == 3
        assert sb.run_code("echo $((1+2))", language="bash", timeout=30).stdout == "3\n"
        events = [dict(m) for m in sb.run_code_stream("print('a'); print('b')")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "a\nb\n"
        assert events[-1]["type"] == "complete"
        started = sb.run_code_background("import time; time.sleep(30)", name="sleeper")
        process_id = started["process_id"]
        assert any(p["process_id"] == process_id for p in sb.list_processes())
        sb.kill_process(process_id)
        assert isinstance(sb.list_system_processes(), list)
        queued = sb.run_code_async("print(1)", "http://127.0.0.1:9/hook")
        assert queued.get("execution_id")
        assert isinstance(sb.get_metrics_snapshot(), dict)
        assert isinstance(sb.get_agent_metrics(), dict)
        assert isinstance(sb.get_agent_info(), dict)
        assert isinstance(sb.get_jupyter_sessions(), list)
    assert not set(threading.enumerate()) - threads, "the client started a thread"


def test_files(local: EmulatorProcess, tmp_path: pathlib.Path) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        files = sb.files
        files.mkdir("/workspace/dir a", timeout=30)
        files.write(ODD_PATH, "héllo\n", timeout=30)
        assert files.read(ODD_PATH, timeout=30) == "héllo\n"
        assert files.exists(ODD_PATH)
        assert not files.exists("/workspace/nothing")
        payload = bytes(range(256))
        files.write_bytes("/workspace/raw.bin", payload)
        assert files.read_bytes("/workspace/raw.bin") == payload
        assert [f.name for f in files.list("/workspace/dir a")] == ["b&c=d?e#f+g.txt"]
        source = tmp_path / "big source.bin"
        source.write_bytes(b"0123456789" * 200_000)
        progress: list[int] = []
        files.upload(str(source), "/workspace/up.bin", on_progress=lambda n, _t: progress.append(n))
        assert progress[-1] == 2_000_000
        target = tmp_path / "down.bin"
        files.download("/workspace/up.bin", str(target), timeout=60)
        assert target.read_bytes() == source.read_bytes()
        with pytest.raises(FileNotFoundError):
            files.download("/workspace/missing.bin", str(tmp_path / "never.bin"))
        assert not (tmp_path / "never.bin").exists()
        files.remove(ODD_PATH)
        assert not files.exists(ODD_PATH)
        with pytest.raises(FileNotFoundError):
            files.read(ODD_PATH)

        # The watch is a plain iterator (opened on the first read); another thread writes
        # through the same client meanwhile, until the change is seen (50 writes at most).
        seen: list[dict[str, Any]] = []
        stop = threading.Event()

        def write() -> None:
            for _ in range(50):
                files.write("/workspace/watched.txt", "x")
                if stop.wait(0.1):
                    return

        writer = threading.Thread(target=write)
        writer.start()
        try:
            with files.watch("/workspace", idle_timeout=10) as changes:
                for change in changes:
                    seen.append(dict(change))
                    if change["path"].endswith("watched.txt"):
                        break
        finally:
            stop.set()
            writer.join(30)
        assert any(c["path"].endswith("watched.txt") for c in seen)


def test_commands(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        result = sb.commands.run("echo out; echo err >&2; exit 4")
        assert isinstance(result, CommandResult)
        assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 4)
        assert not result.is_success
        background = sb.commands.run("sleep 5", background=True)
        assert background.stdout.startswith("Background process started: ")
        events = [dict(e) for e in sb.commands.stream("for i in 1 2 3; do echo $i; done")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "1\n2\n3\n"
        chunks: list[str] = []
        streamed = sb.commands.run("echo one; echo two", on_stdout=chunks.append)
        assert "".join(chunks) == "one\ntwo\n" == streamed.stdout


def test_env_and_cache(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        env = sb.env
        assert api_vars(env.set_all({"A": "1", "B": "2"})) == {"A": "1", "B": "2"}
        assert env.update({"C": "3"})["C"] == "3"
        assert env.set("D", "4")["D"] == "4"
        assert env.get("D") == "4"
        assert env.get("NOPE", "dflt") == "dflt"
        env.delete("A")
        assert api_vars(env.get_all(timeout=10)) == {"B": "2", "C": "3", "D": "4"}
        assert sb.run_code("import os; print(os.environ.get('B'))").stdout == "2\n"
        assert isinstance(sb.cache.stats(timeout=10), dict)
        sb.cache.clear()


def test_terminal(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        with sb.terminal.connect() as term:
            sb.terminal.resize(term, 100, 30)
            sb.terminal.send_input(term, "echo $((6*7)); exit\n")
            output = ""
            for event in sb.terminal.iter_output(term, idle_timeout=20):
                if event["type"] == "output":
                    output += event["data"]
        assert "42" in output
        assert term.closed


def test_leaving_a_stream_early_stops_the_remote_process(local: EmulatorProcess) -> None:
    code = (
        "import time\n"
        "for i in range(600):\n"
        "    open('/workspace/ticks', 'a').write('.')\n"
        "    print(i, flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    with Sandbox.create(template="code-interpreter") as sb:
        with sb.run_code_stream(code) as stream:
            for message in stream:
                if message.get("type") == "stdout":
                    break
        time.sleep(0.5)
        before = len(sb.files.read("/workspace/ticks"))
        time.sleep(0.5)
        assert len(sb.files.read("/workspace/ticks")) == before, "the process kept running"


def test_desktop_is_a_typed_refusal(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        with pytest.raises(DesktopNotAvailableError) as info:
            sb.desktop.get_vnc_status()
        assert info.value.missing_dependencies
        with pytest.raises(DesktopNotAvailableError):
            sb.desktop.click(1, 2)


def test_bad_token_is_refreshed_once_for_rest_and_websocket(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        sb.client.tokens[sb.sandbox_id] = TokenState("not-a-valid-token", 4_102_444_800.0)
        assert api_vars(sb.env.get_all()) == {}
        assert sb.client.tokens[sb.sandbox_id].token != "not-a-valid-token"
        sb.client.tokens[sb.sandbox_id] = TokenState("not-a-valid-token", 4_102_444_800.0)
        events = [dict(m) for m in sb.run_code_stream("print(5)")]
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == "5\n"


def test_ctrl_c_in_the_middle_of_a_call_discards_the_connection(local: EmulatorProcess) -> None:
    """SIGINT (as from Ctrl-C) during a blocking call: KeyboardInterrupt comes out, the
    half-used connection is closed rather than pooled, and the next call works."""
    with Sandbox.create(template="code-interpreter") as sb:
        sb.env.get_all()
        pooled = sb.client.transport.open_connections()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                sb.run_code("import time; time.sleep(20)")
        finally:
            timer.cancel()
        assert sb.client.transport.open_connections() <= pooled
        assert sb.run_code("print('after')").stdout == "after\n"
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                for _message in sb.run_code_stream("import time; time.sleep(20)"):
                    pass
        finally:
            timer.cancel()
        assert api_vars(sb.env.get_all()) == {}


def test_inside_an_event_loop_the_error_names_the_async_package(local: EmulatorProcess) -> None:
    async def from_asyncio() -> None:
        Sandbox.create(template="code-interpreter")

    with pytest.raises(LocalProtocolError, match="hopx_asyncio"):
        asyncio.run(from_asyncio())
    trio = pytest.importorskip("trio")

    async def from_trio() -> None:
        Sandbox.list()

    with pytest.raises(LocalProtocolError, match="hopx_trio"):
        trio.run(from_trio)
    assert Sandbox.list() is not None  # outside a loop it works


def test_a_callback_that_suspends_is_a_clear_error(local: EmulatorProcess) -> None:
    async def waits(_chunk: str) -> None:
        await asyncio.sleep(0)

    with Sandbox.create(template="code-interpreter") as sb:
        with pytest.raises(hopx_sync.SuspendedError, match="suspend"):
            sb.commands.run("echo x", on_stdout=waits)  # type: ignore[arg-type]
        assert sb.commands.run("echo y").stdout == "y\n"


def test_both_timeout_spellings(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter") as sb:
        assert sb.run_code("print(1)", timeout_seconds=30).stdout == "1\n"
        assert sb.commands.run("echo 2", timeout_seconds=30).stdout == "2\n"
        events = [dict(e) for e in sb.run_code_stream("print(3)", timeout_seconds=30)]
        assert events[-1]["type"] == "complete"
        events = [dict(e) for e in sb.commands.stream("echo 4", timeout=30)]
        assert "4\n" in "".join(e.get("data", "") for e in events)
        with pytest.raises(LocalProtocolError, match="pass one of them"):
            sb.run_code("print(1)", timeout=10, timeout_seconds=20)
