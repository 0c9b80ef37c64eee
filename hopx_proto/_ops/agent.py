"""Agent operations: execution, processes, commands, environment, cache, health and metrics.

Request bodies list their keys in the order the official client sends them, so the bytes on the
wire match it. Arguments are checked before any bytes exist: timeouts are positive integers,
working directories absolute, code a string, process ids non-empty, environment maps
``str -> str`` with usable names. The WebSocket paths are operations too (``websocket=True``):
their upgrade request's target and credential come from this table, and the stream machines
take over after the handshake.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any, cast

import attrs

from .._checks import absolute_path, non_empty, non_negative, positive
from .._errors import LocalProtocolError
from .._models.agent import (
    AgentInfo,
    AsyncExecution,
    BackgroundExecution,
    CommandResult,
    EnvVars,
    ExecutionResult,
    HealthInfo,
    JupyterSessions,
    MetricsSnapshot,
    ProcessList,
    ProcessOutput,
    SystemMetrics,
    SystemProcessList,
)
from .._value import Value
from ._base import (
    Model,
    NoArgs,
    NoContent,
    Operation,
    Plane,
    RawJSON,
    ResultCodec,
    Text,
    body,
    path_param,
    query,
)

__all__ = [
    "AGENT_HEALTH",
    "AGENT_INFO",
    "AGENT_PING",
    "AGENT_ROOT",
    "AGENT_SYSTEM",
    "CACHE_CLEAR",
    "CACHE_STATS",
    "COMMANDS_BACKGROUND",
    "COMMANDS_RUN",
    "COMMANDS_STREAM",
    "ENV_CLEAR",
    "ENV_GET",
    "ENV_SET",
    "ENV_UPDATE",
    "EXECUTE",
    "EXECUTE_ASYNC",
    "EXECUTE_BACKGROUND",
    "EXECUTE_IPYTHON",
    "EXECUTE_KILL",
    "EXECUTE_KILL_BY_PATH",
    "EXECUTE_PROCESSES",
    "EXECUTE_PROCESS_OUTPUT",
    "EXECUTE_STREAM",
    "JUPYTER_SESSIONS",
    "METRICS",
    "METRICS_PROMETHEUS",
    "METRICS_SNAPSHOT",
    "PROCESSES_KILL",
    "PROCESSES_LIST",
    "STREAM",
    "STREAM_IPYTHON",
    "TERMINAL",
    "AsyncExecuteArgs",
    "BackgroundExecuteArgs",
    "CommandArgs",
    "EnvSetArgs",
    "EnvUpdateArgs",
    "ExecuteArgs",
    "IPythonExecuteArgs",
    "ProcessId",
    "ProcessIdQuery",
    "ProcessOutputArgs",
]

DEFAULT_WORKDIR = "/workspace"

# ---------------------------------------------------------------------------------------------
# Validators (LocalProtocolError before any bytes; a server turns it into a 400)


def _timeout(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LocalProtocolError(
            f"{attribute.name} must be a positive number of seconds, got {value!r}"
        )


def _string(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a string, got {type(value).__name__}")


def _workdir(instance: Any, attribute: Any, value: Any) -> None:
    if value is None and attribute.default is not None:
        raise LocalProtocolError(f"{attribute.name} must be an absolute path, got None")
    absolute_path(instance, attribute, value)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _env_name(name: str) -> bool:
    return "=" not in name and "\x00" not in name


def _env_value(value: str) -> bool:
    return "\x00" not in value


def _header_name(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None


def _header_value(value: str) -> bool:
    return not any(c in value for c in "\r\n\x00")


def _str_map(what: str, name_ok: Callable[[str], bool], value_ok: Callable[[str], bool]) -> Any:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise LocalProtocolError(f"{attribute.name} must be a mapping of {what}")
        for key, item in value.items():
            if not isinstance(key, str) or not key or not name_ok(key):
                raise LocalProtocolError(f"{attribute.name}: invalid name {key!r}")
            if not isinstance(item, str):
                raise LocalProtocolError(
                    f"{attribute.name}[{key!r}] must be a string, got {type(item).__name__}"
                )
            if not value_ok(item):
                raise LocalProtocolError(f"{attribute.name}[{key!r}]: invalid value {item!r}")

    return check


_env = _str_map("variable names to string values", _env_name, _env_value)
_headers = _str_map("header names to string values", _header_name, _header_value)


def _str_list(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LocalProtocolError(f"{attribute.name} must be a list of strings")
    if any("\x00" in v for v in value):
        raise LocalProtocolError(f"{attribute.name} must not contain NUL characters")


def _callback_url(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise LocalProtocolError(f"{attribute.name} must be an http(s) URL, got {value!r}")


def _optional_string(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a string, got {type(value).__name__}")


def _flag(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise LocalProtocolError(f"{attribute.name} must be true or false, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Arguments


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ExecuteArgs(Value):
    """``POST /execute``: run code and wait for it (``timeout`` in seconds)."""

    language: str = body(default="python", validator=non_empty)
    code: str = body(validator=_string)
    workdir: str = body(default=DEFAULT_WORKDIR, validator=_workdir)
    timeout: int = body(default=120, validator=_timeout)
    env: dict[str, str] | None = body(default=None, validator=_env)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class BackgroundExecuteArgs(Value):
    """``POST /execute/background``: start code and return at once.

    ``workdir`` is not part of the OpenAPI request and is sent only when given (the agent
    otherwise runs background code in its own scratch directory).
    """

    code: str = body(validator=_string)
    language: str = body(default="python", validator=non_empty)
    timeout: int = body(default=300, validator=_timeout)
    env: dict[str, str] | None = body(default=None, validator=_env)
    name: str | None = body(default=None, validator=_optional_string)
    workdir: str | None = body(default=None, validator=_workdir)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class AsyncExecuteArgs(Value):
    """``POST /execute/async``: queue code; the agent posts the result to ``callback_url``.

    With ``callback_signature_secret`` the webhook is signed (see
    :func:`hopx_proto._models.agent.verify_webhook`).
    """

    code: str = body(validator=_string)
    language: str = body(default="python", validator=non_empty)
    timeout: int = body(default=1800, validator=_timeout)
    workdir: str = body(default=DEFAULT_WORKDIR, validator=_workdir)
    callback_url: str = body(validator=_callback_url)
    env: dict[str, str] | None = body(default=None, validator=_env)
    callback_headers: dict[str, str] | None = body(default=None, validator=_headers)
    callback_signature_secret: str | None = body(default=None, validator=_optional_string)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class IPythonExecuteArgs(Value):
    """``POST /execute/ipython``: run code in the sandbox's IPython kernel."""

    code: str = body(validator=_string)
    timeout: int = body(default=120, validator=_timeout)
    env: dict[str, str] | None = body(default=None, validator=_env)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessIdQuery(Value):
    """``DELETE /execute/kill?process_id=``."""

    process_id: str = query(default=attrs.NOTHING, validator=non_empty)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessId(Value):
    """Operations that name one process in the path."""

    process_id: str = path_param(validator=non_empty)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessOutputArgs(Value):
    """``GET /execute/processes/{process_id}/output``: a background process's output from
    ``stdout_offset`` and ``stderr_offset`` (bytes) on, at most ``max_bytes`` of each (the
    agent's bound when ``None``)."""

    process_id: str = path_param(validator=non_empty)
    stdout_offset: int = query(default=0, validator=non_negative)
    stderr_offset: int = query(default=0, validator=non_negative)
    max_bytes: int | None = query(validator=positive)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class CommandArgs(Value):
    """``POST /commands/run`` and ``/commands/background``: run ``command`` with ``args``.

    The official client always runs ``bash -c <string>``; :meth:`shell` builds that.
    """

    command: str = body(validator=non_empty)
    args: list[str] = body(factory=list, validator=_str_list)
    timeout: int = body(default=120, validator=_timeout)
    workdir: str = body(default=DEFAULT_WORKDIR, validator=_workdir)
    env: dict[str, str] | None = body(default=None, validator=_env)

    @classmethod
    def shell(
        cls,
        script: str,
        *,
        timeout: int = 120,
        workdir: str = DEFAULT_WORKDIR,
        env: dict[str, str] | None = None,
    ) -> CommandArgs:
        """``bash -c script``, as the official client sends every command."""
        if not isinstance(script, str) or not script.strip():
            raise LocalProtocolError("a shell command must be a non-empty string")
        return cls(command="bash", args=["-c", script], timeout=timeout, workdir=workdir, env=env)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class EnvSetArgs(Value):
    """``PUT /env``: replace every sandbox-wide variable with ``env_vars``.

    ``timestamp`` lets the agent drop a request older than one it already applied.
    """

    env_vars: dict[str, str] = body(validator=_env)
    merge: bool | None = body(default=None, validator=_flag)
    timestamp: _dt.datetime | None = body(default=None)


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class EnvUpdateArgs(Value):
    """``PATCH /env``: add or overwrite ``env_vars``, keeping the others."""

    env_vars: dict[str, str] = body(validator=_env)
    merge: bool = body(default=True, validator=_flag)
    timestamp: _dt.datetime | None = body(default=None)


