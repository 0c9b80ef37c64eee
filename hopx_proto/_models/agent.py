"""Agent models: execution and command results, processes, environment, health and metrics.

Decoding is tolerant where the agent is loose (keys nobody documents are kept in ``extra``, so
nothing the agent says is lost) and strict where a wrong value would mislead: an ``exit_code``
of ``"0"`` is a :class:`RemoteProtocolError`, not success.

The execute reply carries rich outputs as flat keys (``png``, ``html``, ``json``, ``svg``,
``markdown``, ``result`` and the undocumented ``dataframe``). :class:`ExecutionResult` keeps
those keys as they came and derives :attr:`ExecutionResult.rich_outputs` from them, so a
result rendered by a server decodes back to the same value.

The agent posts :class:`WebhookExecutionComplete` to the ``callback_url`` of an asynchronous
execution. The service does not say how that body is signed; :func:`sign_webhook` and
:func:`verify_webhook` define this library's format: header ``X-Hopx-Signature`` with the value
``sha256=<lowercase hex HMAC-SHA256 of the raw body>``.
"""

# ruff: noqa: RUF009  (wire() returns an attrs field definition, not a shared default)
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

import attrs

from .._codec import from_wire, loads, wire
from .._errors import LocalProtocolError
from .._value import Value

__all__ = [
    "MASKED_VALUE",
    "RICH_MIME_TYPES",
    "WEBHOOK_SIGNATURE_HEADER",
    "AgentInfo",
    "AsyncExecution",
    "BackgroundExecution",
    "CPUUsage",
    "CommandResult",
    "EnvVars",
    "ExecutionResult",
    "HealthFeatures",
    "HealthInfo",
    "JupyterSession",
    "JupyterSessions",
    "MetricsSnapshot",
    "ProcessInfo",
    "ProcessList",
    "ProcessOutput",
    "RichOutput",
    "SystemMetrics",
    "SystemProcess",
    "SystemProcessList",
    "UsageStats",
    "WebhookExecutionComplete",
    "parse_webhook",
    "rich_fields",
    "sign_webhook",
    "verify_webhook",
]

MASKED_VALUE = "***MASKED***"


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


# ---------------------------------------------------------------------------------------------
# Code execution


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class RichOutput(Value):
    """One rich output of an execution: ``data`` maps the MIME type to the payload.

    ``format`` says how the payload is written (``base64`` for images, ``html``, ``json``,
    ``text``); ``metadata`` is free-form.
    """

    type: str
    data: dict[str, Any]
    format: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)

    @property
    def payload(self) -> Any:
        """The payload under this output's own MIME type."""
        return self.data.get(self.type)


class _RichSource:
    """One rich key of the execute reply: its ``key``, the ``mime`` type it becomes and the
    output ``format`` (a row of a constant table, so a plain class: nothing to generate)."""

    __slots__ = ("format", "key", "mime")

    def __init__(self, key: str, mime: str, format: str) -> None:
        self.key = key
        self.mime = mime
        self.format = format


# The execute reply's rich keys in the order they become outputs (PNG, HTML and JSON first, as
# the official client orders them; ``result`` only when it says more than stdout).
_RICH_SOURCES = (
    _RichSource("png", "image/png", "base64"),
    _RichSource("html", "text/html", "html"),
    _RichSource("json", "application/json", "json"),
    _RichSource("dataframe", "application/vnd.dataframe+json", "json"),
    _RichSource("svg", "image/svg+xml", "svg"),
    _RichSource("markdown", "text/markdown", "markdown"),
    _RichSource("result", "text/plain", "text"),
)
#: The MIME types an execute reply can carry, one output of each.
RICH_MIME_TYPES = tuple(src.mime for src in _RICH_SOURCES)
_ATTRIBUTE_OF_KEY = {"json": "json_output"}


