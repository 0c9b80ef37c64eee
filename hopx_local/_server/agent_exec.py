"""Execution endpoints: code, commands, background processes, kills, and asynchronous
executions whose result is posted to a webhook."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import anyio

from hopx_local._runtime.records import ExecOutcome, ProcessRecord
from hopx_proto import WEBHOOK_SIGNATURE_HEADER, Operation, sign_webhook
from hopx_proto.ops import (
    COMMANDS_BACKGROUND,
    COMMANDS_RUN,
    EXECUTE,
    EXECUTE_ASYNC,
    EXECUTE_BACKGROUND,
    EXECUTE_IPYTHON,
    EXECUTE_KILL,
    EXECUTE_KILL_BY_PATH,
    EXECUTE_PROCESS_OUTPUT,
    EXECUTE_PROCESSES,
    PROCESSES_KILL,
    PROCESSES_LIST,
)
from hopx_proto.wire import dumps

from .agent import AgentContext, Handler
from .checks import argv, seconds
from .envelope import utc_now_text
from .webhook import post_webhook

__all__ = ["HANDLERS", "outcome_fields", "process_fields"]

log = logging.getLogger("hopx.local")

#: Rich output MIME types -> the flat key of the execute reply that carries the first one.
_RICH_KEYS = {
    "image/png": "png",
    "text/html": "html",
    "application/json": "json",
    "image/svg+xml": "svg",
    "text/markdown": "markdown",
    "application/vnd.dataframe+json": "dataframe",
}


#: What a reply says of an execution killed at its timeout (as the stream's error message).
TIMED_OUT_ERROR = "Execution timed out after {limit:g} s"
TIMED_OUT_CODE = "EXECUTION_TIMEOUT"


def outcome_fields(outcome: ExecOutcome, limit: float | None = None) -> dict[str, Any]:
    """The common keys of an execution or command reply.

    A run killed at its timeout ``limit`` (seconds) also carries ``timed_out: true``, the
    ``error`` text and the ``code`` ``EXECUTION_TIMEOUT`` the stream reports it with.
    """
    timed_out = outcome.timed_out
    doc: dict[str, Any] = {
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "exit_code": int(outcome.exit_code),
        "execution_time": float(outcome.execution_time),
        "success": int(outcome.exit_code) == 0 and not timed_out,
        "timestamp": utc_now_text(),
    }
    if timed_out:
        doc["timed_out"] = True
        doc["error"] = (
            TIMED_OUT_ERROR.format(limit=limit) if limit is not None else "Execution timed out"
        )
        doc["code"] = TIMED_OUT_CODE
    if outcome.truncated:
        doc["truncated"] = True
    if outcome.error is not None:
        doc["error"] = outcome.error
    if outcome.kernel_restarted:
        doc["kernel_restarted"] = True
    return doc


def rich_entry(item: dict[str, Any]) -> dict[str, Any]:
    """One rich output as the ``rich_outputs`` of a reply carry it: ``type``, ``format``,
    ``data`` and ``metadata`` (with its ``source``: matplotlib, pandas, plotly or other)."""
    mime = str(item.get("type"))
    key = _RICH_KEYS.get(mime)
    formats = {"png": "base64", "dataframe": "json", "json": "json"}
    metadata = item.get("metadata")
    return {
        "type": mime,
        "format": item.get("format") or formats.get(key or "", key or "text"),
        "data": item.get("data"),
        "metadata": dict(metadata) if isinstance(metadata, dict) else {"source": "other"},
    }


def _rich_fields(outcome: ExecOutcome) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in outcome.rich:
        key = _RICH_KEYS.get(str(item.get("type")))
        data = item.get("data")
        if key == "json" and not isinstance(data, dict):
            continue  # the reply's ``json`` is an object; other JSON stays in rich_outputs
        if key is not None and key not in found:
            found[key] = data
    if outcome.result is not None:
        found["result"] = outcome.result
    if outcome.rich:
        found["rich_outputs"] = [rich_entry(item) for item in outcome.rich]
    return found


def process_fields(record: ProcessRecord) -> dict[str, Any]:
    """A tracked background process as ``ProcessInfo``."""
    doc: dict[str, Any] = {
        "process_id": record.process_id,
        "execution_id": record.execution_id,
        "name": record.name,
        "status": record.status,
        "language": record.language,
        "pid": record.pid,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "exit_code": record.exit_code,
        "duration": record.duration,
        "timed_out": record.timed_out,
        "error": record.error,
    }
    return {k: v for k, v in doc.items() if v is not None}


def _timeout(args: Any) -> float:
    """The execution timeout of a request, in seconds (a 400 beyond the emulator's bound)."""
    return float(seconds(args.timeout, "timeout", code="INVALID_REQUEST"))


async def _counted(ctx: AgentContext) -> None:
    ctx.counters.executions += 1


async def execute(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await _counted(ctx)
    ctx.counters.active_executions += 1
    try:
        outcome = await ctx.runtime.execute(
            args.code,
            args.language,
            env=dict(args.env or {}),
            workdir=args.workdir,
            timeout=_timeout(args),
        )
    finally:
        ctx.counters.active_executions -= 1
    doc = outcome_fields(outcome, _timeout(args))
    doc["language"] = args.language
    doc.update(_rich_fields(outcome))
    return doc


async def execute_ipython(ctx: AgentContext, args: Any) -> dict[str, Any]:
    # In the sandbox's Jupyter kernel (magics, shell escapes) when it has one; otherwise the
    # code runs as a plain Python program.
    await _counted(ctx)
    ctx.counters.active_executions += 1
    try:
        outcome = await ctx.runtime.execute(
            args.code,
            "python",
            env=dict(args.env or {}),
            workdir="/workspace",
            timeout=_timeout(args),
        )
    finally:
        ctx.counters.active_executions -= 1
    doc = outcome_fields(outcome)
    doc["language"] = "python"
    doc.update(_rich_fields(outcome))
    return doc


def _background_reply(record: ProcessRecord, message: str) -> dict[str, Any]:
    doc = process_fields(record)
    reply = {
        "process_id": doc["process_id"],
        "execution_id": doc.get("execution_id"),
        "status": doc.get("status", "running"),
        "start_time": doc.get("start_time"),
        "name": doc.get("name"),
        "pid": doc.get("pid"),
        "message": message,
    }
    return {k: v for k, v in reply.items() if v is not None}


async def execute_background(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await _counted(ctx)
    record = await ctx.runtime.start_background(
        args.code,
        args.language,
        env=dict(args.env or {}),
        workdir=args.workdir or "/workspace",
        timeout=_timeout(args),
        name=args.name,
    )
    return _background_reply(record, "Background execution started")


async def commands_background(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await _counted(ctx)
    record = await ctx.runtime.start_background(
        None,
        "bash",
        argv=argv([args.command, *args.args], "command and args", code="INVALID_REQUEST"),
        env=dict(args.env or {}),
        workdir=args.workdir,
        timeout=_timeout(args),
        name=None,
    )
    return _background_reply(record, "Background command started")


async def commands_run(ctx: AgentContext, args: Any) -> dict[str, Any]:
    await _counted(ctx)
    ctx.counters.active_executions += 1
    try:
        argv([args.command, *args.args], "command and args", code="INVALID_REQUEST")
        outcome = await ctx.runtime.run_command(
            args.command,
            list(args.args),
            env=dict(args.env or {}),
            workdir=args.workdir,
            timeout=_timeout(args),
        )
    finally:
        ctx.counters.active_executions -= 1
    doc = outcome_fields(outcome, _timeout(args))
    doc["command"] = " ".join([args.command, *args.args])
    if outcome.pid is not None:
        doc["pid"] = outcome.pid
    return doc


async def kill(ctx: AgentContext, args: Any) -> dict[str, Any]:
    record = await ctx.runtime.kill(args.process_id)
    doc = process_fields(record)
    doc.update(success=True, message=f"Process {args.process_id} killed")
    return doc


async def execute_processes(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    found = [process_fields(r) for r in ctx.runtime.list_processes()]
    return {"processes": found, "count": len(found), "timestamp": utc_now_text()}


async def process_output(ctx: AgentContext, args: Any) -> dict[str, Any]:
    """What a background process wrote from the offsets asked for (an extension)."""
    offsets = (args.stdout_offset, args.stderr_offset)
    record, found = await ctx.runtime.process_output_from(args.process_id, offsets, args.max_bytes)
    (out, out_next, out_size), (err, err_next, err_size) = found
    doc: dict[str, Any] = {
        "process_id": record.process_id,
        "status": record.status,
        "stdout": out.decode("utf-8", errors="replace"),
        "stderr": err.decode("utf-8", errors="replace"),
        "stdout_offset": out_next,
        "stderr_offset": err_next,
        "stdout_size": out_size,
        "stderr_size": err_size,
        "complete": record.status != "running" and out_next >= out_size and err_next >= err_size,
    }
    if record.exit_code is not None:
        doc["exit_code"] = record.exit_code
    return doc


async def system_processes(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    found = list(ctx.runtime.system_processes())
    return {"processes": found, "count": len(found), "timestamp": utc_now_text()}


async def execute_async(ctx: AgentContext, args: Any) -> dict[str, Any]:
    _timeout(args)  # refused now, not in the webhook
    await _counted(ctx)
    execution_id = f"exec_{int(time.time())}{secrets.token_hex(4)}"
    ctx.fleet.spawn(_run_and_notify, ctx, args, execution_id)
    return {
        "execution_id": execution_id,
        "status": "queued",
        "callback_url": args.callback_url,
        "message": "Execution queued; the result will be posted to the callback URL",
        "timestamp": utc_now_text(),
    }


async def _run_and_notify(ctx: AgentContext, args: Any, execution_id: str) -> None:
    started = time.monotonic()
    payload: dict[str, Any] = {"execution_id": execution_id}
    ctx.counters.active_executions += 1
    try:
        outcome = await ctx.runtime.execute(
            args.code,
            args.language,
            env=dict(args.env or {}),
            workdir=args.workdir,
            timeout=_timeout(args),
        )
        fields = outcome_fields(outcome, _timeout(args))
        status = (
            "timeout"
            if fields.get("timed_out")
            else ("completed" if fields["exit_code"] == 0 else "failed")
        )
        payload.update(
            status=status,
            stdout=fields["stdout"],
            stderr=fields["stderr"],
            exit_code=fields["exit_code"],
            execution_time=fields["execution_time"],
        )
        if "error" in fields:
            payload["error"] = fields["error"]
    except Exception as exc:  # noqa: BLE001  (the webhook reports any failure)
        log.warning("async execution %s failed: %s", execution_id, exc)
        payload.update(
            status="failed",
            stdout="",
            stderr="",
            error=str(exc),
            execution_time=round(time.monotonic() - started, 3),
        )
    finally:
        ctx.counters.active_executions -= 1
    payload["timestamp"] = utc_now_text()
    body = dumps(payload)
    headers: list[tuple[str, str]] = list((args.callback_headers or {}).items())
    if args.callback_signature_secret:
        headers.append(
            (WEBHOOK_SIGNATURE_HEADER, sign_webhook(args.callback_signature_secret, body))
        )
    try:
        with anyio.fail_after(30):
            status_code = await post_webhook(args.callback_url, body, headers)
    except Exception as exc:  # noqa: BLE001  (a dead callback must not hurt the agent)
        log.warning("webhook for %s to %s failed: %s", execution_id, args.callback_url, exc)
        return
    log.info("webhook for %s to %s answered %d", execution_id, args.callback_url, status_code)


HANDLERS: dict[Operation[Any, Any], Handler] = {
    EXECUTE: execute,
    EXECUTE_IPYTHON: execute_ipython,
    EXECUTE_BACKGROUND: execute_background,
    EXECUTE_ASYNC: execute_async,
    EXECUTE_KILL: kill,
    EXECUTE_KILL_BY_PATH: kill,
    PROCESSES_KILL: kill,
    EXECUTE_PROCESSES: execute_processes,
    EXECUTE_PROCESS_OUTPUT: process_output,
    PROCESSES_LIST: system_processes,
    COMMANDS_RUN: commands_run,
    COMMANDS_BACKGROUND: commands_background,
}
