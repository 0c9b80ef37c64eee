"""The output of background processes is kept and read later, whole or followed from offsets,
while they run and after they end (``get_process_output``, an extension of the emulator)."""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import pytest

import hopx_local
from hopx_proto._errors import AgentError, LocalProtocolError
from hopx_proto._models.agent import ProcessOutput
from hopx_proto._url import BaseURL

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WAITS_FOR_GO = """
import os, sys, time
print("ready", flush=True)
print("warming up", file=sys.stderr, flush=True)
while not os.path.exists("/workspace/go"):
    time.sleep(0.05)
print("done é€😀", flush=True)
sys.exit(3)
"""


async def _until_complete(sb: Any, process_id: str) -> ProcessOutput:
    with anyio.fail_after(60):
        while True:
            output = await sb.get_process_output(process_id)
            if output.complete:
                return output  # type: ignore[no-any-return]
            await anyio.sleep(0.2)


async def test_code_output_while_running_and_after(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        started = await sb.run_code_background(WAITS_FOR_GO, name="waiter")
        process_id = started["process_id"]
        with anyio.fail_after(60):
            while True:
                running = await sb.get_process_output(process_id)
                if running.stdout and running.stderr:
                    break
                await anyio.sleep(0.2)
        assert running.status == "running"
        assert not running.complete
        assert running.exit_code is None
        assert running.stdout == "ready\n"
        assert running.stderr == "warming up\n"
        assert (running.stdout_offset, running.stdout_size) == (6, 6)
        await sb.files.write("/workspace/go", "")
        done = await _until_complete(sb, process_id)
        assert done.status == "failed"
        assert done.exit_code == 3
        assert done.stdout == "ready\ndone é€😀\n"
        assert done.stderr == "warming up\n"
        # From the offsets of the earlier read: only what came since.
        rest = await sb.get_process_output(
            process_id,
            stdout_offset=running.stdout_offset,
            stderr_offset=running.stderr_offset,
        )
        assert rest.stdout == "done é€😀\n"
        assert rest.stderr == ""
        assert rest.complete


async def test_following_in_small_pieces_never_splits_a_character(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    text = "aé€😀" * 50 + "\n"
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        started = await sb.run_code_background(f"print({text[:-1]!r})")
        process_id = started["process_id"]
        await _until_complete(sb, process_id)
        pieces: list[str] = []
        offset = 0
        for _ in range(len(text.encode()) + 2):
            part = await sb.get_process_output(process_id, stdout_offset=offset, max_bytes=5)
            assert len(part.stdout.encode()) <= 5
            assert "\ufffd" not in part.stdout
            pieces.append(part.stdout)
            offset = part.stdout_offset
            if part.complete:
                break
        assert "".join(pieces) == text
        assert offset == len(text.encode())


async def test_command_in_background_output(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        started = await sb.commands.run("echo out; echo err >&2; exit 0", background=True)
        process_id = started.stdout.rsplit(" ", 1)[-1]
        assert process_id.startswith("cmd_")
        done = await _until_complete(sb, process_id)
        assert (done.stdout, done.stderr, done.exit_code) == ("out\n", "err\n", 0)
        assert done.status == "completed"
        # Still there after the process was listed and killed (a no-op once it ended).
        await sb.kill_process(process_id)
        again = await sb.get_process_output(process_id)
        assert again.stdout == "out\n"


async def test_bad_requests(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        with pytest.raises(AgentError) as info:
            await sb.get_process_output("proc_nothing")
        assert info.value.status_code == 404
        assert info.value.code == "PROCESS_NOT_FOUND"
        for bad in ({"stdout_offset": -1}, {"stderr_offset": -1}, {"max_bytes": 0}):
            with pytest.raises(LocalProtocolError):
                await sb.get_process_output("proc_nothing", **bad)
        # The server checks the same itself.
        info_doc = await sb.get_info()
        port = BaseURL.parse(info_doc.public_host).port
        token = await sb.get_token()
        for query in ("stdout_offset=-1", "stderr_offset=x", "max_bytes=0"):
            raw = await anyio.to_thread.run_sync(_raw_get, port, token, query)
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), head
            assert json.loads(body)["code"] == "INVALID_REQUEST"


def _raw_get(port: int, token: str, query: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        request = (
            f"GET /execute/processes/proc_x/output?{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