def rich_fields(outputs: Iterable[RichOutput]) -> dict[str, Any]:
    """Keyword arguments of :class:`ExecutionResult` that carry ``outputs`` on the wire.

    The reply has one key per MIME type, so the first output of each type is kept. A type
    outside :data:`RICH_MIME_TYPES` has no key and raises :class:`LocalProtocolError`.
    """
    by_mime = {src.mime: src for src in _RICH_SOURCES}
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for output in outputs:
        src = by_mime.get(output.type)
        if src is None:
            raise LocalProtocolError(f"an execute reply cannot carry {output.type!r} output")
        target = extra if src.key == "dataframe" else fields
        target.setdefault(_ATTRIBUTE_OF_KEY.get(src.key, src.key), output.payload)
    if extra:
        fields["extra"] = extra
    return fields


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ExecutionResult(Value):
    """The reply of ``POST /execute`` (and ``/execute/ipython``).

    ``json_output`` is the wire key ``json``. Missing ``stdout``/``stderr`` read as ``""`` and a
    missing ``execution_time`` as ``0.0``; ``exit_code`` is required and must be an integer.
    ``timed_out`` is ``True`` when the run was killed at its timeout (``None`` otherwise, as
    the agent only sends the key then), and ``error`` then says so.
    """

    stdout: str = wire(default="")
    stderr: str = wire(default="")
    exit_code: int = wire()
    execution_time: float = wire(default=0.0)
    success: bool | None = wire(default=None)
    language: str | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    png: str | None = wire(default=None)
    html: str | None = wire(default=None)
    json_output: dict[str, Any] | None = wire("json", default=None)
    svg: str | None = wire(default=None)
    markdown: str | None = wire(default=None)
    result: str | None = wire(default=None)
    timed_out: bool | None = wire(default=None)
    error: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    _dump_properties = ("rich_outputs",)

    @property
    def is_success(self) -> bool:
        """The agent's ``success`` flag, or ``exit_code == 0`` when it sent none."""
        return self.success if self.success is not None else self.exit_code == 0

    @property
    def rich_outputs(self) -> list[RichOutput]:
        """Rich outputs built from the reply's ``png``/``html``/``json``/``dataframe``/``svg``/
        ``markdown`` keys, and ``result`` when it differs from stdout."""
        values: dict[str, Any] = {
            "png": self.png,
            "html": self.html,
            "json": self.json_output,
            "dataframe": self.extra.get("dataframe"),
            "svg": self.svg,
            "markdown": self.markdown,
            "result": self.result if self.result != self.stdout else None,
        }
        return [
            RichOutput(type=src.mime, data={src.mime: values[src.key]}, format=src.format)
            for src in _RICH_SOURCES
            if values[src.key]
        ]

    @property
    def displays(self) -> list[RichOutput]:
        """Every rich output in the order the code displayed it, several of one type
        included, each with its ``metadata`` (``source``: matplotlib, pandas, plotly...).

        Read from the reply's ``rich_outputs`` list (sent by the emulator's kernel); a reply
        without one gives :attr:`rich_outputs`. Malformed entries are skipped.
        """
        entries = self.extra.get("rich_outputs")
        if not isinstance(entries, list):
            return self.rich_outputs
        found = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                continue
            metadata = entry.get("metadata")
            form = entry.get("format")
            found.append(
                RichOutput(
                    type=entry["type"],
                    data={entry["type"]: entry.get("data")},
                    format=form if isinstance(form, str) else None,
                    metadata=dict(metadata) if isinstance(metadata, dict) else {},
                )
            )
        return found

    def _payloads(self, mime: str) -> list[Any]:
        return [output.payload for output in self.displays if output.type == mime]

    @property
    def images(self) -> list[str]:
        """Every PNG the code displayed (base64), figures left open at the end included."""
        return [p for p in self._payloads("image/png") if isinstance(p, str)]

    @property
    def html_outputs(self) -> list[str]:
        """Every HTML output, in order (a pandas DataFrame is a ``<table>``)."""
        return [p for p in self._payloads("text/html") if isinstance(p, str)]

    @property
    def data_frames(self) -> list[dict[str, Any]]:
        """Every DataFrame shown, as ``application/vnd.dataframe+json`` tables: ``columns``,
        ``index``, ``data`` (rows) and ``shape``."""
        found = self._payloads("application/vnd.dataframe+json")
        frame = self.extra.get("dataframe")
        if not found and frame is not None:
            found = [frame]
        return [p for p in found if isinstance(p, dict)]

    @property
    def kernel_restarted(self) -> bool:
        """Whether the sandbox's kernel is gone after this run (it died, or ignored the
        interrupt at the timeout): the next run starts from a fresh state."""
        return self.extra.get("kernel_restarted") is True

    @property
    def rich_count(self) -> int:
        """How many rich outputs the reply carries."""
        return len(self.rich_outputs)

    @property
    def has_rich_output(self) -> bool:
        """Whether the reply carries any rich output."""
        return self.rich_count > 0


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class BackgroundExecution(Value):
    """The reply of ``POST /execute/background`` (and ``/commands/background``)."""

    process_id: str = wire()
    execution_id: str | None = wire(default=None)
    status: str | None = wire(default=None)
    start_time: _dt.datetime | None = wire(default=None)
    message: str | None = wire(default=None)
    name: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class AsyncExecution(Value):
    """The reply of ``POST /execute/async``: the execution is queued, a webhook follows."""

    execution_id: str = wire()
    status: str | None = wire(default=None)
    callback_url: str | None = wire(default=None)
    message: str | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class CommandResult(Value):
    """The reply of ``POST /commands/run``; ``timed_out`` and ``error`` as in
    :class:`ExecutionResult`."""

    stdout: str = wire(default="")
    stderr: str = wire(default="")
    exit_code: int = wire()
    execution_time: float = wire(default=0.0)
    command: str | None = wire(default=None)
    pid: int | None = wire(default=None)
    success: bool | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    timed_out: bool | None = wire(default=None)
    error: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    @property
    def is_success(self) -> bool:
        """Whether the command exited with status 0."""
        return self.exit_code == 0


