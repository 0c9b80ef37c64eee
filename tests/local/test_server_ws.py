"""WebSocket endpoints of the agent over real sockets: upgrade checks, the execute stream,
the command stream, the terminal round trip, file watching, and disconnects."""

from __future__ import annotations

import gc
import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from test_server_support import RawWebSocket, bearer, call, create_sandbox, doc

import hopx_local
from hopx_local._runtime.languages import python_executable
from hopx_proto._errors import AuthenticationError, HopxError
from hopx_proto._streams import ExecuteStreamRequest, RichOutput, RichStreamClient

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sandbox() -> AsyncIterator[dict[str, Any]]:
    async with hopx_local.serve(api_key="k") as server:
        reply = await create_sandbox(server.base_url, "k")
        reply["server"] = server
        yield reply


async def test_upgrade_needs_the_token(sandbox: dict[str, Any]) -> None:
    with pytest.raises(AuthenticationError):
        await RawWebSocket.connect(sandbox["public_host"], "/execute/stream", None)
    with pytest.raises(AuthenticationError):
        await RawWebSocket.connect(sandbox["public_host"], "/execute/stream", "x.y.z")


async def test_bad_upgrades_get_agent_errors(sandbox: dict[str, Any]) -> None:
    token = bearer(sandbox["auth_token"])
    plain = await call(sandbox["public_host"], "GET", "/execute/stream", headers=token)
    assert plain.status in (400, 426)
    assert doc(plain)["code"] == "INVALID_REQUEST"
    no_key = await call(
        sandbox["public_host"],
        "GET",
        "/terminal",
        headers=[
            *token,
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "13"),
        ],
    )
    assert no_key.status == 400
    assert "Sec-WebSocket-Key" in doc(no_key)["error"]
    not_ws = await call(
        sandbox["public_host"],
        "GET",
        "/env",
        headers=[
            *token,
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    assert not_ws.status == 400
    # The agent still answers afterwards.
    assert (await call(sandbox["public_host"], "GET", "/health")).status == 200


async def test_execute_stream(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(
        sandbox["public_host"], "/execute/stream", sandbox["auth_token"]
    )
    assert ws.accepted is not None
    assert ws.accepted.header("x-request-id")
    try:
        await ws.send_json(
            {
                "type": "execute",
                "language": "python",
                "timeout": 30,
                "workdir": "/workspace",
                "env": {"WHO": "you"},
                "code": "import os, sys\nprint('hi', os.environ['WHO'])\n"
                "print('oops', file=sys.stderr)\nsys.exit(2)\n",
            }
        )
        messages: list[dict[str, Any]] = []
        while (message := await ws.receive_json()) is not None:
            messages.append(message)
            if message["type"] == "complete":
                break
    finally:
        await ws.close()
    kinds = [m["type"] for m in messages]
    assert kinds[-1] == "complete"
    assert kinds[-2] == "result"
    out = "".join(m["data"] for m in messages if m["type"] == "stdout")
    err = "".join(m["data"] for m in messages if m["type"] == "stderr")
    assert out == "hi you\n"
    assert err == "oops\n"
    assert messages[-2]["exit_code"] == 2
    assert messages[-1]["success"] is False


async def test_execute_stream_bad_request_is_refused(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(
        sandbox["public_host"], "/execute/stream", sandbox["auth_token"]
    )
    try:
        await ws.send_json({"type": "nonsense"})
        messages = await ws.messages_until_close()
    finally:
        await ws.close()
    assert messages[0]["type"] == "error"
    assert ws.closed is not None
    assert ws.closed.code == 1008


async def test_command_stream(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(
        sandbox["public_host"], "/commands/stream", sandbox["auth_token"]
    )
    try:
        await ws.send_json({"type": "run", "command": "bash", "args": ["-c", "echo one; echo two"]})
        messages = await ws.messages_until_close()
    finally:
        await ws.close()
    out = "".join(m["data"] for m in messages if m["type"] == "stdout")
    assert out == "one\ntwo\n"
    assert messages[-1]["type"] == "complete"


async def test_disconnect_kills_the_process(sandbox: dict[str, Any]) -> None:
    token = sandbox["auth_token"]
    ws = await RawWebSocket.connect(sandbox["public_host"], "/execute/stream", token)
    await ws.send_json(
        {
            "type": "execute",
            "language": "python",
            "timeout": 60,
            "code": "import time\nprint('started', flush=True)\nwhile True:\n"
            "    open('/workspace/beat', 'a').write('.')\n    time.sleep(0.05)\n",
        }
    )
    first = await ws.receive_json()
    assert first is not None
    assert first["type"] == "stdout"
    await ws.close()

    async def beats() -> int:
        reply = await call(
            sandbox["public_host"], "GET", "/files/read?path=/workspace/beat", headers=bearer(token)
        )
        # No file yet means the process died before its first beat.
        return len(doc(reply)["content"]) if reply.status == 200 else 0

    with anyio.fail_after(15):
        while True:
            before = await beats()
            await anyio.sleep(0.5)
            if await beats() == before:
                break


async def test_sessions_leave_no_open_queues() -> None:
    """Every way a session can end releases its message queue (an unclosed one would warn,
    and warnings are errors here)."""
    async with hopx_local.serve(api_key="k") as server:
        sb = await create_sandbox(server.base_url, "k")
        host, token = sb["public_host"], sb["auth_token"]
        run = {"type": "execute", "language": "python", "timeout": 30}
        finished = await RawWebSocket.connect(host, "/execute/stream", token)
        await finished.send_json({**run, "code": "print(1)"})
        assert (await finished.messages_until_close())[-1]["type"] == "complete"
        await finished.close()
        dropped = await RawWebSocket.connect(host, "/execute/stream", token)
        await dropped.send_json({**run, "code": "import time\nprint(1)\ntime.sleep(30)"})
        assert await dropped.receive_json() is not None
        await dropped.stream.aclose()  # no close frame
        refused = await RawWebSocket.connect(host, "/commands/stream", token)
        await refused.send_json({"type": "nonsense"})
        assert (await refused.messages_until_close())[0]["type"] == "error"
        await refused.close()
        silent = await RawWebSocket.connect(host, "/execute/stream", token)
        await silent.stream.aclose()
        shell = await RawWebSocket.connect(host, "/terminal", token)
        await shell.stream.aclose()
        left_open = await RawWebSocket.connect(host, "/files/watch", token)
        await left_open.send_json({"type": "watch", "path": "/workspace"})
        await anyio.sleep(0.5)
    await left_open.stream.aclose()
    gc.collect()


async def test_terminal_round_trip(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(sandbox["public_host"], "/terminal", sandbox["auth_token"])
    try:
        await ws.send_json({"type": "resize", "cols": 100, "rows": 30})
        await ws.send_json({"type": "input", "data": "echo $((6*7))\n"})
        await ws.output_until("42")
        await ws.send_json({"type": "input", "data": "exit 3\n"})
        rest = await ws.messages_until_close()
    finally:
        await ws.close()
    exits = [m for m in rest if m["type"] == "exit"]
    assert exits == [{"type": "exit", "code": 3}]


async def test_files_watch(sandbox: dict[str, Any]) -> None:
    token = sandbox["auth_token"]
    ws = await RawWebSocket.connect(sandbox["public_host"], "/files/watch", token)
    try:
        await ws.send_json({"action": "watch", "path": "/workspace"})
        await anyio.sleep(0.5)
        await call(
            sandbox["public_host"],
            "POST",
            "/files/write",
            headers=bearer(token),
            json_body={"path": "/workspace/watched.txt", "content": "x"},
        )
        with anyio.fail_after(20):
            while True:
                message = await ws.receive_json()
                assert message is not None
                if message["path"] == "/workspace/watched.txt":
                    break
        assert message["type"] == "change"
        assert message["event"] in ("created", "modified")
    finally:
        await ws.close()


async def test_paused_sandbox_refuses_streams(sandbox: dict[str, Any]) -> None:
    server = sandbox["server"]
    await call(
        server.base_url,
        "POST",
        f"/v1/sandboxes/{sandbox['id']}/pause",
        headers=[("x-api-key", "k")],
    )
    with pytest.raises(HopxError) as info:
        await RawWebSocket.connect(sandbox["public_host"], "/execute/stream", sandbox["auth_token"])
    assert info.value.code == "SANDBOX_PAUSED"


@pytest.mark.parametrize("path", ["/stream", "/stream/ipython"])
async def test_rich_and_ipython_streams_run_python(sandbox: dict[str, Any], path: str) -> None:
    ws = await RawWebSocket.connect(sandbox["public_host"], path, sandbox["auth_token"])
    try:
        await ws.send_json({"type": "execute", "code": "print(sum(range(10)))"})
        messages = await ws.messages_until_close()
    finally:
        await ws.close()
    out = "".join(m["data"] for m in messages if m["type"] == "stdout")
    assert out == "45\n"
    assert messages[-1] == {"type": "complete", "success": True, "exit_code": 0}


def _sandbox_python_has(module: str) -> bool:
    check = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    probe = [python_executable(), "-c", check]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


_DISPLAY_CODE = (
    "from IPython.display import HTML, display\n"
    "print('before')\n"
    "display(HTML('<b>bold</b>'))\n"
    "display({'application/json': {'n': 1}}, raw=True)\n"
)


@pytest.mark.skipif(not _sandbox_python_has("IPython"), reason="IPython is not installed")
async def test_rich_stream_sends_display_messages_before_the_result(
    sandbox: dict[str, Any],
) -> None:
    client = RichStreamClient()
    start = client.start(ExecuteStreamRequest(code=_DISPLAY_CODE, timeout=60))
    ws = await RawWebSocket.connect(sandbox["public_host"], "/stream", sandbox["auth_token"])
    try:
        await ws.send_json(json.loads(start))
        messages = await ws.messages_until_close()
    finally:
        await ws.close()
    kinds = [m["type"] for m in messages]
    assert kinds[-2:] == ["result", "complete"], messages
    displays = [m for m in messages if m["type"] == "display"]
    assert [(m["mime"], m["data"]) for m in displays] == [
        ("text/html", "<b>bold</b>"),
        ("application/json", {"n": 1}),
    ]
    assert all(m["timestamp"].endswith("Z") for m in displays)
    assert kinds.index("display") > kinds.index("stdout")
    assert kinds.index("display") < kinds.index("result")
    events: list[Any] = []
    for message in messages:
        events.extend(client.receive(json.dumps(message)))
    client.finish()
    rich = [e for e in events if isinstance(e, RichOutput)]
    assert [(e.mime, e.data) for e in rich] == [(m["mime"], m["data"]) for m in displays]


@pytest.mark.skipif(not _sandbox_python_has("IPython"), reason="IPython is not installed")
async def test_execute_stream_has_no_display_messages(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(
        sandbox["public_host"], "/execute/stream", sandbox["auth_token"]
    )
    try:
        await ws.send_json(
            {"type": "execute", "language": "python", "code": _DISPLAY_CODE, "timeout": 60}
        )
        messages = await ws.messages_until_close()
    finally:
        await ws.close()
    assert [m["type"] for m in messages if m["type"] not in ("stdout", "stderr")] == [
        "result",
        "complete",
    ], messages


async def test_pings_are_answered(sandbox: dict[str, Any]) -> None:
    from hopx_proto._http import NEED_DATA
    from hopx_proto._ws import Pong

    ws = await RawWebSocket.connect(sandbox["public_host"], "/terminal", sandbox["auth_token"])
    try:
        await ws.stream.send(ws.ws.send_ping(b"are-you-there"))
        with anyio.fail_after(10):
            while True:
                event = ws.ws.next_event()
                if isinstance(event, Pong):
                    assert event.payload == b"are-you-there"
                    break
                if event is NEED_DATA:
                    ws.ws.receive_data(await ws.stream.receive())
    finally:
        await ws.close()
