"""The real clients, each measured in a process of its own through its public API.

``AsyncSandbox.create``, then ``env.get_all()`` in batches, then ``run_code_stream`` of the
big and the tiny programs, reading each message's ``type`` and the ``data`` of ``stdout``
as a user's loop would. The synchronous clients run the same; where a ``Sandbox`` streams
through an async generator (the official one), its streams run under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from _cpu_work import Report, Workload, record_stream

__all__ = ["REAL_CLIENTS", "RealClient", "available", "measure"]

#: Requests before the timing, and one short stream: what is measured is the steady cost,
#: not the first connection's or the first WebSocket's one-time work.
WARMUP = 20


@dataclass(frozen=True)
class RealClient:
    """A client measured through its public API.

    Args:
        label: its row in the tables (``module.Class``).
        loop: ``"asyncio"``, ``"trio"`` or ``"blocking"``: the loop its requests run on.
        official: the row of the official client it is compared with (``None``: it is one).
        requires: the module whose presence adds it to the run.
    """

    label: str
    loop: str
    official: str | None
    requires: str

    @property
    def module(self) -> str:
        return self.label.rsplit(".", 1)[0]

    @property
    def cls(self) -> str:
        return self.label.rsplit(".", 1)[1]


OFFICIAL_ASYNC = "hopx_ai.AsyncSandbox"
OFFICIAL_SYNC = "hopx_ai.Sandbox"

#: Every real client, in the order they take turns; the synchronous pair only when
#: ``hopx_sync`` is installed.
REAL_CLIENTS = (
    RealClient("hopx_asyncio.AsyncSandbox", "asyncio", OFFICIAL_ASYNC, "hopx_asyncio"),
    RealClient("hopx_trio.AsyncSandbox", "trio", OFFICIAL_ASYNC, "hopx_trio"),
    RealClient(OFFICIAL_ASYNC, "asyncio", None, "hopx_ai"),
    RealClient("hopx_sync.Sandbox", "blocking", OFFICIAL_SYNC, "hopx_sync"),
    RealClient(OFFICIAL_SYNC, "blocking", None, "hopx_sync"),
)


def available() -> list[RealClient]:
    """The real clients installed here."""
    return [c for c in REAL_CLIENTS if importlib.util.find_spec(c.requires) is not None]


def _count(message: Any, tally: list[int]) -> None:
    if message.get("type") == "stdout":
        tally[0] += 1
        tally[1] += len(message.get("data", ""))


def _programs(work: Workload) -> list[tuple[str, str]]:
    return [
        (kind, code)
        for kind, code in (("mb", work.big_code), ("frame", work.tiny_code))
        for _ in range(work.batches)
    ]


async def _async_streams(sandbox: Any, row: str, work: Workload, report: Report) -> None:
    async for _message in sandbox.run_code_stream("print('warm-up')", timeout=60):
        pass
    for kind, code in _programs(work):
        tally = [0, 0]  # stdout frames, characters
        cpu = time.process_time()
        async for message in sandbox.run_code_stream(code, timeout=120):
            _count(message, tally)
        record_stream(report, row, kind, work, time.process_time() - cpu, *tally)


def _sync_streams(sandbox: Any, row: str, work: Workload, report: Report) -> None:
    for _message in sandbox.run_code_stream("print('warm-up')", timeout=60):
        pass
    for kind, code in _programs(work):
        tally = [0, 0]
        cpu = time.process_time()
        for message in sandbox.run_code_stream(code, timeout=120):
            _count(message, tally)
        record_stream(report, row, kind, work, time.process_time() - cpu, *tally)


def _credentials() -> dict[str, str]:
    return {"api_key": os.environ["HOPX_API_KEY"], "base_url": os.environ["HOPX_BASE_URL"]}


async def _measure_async(cls: Any, row: str, work: Workload, report: Report) -> None:
    sandbox = await cls.create(template="code-interpreter", **_credentials())
    try:
        for _ in range(WARMUP):
            await sandbox.env.get_all()
        for _ in range(work.batches):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(work.requests):
                await sandbox.env.get_all()
            report.add(row, "request", (time.process_time() - cpu) / work.requests)
            report.add(row, "request_wall", (time.perf_counter() - wall) / work.requests)
        report.facts["env"] = dict(await sandbox.env.get_all())
        await _async_streams(sandbox, row, work, report)
    finally:
        await sandbox.kill()
        close = getattr(sandbox, "aclose", None)
        if close is not None:
            await close()


def _measure_sync(cls: Any, row: str, work: Workload, report: Report) -> None:
    sandbox = cls.create(template="code-interpreter", **_credentials())
    try:
        for _ in range(WARMUP):
            sandbox.env.get_all()
        for _ in range(work.batches):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(work.requests):
                sandbox.env.get_all()
            report.add(row, "request", (time.process_time() - cpu) / work.requests)
            report.add(row, "request_wall", (time.perf_counter() - wall) / work.requests)
        report.facts["env"] = dict(sandbox.env.get_all())
        if inspect.isasyncgenfunction(cls.run_code_stream):
            report.facts["stream_loop"] = "asyncio"
            asyncio.run(_async_streams(sandbox, row, work, report))
        else:
            _sync_streams(sandbox, row, work, report)
    finally:
        sandbox.kill()
        close = getattr(sandbox, "close", None)
        if close is not None:
            close()


def measure(client: RealClient, work: Workload, *, hide_orjson: bool = False) -> Report:
    """``client``'s samples, measured in this process.

    Args:
        hide_orjson: make ``import orjson`` fail, so that a client that would use it when
            installed runs on stdlib json.
    """
    if hide_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]
    cls = getattr(importlib.import_module(client.module), client.cls)
    report = Report(facts={"stream_loop": client.loop})
    if client.loop == "blocking":
        _measure_sync(cls, client.label, work, report)
    elif client.loop == "trio":
        import trio

        trio.run(_measure_async, cls, client.label, work, report)
    else:
        asyncio.run(_measure_async(cls, client.label, work, report))
    return report