# ---------------------------------------------------------------------------------------------
# Processes and Jupyter


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessInfo(Value):
    """A background execution the agent tracks (``GET /execute/processes``).

    ``status`` is ``running``, ``completed``, ``failed`` or ``killed``; ``start_time`` is also
    read from ``started_at``. A process killed at its timeout has ``timed_out`` true and an
    ``error`` saying so.
    """

    process_id: str = wire()
    execution_id: str | None = wire(default=None)
    name: str | None = wire(default=None)
    status: str | None = wire(default=None)
    language: str | None = wire(default=None)
    start_time: _dt.datetime | None = wire(aliases=("started_at",), default=None)
    end_time: _dt.datetime | None = wire(default=None)
    exit_code: int | None = wire(default=None)
    duration: float | None = wire(default=None)
    pid: int | None = wire(default=None)
    timed_out: bool | None = wire(default=None)
    error: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    @property
    def is_running(self) -> bool:
        """Whether the process is still running."""
        return self.status == "running"


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessOutput(Value):
    """What a background process wrote, from given offsets on
    (``GET /execute/processes/{process_id}/output``, an extension of the emulator).

    ``stdout`` and ``stderr`` are the text of the bytes from the offsets asked for; the next
    poll passes ``stdout_offset`` and ``stderr_offset`` back (byte offsets, never inside a
    UTF-8 character). ``stdout_size`` and ``stderr_size`` are the bytes kept so far.
    ``complete`` is true once the process has ended and everything it wrote has been read.
    """

    process_id: str = wire()
    status: str | None = wire(default=None)
    exit_code: int | None = wire(default=None)
    stdout: str = wire(default="")
    stderr: str = wire(default="")
    stdout_offset: int = wire(default=0)
    stderr_offset: int = wire(default=0)
    stdout_size: int | None = wire(default=None)
    stderr_size: int | None = wire(default=None)
    complete: bool = wire(default=False)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class ProcessList(Value):
    """The reply of ``GET /execute/processes``."""

    processes: list[ProcessInfo] = wire(factory=list)
    count: int | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class SystemProcess(Value):
    """An operating-system process inside the sandbox (``GET /processes``)."""

    pid: int | None = wire(default=None)
    name: str | None = wire(default=None)
    status: str | None = wire(default=None)
    cpu_percent: float | None = wire(default=None)
    memory_mb: float | None = wire(default=None)
    memory_percent: float | None = wire(default=None)
    command: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class SystemProcessList(Value):
    """The reply of ``GET /processes``."""

    processes: list[SystemProcess] = wire(factory=list)
    count: int | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class JupyterSession(Value):
    """A Jupyter kernel session; ``execution_state`` is ``idle``, ``busy`` or ``starting``."""

    id: str | None = wire(default=None)
    kernel_id: str | None = wire(default=None)
    execution_state: str | None = wire(default=None)
    connections: int | None = wire(default=None)
    last_activity: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class JupyterSessions(Value):
    """The reply of ``GET /jupyter/sessions``."""

    sessions: list[JupyterSession] = wire(factory=list)
    extra: dict[str, Any] = _extra()


