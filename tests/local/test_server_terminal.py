"""The terminal endpoint against clients that skip our own checks: out-of-range sizes and
other malformed messages end the session with a policy close (1008), never a traceback in the
logs; unknown messages are ignored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from test_server_support import RawWebSocket, create_sandbox

import hopx_local

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sandbox() -> AsyncIterator[dict[str, Any]]:
    async with hopx_local.serve(api_key="k") as server:
        reply = await create_sandbox(server.base_url, "k")
        reply["server"] = server
        yield reply


async def _shell_answers(ws: RawWebSocket) -> None:
    await ws.send_json({"type": "input", "data": "echo $((6*7))\n"})
    await ws.output_until("42")


class _SessionLogged(logging.Handler):
    """Set once the server logs the request line of a ``/terminal`` session (its end)."""

    def __init__(self) -> None:
        super().__init__()
        self.done = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "/terminal 101" in record.getMessage():
            self.done.set()


@pytest.mark.parametrize(
    "message",
    [
        {"type": "resize", "cols": 70000, "rows": 24},
        {"type": "resize", "cols": 80, "rows": 65536},
        {"type": "resize", "cols": -1, "rows": 24},
        {"type": "resize", "cols": 0, "rows": 24},
        {"type": "resize", "cols": 80, "rows": 0},
        {"type": "resize", "cols": "wide", "rows": 24},
        {"type": "resize", "cols": 80},
        {"type": "input", "data": 5},
    ],
)
async def test_malformed_message_closes_with_policy_violation(
    sandbox: dict[str, Any], message: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logged = _SessionLogged()
    server_log = logging.getLogger("hopx.local")
    server_log.addHandler(logged)
    try:
        ws = await RawWebSocket.connect(sandbox["public_host"], "/terminal", sandbox["auth_token"])
        try:
            await _shell_answers(ws)
            await ws.send_json(message)
            await ws.messages_until_close()
        finally:
            await ws.close()
        with anyio.fail_after(10):
            await logged.done.wait()
    finally:
        server_log.removeHandler(logged)
    assert ws.closed is not None
    assert ws.closed.code == 1008
    assert ws.closed.reason.startswith(f"Invalid request: '{message['type']}' message: ")
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


async def test_largest_size_is_accepted(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(sandbox["public_host"], "/terminal", sandbox["auth_token"])
    try:
        await ws.send_json({"type": "resize", "cols": 65535, "rows": 65535})
        await ws.send_json({"type": "input", "data": "stty size\n"})
        await ws.output_until("65535 65535")
    finally:
        await ws.close()


async def test_unknown_messages_leave_the_shell_usable(sandbox: dict[str, Any]) -> None:
    ws = await RawWebSocket.connect(sandbox["public_host"], "/terminal", sandbox["auth_token"])
    try:
        await ws.send_json({"type": "signal", "name": "INT"})
        await ws.send_json([1, 2])
        await _shell_answers(ws)
    finally:
        await ws.close()
