"""Agent endpoints about the agent itself: health, info, system, metrics, cache, env, Jupyter,
and the honest refusals for desktop automation and self-update."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import sys
import time
from typing import Any

from hopx_local._runtime.isolation import isolation_warning
from hopx_local._runtime.kernel import kernel_support
from hopx_proto import OPERATIONS, Operation, Plane
from hopx_proto.ops import (
    AGENT_HEALTH,
    AGENT_INFO,
    AGENT_PING,
    AGENT_ROOT,
    AGENT_SYSTEM,
    CACHE_CLEAR,
    CACHE_STATS,
    ENV_CLEAR,
    ENV_GET,
    ENV_SET,
    ENV_UPDATE,
    JUPYTER_SESSIONS,
    METRICS,
    METRICS_PROMETHEUS,
    METRICS_SNAPSHOT,
    UPDATE_APPLY,
    UPDATE_BACKUPS,
    UPDATE_RESTART,
    UPDATE_UPLOAD,
)

from .agent import AgentContext, Handler, served_operations
from .envelope import Problem, utc_now_text

__all__ = ["AGENT_NAME", "AGENT_VERSION", "HANDLERS", "SELF_UPDATE", "unavailable"]

AGENT_NAME = "hopx-local-agent"
AGENT_VERSION = "0.1.0"

#: What desktop automation needs that this emulator does not provide.
DESKTOP_DEPENDENCIES = ("xvfb", "x11vnc", "xdotool")
_DESKTOP_BINARIES = {"xvfb": "Xvfb", "x11vnc": "x11vnc", "xdotool": "xdotool"}


def _uptime_text(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def _canonical_languages(ctx: AgentContext) -> list[str]:
    names = {"python", "bash", "sh", "javascript", "go"}
    return sorted(n for n in ctx.fleet.languages if n in names)


def _features(ctx: AgentContext) -> dict[str, Any]:
    return {
        "code_execution": True,
        "file_operations": True,
        "terminal_access": True,
        "websocket_streaming": True,
        "rich_output": True,
        "background_jobs": True,
        "ipython_kernel": ctx.runtime.uses_kernel,
        "system_metrics": True,
        "desktop": False,
        "languages": _canonical_languages(ctx),
    }


async def root(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    return {
        "agent": AGENT_NAME,
        "version": AGENT_VERSION,
        "vm_id": ctx.sandbox_id,
        "endpoints": _endpoints(),
    }


#: The agent's self-update operations, which the local agent refuses.
SELF_UPDATE = frozenset({UPDATE_UPLOAD, UPDATE_APPLY, UPDATE_RESTART, UPDATE_BACKUPS})


def _endpoints() -> dict[str, str]:
    served = served_operations()
    return {
        op.name: f"{op.method} {op.path}"
        for op in OPERATIONS.values()
        if op.plane is Plane.AGENT and op in served
    }


async def health(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    uptime = time.time() - ctx.live.started
    return {
        "status": "healthy",
        "agent": AGENT_NAME,
        "version": AGENT_VERSION,
        "uptime": _uptime_text(uptime),
        "uptime_seconds": round(uptime, 3),
        "vm_id": ctx.sandbox_id,
        "features": _features(ctx),
        "active_streams": ctx.counters.active_streams,
    }


async def info(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    mode = ctx.fleet.config.isolation
    started = _dt.datetime.fromtimestamp(int(ctx.live.started), _dt.UTC)
    doc: dict[str, Any] = {
        "agent": AGENT_NAME,
        "version": AGENT_VERSION,
        "agent_version": AGENT_VERSION,
        "vm_id": ctx.sandbox_id,
        "platform": f"{sys.platform}/{platform.machine()}",
        "os": sys.platform,
        "arch": platform.machine(),
        "ip": ctx.fleet.config.host,
        "vm_ip": ctx.fleet.config.host,
        "port": str(ctx.live.port),
        "vm_port": ctx.live.port,
        "start_time": started.isoformat().replace("+00:00", "Z"),
        "uptime": round(time.time() - ctx.live.started, 3),
        "isolation": mode.value,
        "isolated": mode.value != "none",
        "endpoints": _endpoints(),
        "features": _features(ctx),
    }
    warning = isolation_warning(mode)
    if warning:
        doc["warning"] = warning
    # Everything this sandbox does not enforce or contain (isolation, limits), in words.
    doc["warnings"] = list(ctx.runtime.warnings)
    # Where Python runs: the sandbox's Jupyter kernel, or a fresh interpreter each time.
    doc["ipython_kernel"] = ctx.runtime.uses_kernel
    if not ctx.runtime.uses_kernel:
        support = kernel_support()
        doc["ipython_kernel_note"] = support.reason or "the Jupyter kernel is turned off"
    # What this host enforces for the sandbox (limits, filters, its own user), as facts.
    doc["enforcement"] = ctx.runtime.enforcement.to_wire()
    return doc


async def ping(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    return {"status": "ok", "message": "pong", "vm_id": ctx.sandbox_id, "timestamp": utc_now_text()}


def _meminfo() -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    found[key] = int(parts[0]) * 1024
    except OSError:
        return {}
    return found


def _usage(total: int, free: int) -> dict[str, Any]:
    used = max(total - free, 0)
    percent = round(used * 100.0 / total, 2) if total else 0.0
    return {"total": total, "used": used, "free": free, "usage_percent": percent}


async def system(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    mem = _meminfo()
    disk = shutil.disk_usage(ctx.fleet.sandbox_root(ctx.sandbox_id))
    return {
        "cpu": {"usage_percent": round(min(load / cores, 1.0) * 100.0, 2), "cores": cores},
        "memory": _usage(mem.get("MemTotal", 0), mem.get("MemAvailable", 0)),
        "disk": _usage(disk.total, disk.free),
        "uptime": round(time.time() - ctx.live.started, 3),
    }


async def jupyter_sessions(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    # The sandbox's kernel once the first Python execution started it.
    return {"sessions": ctx.runtime.kernel_sessions()}


async def cache_stats(_ctx: AgentContext, _args: Any) -> dict[str, Any]:
    # The local agent keeps no execution cache: every figure is a true zero.
    return {
        "enabled": False,
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "size": 0,
        "count": 0,
        "cache": {"size": 0, "max_size": 0, "total_hits": 0, "ttl": 0},
        "timestamp": utc_now_text(),
    }


async def cache_clear(_ctx: AgentContext, _args: Any) -> dict[str, Any]:
    return {
        "success": True,
        "message": "Cache cleared",
        "entries_removed": 0,
        "timestamp": utc_now_text(),
    }


def _runtime_metrics(ctx: AgentContext) -> dict[str, Any]:
    metrics = ctx.runtime.metrics()
    return dict(metrics) if isinstance(metrics, dict) else {}


def _snapshot(ctx: AgentContext) -> dict[str, Any]:
    c = ctx.counters
    averages = {
        name: round(total / max(sum(c.by_endpoint.get(name, {}).values()), 1), 3)
        for name, total in c.duration_ms.items()
    }
    return {
        "uptime_seconds": round(time.time() - ctx.live.started, 3),
        "total_requests": c.requests,
        "total_errors": c.errors,
        "error_count": c.errors,
        "active_executions": c.active_executions,
        "total_executions": c.executions,
        "requests_total": {k: dict(v) for k, v in c.by_endpoint.items()},
        "avg_duration_ms": averages,
        "sandbox": _runtime_metrics(ctx),
        "timestamp": utc_now_text(),
    }


async def metrics(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    return _snapshot(ctx)


async def metrics_snapshot(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    return _snapshot(ctx)


def _prometheus_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return None


async def metrics_prometheus(ctx: AgentContext, _args: Any) -> str:
    snap = _snapshot(ctx)
    lines: list[str] = []

    def gauge(name: str, help_text: str, value: Any, kind: str = "gauge") -> None:
        text = _prometheus_value(value)
        if text is None:
            return
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {text}")

    gauge("hopx_agent_uptime_seconds", "Seconds since the agent started.", snap["uptime_seconds"])
    gauge("hopx_agent_requests_total", "Requests served.", snap["total_requests"], "counter")
    gauge(
        "hopx_agent_errors_total",
        "Requests answered with an error.",
        snap["total_errors"],
        "counter",
    )
    gauge("hopx_agent_executions_total", "Executions started.", snap["total_executions"], "counter")
    gauge("hopx_agent_active_executions", "Executions running now.", snap["active_executions"])
    for key, value in sorted(snap["sandbox"].items()):
        safe = "".join(ch if ch.isalnum() else "_" for ch in str(key)).lower()
        gauge(f"hopx_sandbox_{safe}", f"Sandbox {key}.", value)
    return "\n".join(lines) + "\n"


async def env_get(ctx: AgentContext, _args: Any) -> dict[str, Any]:
    # The sandbox's real environment, as the service answers: its own variables (PATH,
    # HOME, ...) and those set through the API over them.
    values = ctx.runtime.environment()
    return {"env_vars": values, "count": len(values), "timestamp": utc_now_text()}


async def env_set(ctx: AgentContext, args: Any) -> dict[str, Any]:
    ctx.runtime.env_set(dict(args.env_vars))
    reply = await env_get(ctx, args)
    reply["message"] = "Environment variables replaced"
    return reply


async def env_update(ctx: AgentContext, args: Any) -> dict[str, Any]:
    ctx.runtime.env_update(dict(args.env_vars))
    reply = await env_get(ctx, args)
    reply["message"] = "Environment variables updated"
    return reply


async def env_clear(ctx: AgentContext, args: Any) -> dict[str, Any]:
    ctx.runtime.env_clear()
    reply = await env_get(ctx, args)
    reply["message"] = "Environment variables cleared"
    return reply


def unavailable(op: Operation[Any, Any]) -> Problem:
    """The refusal for an agent endpoint the local agent does not serve: self-update, or
    desktop automation (every other agent operation has a handler)."""
    if op in SELF_UPDATE:
        return Problem(
            501, "Agent self-update is not supported by the local emulator", code="NOT_SUPPORTED"
        )
    missing = [dep for dep in DESKTOP_DEPENDENCIES if shutil.which(_DESKTOP_BINARIES[dep]) is None]
    return Problem(
        503,
        "Desktop automation is not available in local sandboxes",
        code="DESKTOP_NOT_AVAILABLE",
        details={"missing_dependencies": missing or list(DESKTOP_DEPENDENCIES)},
    )


HANDLERS: dict[Operation[Any, Any], Handler] = {
    AGENT_ROOT: root,
    AGENT_HEALTH: health,
    AGENT_INFO: info,
    AGENT_PING: ping,
    AGENT_SYSTEM: system,
    JUPYTER_SESSIONS: jupyter_sessions,
    CACHE_STATS: cache_stats,
    CACHE_CLEAR: cache_clear,
    METRICS: metrics,
    METRICS_SNAPSHOT: metrics_snapshot,
    METRICS_PROMETHEUS: metrics_prometheus,
    ENV_GET: env_get,
    ENV_SET: env_set,
    ENV_UPDATE: env_update,
    ENV_CLEAR: env_clear,
}