# ---------------------------------------------------------------------------------------------
# Environment


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class EnvVars(Value):
    """The reply of ``GET /env``: the sandbox-wide variables every execution inherits.

    Values of sensitive names may come back as ``***MASKED***`` while staying real inside the
    sandbox; :attr:`masked` lists those names so that a read-modify-write never writes a mask
    back as a value.
    """

    env_vars: dict[str, str] = wire(factory=dict)
    count: int | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    @property
    def masked(self) -> list[str]:
        """Names whose value the agent hid."""
        return sorted(k for k, v in self.env_vars.items() if v == MASKED_VALUE)

    def without(self, *names: str) -> dict[str, str]:
        """The variables minus ``names``, for a ``PUT /env`` that removes them.

        Raises :class:`LocalProtocolError` when a variable that stays is masked: writing it
        back would replace the real value with the mask.
        """
        kept = {k: v for k, v in self.env_vars.items() if k not in names}
        hidden = sorted(k for k, v in kept.items() if v == MASKED_VALUE)
        if hidden:
            raise LocalProtocolError(
                "cannot rewrite masked variable(s) "
                + ", ".join(hidden)
                + "; clear them or set real values"
            )
        return kept


# ---------------------------------------------------------------------------------------------
# Health, info, metrics


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class HealthFeatures(Value):
    """What the agent can do, from ``/health``."""

    code_execution: bool | None = wire(default=None)
    file_operations: bool | None = wire(default=None)
    terminal_access: bool | None = wire(default=None)
    websocket_streaming: bool | None = wire(default=None)
    rich_output: bool | None = wire(default=None)
    background_jobs: bool | None = wire(default=None)
    ipython_kernel: bool | None = wire(default=None)
    system_metrics: bool | None = wire(default=None)
    languages: list[str] | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class HealthInfo(Value):
    """The reply of ``GET /health``. ``uptime`` is a duration string such as ``2h34m12s``."""

    status: str = wire()
    agent: str | None = wire(default=None)
    version: str | None = wire(default=None)
    uptime: str | None = wire(default=None)
    uptime_seconds: float | None = wire(default=None)
    go_version: str | None = wire(default=None)
    vm_id: str | None = wire(default=None)
    features: HealthFeatures | None = wire(default=None)
    active_streams: int | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    @property
    def is_healthy(self) -> bool:
        """Whether the agent reports itself ready (``healthy``, or ``ok`` as some agents say)."""
        return self.status.lower() in ("healthy", "ok")


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class AgentInfo(Value):
    """The reply of ``GET /info``, in either shape agents use.

    The OpenAPI shape is ``agent, version, go_version, ip, platform, port, start_time, vm_id``
    (all strings); other agents send ``agent_version, os, arch, vm_ip, vm_port, uptime,
    endpoints, features``. Fields whose type differs between the shapes (``port``,
    ``vm_port``, ``uptime``) keep the JSON value as it came; every other key is in ``extra``.
    """

    agent: str | None = wire(default=None)
    version: str | None = wire(default=None)
    agent_version: str | None = wire(default=None)
    vm_id: str | None = wire(default=None)
    go_version: str | None = wire(default=None)
    platform: str | None = wire(default=None)
    os: str | None = wire(default=None)
    arch: str | None = wire(default=None)
    ip: str | None = wire(default=None)
    vm_ip: str | None = wire(default=None)
    port: Any = wire(default=None)
    vm_port: Any = wire(default=None)
    start_time: str | None = wire(default=None)
    uptime: Any = wire(default=None)
    endpoints: dict[str, Any] | None = wire(default=None)
    features: dict[str, Any] | None = wire(default=None)
    extra: dict[str, Any] = _extra()

    @property
    def agent_release(self) -> str | None:
        """The agent's version, whichever key carried it."""
        return self.agent_version or self.version


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class CPUUsage(Value):
    """CPU use from ``/system``."""

    usage_percent: float | None = wire(default=None)
    cores: int | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class UsageStats(Value):
    """Memory or disk use from ``/system`` (bytes)."""

    total: int | None = wire(default=None)
    used: int | None = wire(default=None)
    free: int | None = wire(default=None)
    usage_percent: float | None = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class SystemMetrics(Value):
    """The reply of ``GET /system``."""

    cpu: CPUUsage | None = wire(default=None)
    memory: UsageStats | None = wire(default=None)
    disk: UsageStats | None = wire(default=None)
    uptime: Any = wire(default=None)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class MetricsSnapshot(Value):
    """The reply of ``GET /metrics/snapshot``: counters since the agent started.

    Agents disagree on the keys; the common ones are fields and the rest (``system``,
    ``process``, ``cache``, percentiles ...) stay in ``extra``.
    """

    uptime_seconds: float | None = wire(default=None)
    total_requests: int | None = wire(aliases=("requests",), default=None)
    total_errors: int | None = wire(aliases=("errors", "error_count"), default=None)
    active_executions: int | None = wire(default=None)
    total_executions: int | None = wire(default=None)
    requests_total: dict[str, Any] | None = wire(default=None)
    avg_duration_ms: Any = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = _extra()