# ---------------------------------------------------------------------------------------------
# Health, info, system


def _agent(name: str, method: str, path: str, args: type[Any], result: Any, **kw: Any) -> Any:
    return Operation(
        name=name, plane=Plane.AGENT, method=method, path=path, args=args, result=result, **kw
    )


AGENT_ROOT: Operation[NoArgs, dict[str, Any]] = _agent(
    "agent.root",
    "GET",
    "/",
    NoArgs,
    RawJSON(),
    summary="The agent's name and endpoints (free-form).",
)
AGENT_HEALTH: Operation[NoArgs, HealthInfo] = _agent(
    "agent.health",
    "GET",
    "/health",
    NoArgs,
    Model(HealthInfo),
    summary="Liveness and features; the readiness probe.",
)
AGENT_INFO: Operation[NoArgs, AgentInfo] = _agent(
    "agent.info",
    "GET",
    "/info",
    NoArgs,
    Model(AgentInfo),
    summary="Agent version, platform and address.",
)
AGENT_PING: Operation[NoArgs, dict[str, Any]] = _agent(
    "agent.ping",
    "GET",
    "/ping",
    NoArgs,
    RawJSON(),
    summary="A cheap round trip.",
)
AGENT_SYSTEM: Operation[NoArgs, SystemMetrics] = _agent(
    "agent.system",
    "GET",
    "/system",
    NoArgs,
    Model(SystemMetrics),
    summary="CPU, memory and disk use of the sandbox.",
)

