"""Timeouts read as timeouts: a run killed at its timeout says so in run_code, commands.run (plain
and streamed) and background processes, under asyncio and trio."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import hopx_local

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SLEEP = "import time; time.sleep(60)"


def _says_timed_out(result: Any) -> None:
    assert result.timed_out is True
    assert result.error is not None
    assert "timed out" in result.error.lower()
    assert result.exit_code == 137
    assert result.success is False
    assert not result.is_success


async def test_run_code_past_its_timeout(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        result = await sb.run_code(SLEEP, timeout_seconds=1)
        _says_timed_out(result)
        assert "1 s" in (result.error or "")
        quick = await sb.run_code("print('ok')", timeout_seconds=30)
        assert quick.timed_out is None
        assert quick.error is None
        failed = await sb.run_code("raise SystemExit(137)")
        assert failed.exit_code == 137
        assert failed.timed_out is None


async def test_commands_past_their_timeout(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        plain = await sb.commands.run("echo started; sleep 60", timeout_seconds=1)
        _says_timed_out(plain)
        assert plain.stdout == "started\n"
        seen: list[str] = []
        streamed = await sb.commands.run(
            "echo started; sleep 60", timeout_seconds=1, on_stdout=seen.append
        )
        assert streamed.timed_out is True
        assert "timed out" in (streamed.error or "").lower()
        assert streamed.success is False
        assert "".join(seen) == "started\n"
        done = await sb.commands.run("true", timeout_seconds=30)
        assert done.timed_out is None
        assert done.error is None


async def _finished(sb: Any, process_id: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            for record in await sb.list_processes():
                if record["process_id"] == process_id and record["status"] != "running":
                    return dict(record)
            await anyio.sleep(0.2)


async def test_background_past_its_timeout(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        started = await sb.run_code_background(SLEEP, timeout=1)
        record = await _finished(sb, started["process_id"])
        assert record["status"] == "failed"
        assert record["timed_out"] is True
        assert "timed out after 1 s" in record["error"].lower()
        killed = await sb.run_code_background(SLEEP, timeout=120)
        await sb.kill_process(killed["process_id"])
        record = await _finished(sb, killed["process_id"])
        assert record["status"] == "killed"
        assert "timed_out" not in record
        quick = await sb.run_code_background("print(1)", timeout=120)
        record = await _finished(sb, quick["process_id"])
        assert record["status"] == "completed"
        assert "timed_out" not in record