# ---------------------------------------------------------------------------------------------
# The execution webhook


WEBHOOK_SIGNATURE_HEADER = "X-Hopx-Signature"
_SIGNATURE_PREFIX = "sha256="


@attrs.frozen(kw_only=True, repr=False, eq=False, slots=False)
class WebhookExecutionComplete(Value):
    """The body the agent posts to ``callback_url`` when an async execution ends.

    ``status`` is ``completed``, ``failed`` or ``timeout``.
    """

    execution_id: str = wire()
    status: str = wire()
    stdout: str = wire(default="")
    stderr: str = wire(default="")
    exit_code: int | None = wire(default=None)
    execution_time: float | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    error: str | None = wire(default=None)
    extra: dict[str, Any] = _extra()


def _secret_bytes(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes | bytearray) or not secret:
        raise LocalProtocolError("a webhook secret must be non-empty bytes or str")
    return bytes(secret)


def sign_webhook(secret: bytes | str, body: bytes) -> str:
    """The ``X-Hopx-Signature`` value for ``body``: ``sha256=`` and the HMAC-SHA256 in hex.

    The signature covers the raw body bytes exactly as sent.
    """
    if not isinstance(body, bytes | bytearray):
        raise LocalProtocolError("a webhook body must be bytes")
    import hashlib  # here, with hmac: only webhook receivers sign
    import hmac

    digest = hmac.new(_secret_bytes(secret), bytes(body), hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def verify_webhook(secret: bytes | str, body: bytes, signature: str | bytes | None) -> bool:
    """Whether ``signature`` (the header value) signs ``body`` with ``secret``.

    Compares in constant time; a missing or malformed header is simply not valid.
    """
    if signature is None:
        return False
    if isinstance(signature, bytes):
        try:
            signature = signature.decode("ascii")
        except UnicodeDecodeError:
            return False
    text = signature.strip()
    if not text.lower().startswith(_SIGNATURE_PREFIX):
        return False
    expected = sign_webhook(secret, body)
    import hmac  # here: only webhook receivers verify

    return hmac.compare_digest(expected, _SIGNATURE_PREFIX + text[len(_SIGNATURE_PREFIX) :].lower())


def parse_webhook(body: bytes) -> WebhookExecutionComplete:
    """Decode a webhook body (:class:`RemoteProtocolError` if it is not one)."""
    return from_wire(WebhookExecutionComplete, loads(body, what="webhook body"))