# ---------------------------------------------------------------------------------------------
# Code execution

EXECUTE: Operation[ExecuteArgs, ExecutionResult] = _agent(
    "execute.run",
    "POST",
    "/execute",
    ExecuteArgs,
    Model(ExecutionResult),
    idempotent=False,
    summary="Run code and wait for its output.",
)
EXECUTE_BACKGROUND: Operation[BackgroundExecuteArgs, BackgroundExecution] = _agent(
    "execute.background",
    "POST",
    "/execute/background",
    BackgroundExecuteArgs,
    Model(BackgroundExecution),
    idempotent=False,
    summary="Start code in the background.",
)
EXECUTE_ASYNC: Operation[AsyncExecuteArgs, AsyncExecution] = _agent(
    "execute.async",
    "POST",
    "/execute/async",
    AsyncExecuteArgs,
    Model(AsyncExecution),
    idempotent=False,
    in_spec=False,
    summary="Queue code; the result is posted to a webhook.",
)
EXECUTE_IPYTHON: Operation[IPythonExecuteArgs, ExecutionResult] = _agent(
    "execute.ipython",
    "POST",
    "/execute/ipython",
    IPythonExecuteArgs,
    Model(ExecutionResult),
    idempotent=False,
    in_spec=False,
    summary="Run code in the IPython kernel.",
)
EXECUTE_KILL: Operation[ProcessIdQuery, dict[str, Any]] = _agent(
    "execute.kill",
    "DELETE",
    "/execute/kill",
    ProcessIdQuery,
    RawJSON(),
    summary="Kill a background execution (the OpenAPI form).",
)
EXECUTE_KILL_BY_PATH: Operation[ProcessId, dict[str, Any]] = _agent(
    "execute.kill_by_path",
    "POST",
    "/execute/kill/{process_id}",
    ProcessId,
    RawJSON(),
    in_spec=False,
    summary="Kill a background execution (the form clients send).",
)
EXECUTE_PROCESSES: Operation[NoArgs, ProcessList] = _agent(
    "execute.processes",
    "GET",
    "/execute/processes",
    NoArgs,
    Model(ProcessList),
    summary="Background executions the agent tracks.",
)
EXECUTE_PROCESS_OUTPUT: Operation[ProcessOutputArgs, ProcessOutput] = _agent(
    "execute.process_output",
    "GET",
    "/execute/processes/{process_id}/output",
    ProcessOutputArgs,
    Model(ProcessOutput),
    in_spec=False,
    summary="What a background execution wrote, from given offsets on (an extension).",
)

# ---------------------------------------------------------------------------------------------
# System processes, Jupyter

