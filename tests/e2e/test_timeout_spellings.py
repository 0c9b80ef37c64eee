"""Both spellings of an execution timeout work on every execution method: ``timeout=`` where
the official client documents ``timeout_seconds=`` and the other way round (the reference page
and the official client disagree), under asyncio and trio. Each run below sleeps far longer
than the timeout it passes, so only a timeout that reached the agent ends it early."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import hopx_local
from hopx_proto import LocalProtocolError

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SLEEP = "import time; time.sleep(30)"


async def test_every_execution_method_takes_both_spellings(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        with anyio.fail_after(25):
            result = await sb.run_code(SLEEP, timeout=1)
        assert result.exit_code != 0
        with anyio.fail_after(25):
            result = await sb.commands.run("sleep 30", timeout=1)
        assert result.exit_code != 0
        with anyio.fail_after(25):
            events = [dict(e) async for e in sb.run_code_stream(SLEEP, timeout_seconds=1)]
        assert events[-1]["type"] == "complete"
        assert not events[-1].get("success")
        with anyio.fail_after(25):
            events = [dict(e) async for e in sb.commands.stream("sleep 30", timeout=1)]
        assert events[-1].get("exit_code") not in (None, 0)

        started = await sb.run_code_background(SLEEP, timeout_seconds=1)
        with anyio.fail_after(25):
            while True:
                found = [
                    p for p in await sb.list_processes() if p["process_id"] == started["process_id"]
                ]
                if found and found[0].get("status") != "running":
                    break
                await anyio.sleep(0.2)
        queued = await sb.run_code_async("print(1)", "http://127.0.0.1:9/hook", timeout_seconds=5)
        assert queued.get("execution_id")


async def test_two_different_values_are_refused(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        with pytest.raises(LocalProtocolError, match="pass one of them"):
            await sb.run_code("print(1)", timeout_seconds=10, timeout=20)
        with pytest.raises(LocalProtocolError, match="pass one of them"):
            await sb.commands.run("true", timeout_seconds=10, timeout=20)
        with pytest.raises(LocalProtocolError, match="pass one of them"):
            sb.run_code_stream("print(1)", timeout=10, timeout_seconds=20)
        # The same value twice is one setting, not a conflict.
        assert (await sb.run_code("print(2)", timeout_seconds=30, timeout=30)).stdout == "2\n"