PROCESSES_LIST: Operation[NoArgs, SystemProcessList] = _agent(
    "processes.list",
    "GET",
    "/processes",
    NoArgs,
    Model(SystemProcessList),
    summary="Operating-system processes inside the sandbox.",
)
PROCESSES_KILL: Operation[ProcessId, dict[str, Any]] = _agent(
    "processes.kill",
    "POST",
    "/processes/{process_id}/kill",
    ProcessId,
    RawJSON(),
    in_spec=False,
    summary="Kill a process by its process id.",
)
JUPYTER_SESSIONS: Operation[NoArgs, JupyterSessions] = _agent(
    "jupyter.sessions",
    "GET",
    "/jupyter/sessions",
    NoArgs,
    Model(JupyterSessions),
    summary="Jupyter kernel sessions.",
)

# ---------------------------------------------------------------------------------------------
# Commands

COMMANDS_RUN: Operation[CommandArgs, CommandResult] = _agent(
    "commands.run",
    "POST",
    "/commands/run",
    CommandArgs,
    Model(CommandResult),
    idempotent=False,
    summary="Run a command and wait for it.",
)
COMMANDS_BACKGROUND: Operation[CommandArgs, BackgroundExecution] = _agent(
    "commands.background",
    "POST",
    "/commands/background",
    CommandArgs,
    Model(BackgroundExecution),
    idempotent=False,
    summary="Start a command in the background.",
)

# ---------------------------------------------------------------------------------------------
# Environment (PUT replaces, PATCH merges, DELETE clears; replies may be 204)

ENV_GET: Operation[NoArgs, EnvVars] = _agent(
    "env.get",
    "GET",
    "/env",
    NoArgs,
    Model(EnvVars),
    summary="Sandbox-wide environment variables.",
)
ENV_SET: Operation[EnvSetArgs, dict[str, Any]] = _agent(
    "env.set",
    "PUT",
    "/env",
    EnvSetArgs,
    RawJSON(),
    summary="Replace every variable.",
)
ENV_UPDATE: Operation[EnvUpdateArgs, dict[str, Any]] = _agent(
    "env.update",
    "PATCH",
    "/env",
    EnvUpdateArgs,
    RawJSON(),
    idempotent=True,
    summary="Add or overwrite variables.",
)
ENV_CLEAR: Operation[NoArgs, dict[str, Any]] = _agent(
    "env.clear",
    "DELETE",
    "/env",
    NoArgs,
    RawJSON(),
    summary="Remove every variable.",
)

# ---------------------------------------------------------------------------------------------
# Cache and metrics

CACHE_STATS: Operation[NoArgs, dict[str, Any]] = _agent(
    "cache.stats",
    "GET",
    "/cache/stats",
    NoArgs,
    RawJSON(),
    summary="Execution cache statistics (shape differs between agents).",
)
CACHE_CLEAR: Operation[NoArgs, dict[str, Any]] = _agent(
    "cache.clear",
    "POST",
    "/cache/clear",
    NoArgs,
    RawJSON(),
    idempotent=True,
    summary="Empty the execution cache.",
)
METRICS: Operation[NoArgs, dict[str, Any]] = _agent(
    "metrics.get",
    "GET",
    "/metrics",
    NoArgs,
    RawJSON(),
    summary="Detailed observability metrics (free-form).",
)
METRICS_PROMETHEUS: Operation[NoArgs, str] = _agent(
    "metrics.prometheus",
    "GET",
    "/metrics/prometheus",
    NoArgs,
    Text(),
    summary="Metrics in the Prometheus text format.",
)
METRICS_SNAPSHOT: Operation[NoArgs, MetricsSnapshot] = _agent(
    "metrics.snapshot",
    "GET",
    "/metrics/snapshot",
    NoArgs,
    Model(MetricsSnapshot),
    summary="Request and execution counters.",
)

# ---------------------------------------------------------------------------------------------
# WebSocket upgrades (the stream machines speak after the 101)


def _upgrade(name: str, path: str, summary: str) -> Operation[NoArgs, None]:
    return Operation(
        name=name,
        plane=Plane.AGENT,
        method="GET",
        path=path,
        args=NoArgs,
        result=cast("ResultCodec[None]", NoContent()),
        success=101,
        websocket=True,
        summary=summary,
    )


EXECUTE_STREAM = _upgrade("execute.stream", "/execute/stream", "Run code, streaming output.")
COMMANDS_STREAM = _upgrade(
    "commands.stream", "/commands/stream", "Run a command, streaming output."
)
STREAM = _upgrade("stream.rich", "/stream", "Run code, streaming output and rich results.")
STREAM_IPYTHON = _upgrade(
    "stream.ipython", "/stream/ipython", "Run code in the IPython kernel, streaming."
)
TERMINAL = _upgrade("terminal", "/terminal", "An interactive terminal.")
