"""Agent operations and models: rich outputs, webhook signing, env semantics, strictness."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto._codec import to_wire
from hopx_proto._errors import (
    AuthenticationError,
    CodeExecutionError,
    CommandExecutionError,
    FileOperationError,
    HopxError,
    LocalProtocolError,
    RemoteProtocolError,
)
from hopx_proto._http import Request, Response
from hopx_proto._models.agent import (
    WEBHOOK_SIGNATURE_HEADER,
    AgentInfo,
    CommandResult,
    EnvVars,
    ExecutionResult,
    HealthInfo,
    RichOutput,
    WebhookExecutionComplete,
    parse_webhook,
    rich_fields,
    sign_webhook,
    verify_webhook,
)
from hopx_proto._ops import OPERATIONS, Plane, agent as ops, route
from hopx_proto._ops._base import Auth, NoContent

JSON = (("content-type", "application/json"),)


def _reply(doc: Any, status: int = 200) -> Response:
    return Response(status, JSON, json.dumps(doc).encode())


# ---------------------------------------------------------------------------------------------
# The table


NAMES = {
    "AGENT_ROOT": ("agent.root", "GET", "/"),
    "AGENT_HEALTH": ("agent.health", "GET", "/health"),
    "AGENT_INFO": ("agent.info", "GET", "/info"),
    "AGENT_PING": ("agent.ping", "GET", "/ping"),
    "AGENT_SYSTEM": ("agent.system", "GET", "/system"),
    "EXECUTE": ("execute.run", "POST", "/execute"),
    "EXECUTE_BACKGROUND": ("execute.background", "POST", "/execute/background"),
    "EXECUTE_ASYNC": ("execute.async", "POST", "/execute/async"),
    "EXECUTE_IPYTHON": ("execute.ipython", "POST", "/execute/ipython"),
    "EXECUTE_KILL": ("execute.kill", "DELETE", "/execute/kill"),
    "EXECUTE_KILL_BY_PATH": ("execute.kill_by_path", "POST", "/execute/kill/{process_id}"),
    "EXECUTE_PROCESSES": ("execute.processes", "GET", "/execute/processes"),
    "EXECUTE_PROCESS_OUTPUT": (
        "execute.process_output",
        "GET",
        "/execute/processes/{process_id}/output",
    ),
    "PROCESSES_LIST": ("processes.list", "GET", "/processes"),
    "PROCESSES_KILL": ("processes.kill", "POST", "/processes/{process_id}/kill"),
    "JUPYTER_SESSIONS": ("jupyter.sessions", "GET", "/jupyter/sessions"),
    "COMMANDS_RUN": ("commands.run", "POST", "/commands/run"),
    "COMMANDS_BACKGROUND": ("commands.background", "POST", "/commands/background"),
    "ENV_GET": ("env.get", "GET", "/env"),
    "ENV_SET": ("env.set", "PUT", "/env"),
    "ENV_UPDATE": ("env.update", "PATCH", "/env"),
    "ENV_CLEAR": ("env.clear", "DELETE", "/env"),
    "CACHE_STATS": ("cache.stats", "GET", "/cache/stats"),
    "CACHE_CLEAR": ("cache.clear", "POST", "/cache/clear"),
    "METRICS": ("metrics.get", "GET", "/metrics"),
    "METRICS_PROMETHEUS": ("metrics.prometheus", "GET", "/metrics/prometheus"),
    "METRICS_SNAPSHOT": ("metrics.snapshot", "GET", "/metrics/snapshot"),
    "EXECUTE_STREAM": ("execute.stream", "GET", "/execute/stream"),
    "COMMANDS_STREAM": ("commands.stream", "GET", "/commands/stream"),
    "STREAM": ("stream.rich", "GET", "/stream"),
    "STREAM_IPYTHON": ("stream.ipython", "GET", "/stream/ipython"),
    "TERMINAL": ("terminal", "GET", "/terminal"),
}
WEBSOCKETS = {"EXECUTE_STREAM", "COMMANDS_STREAM", "STREAM", "STREAM_IPYTHON", "TERMINAL"}
NOT_IN_SPEC = {
    "EXECUTE_ASYNC",
    "EXECUTE_IPYTHON",
    "EXECUTE_KILL_BY_PATH",
    "EXECUTE_PROCESS_OUTPUT",
    "PROCESSES_KILL",
}


@pytest.mark.parametrize("constant", sorted(NAMES))
def test_constant_name_method_path(constant: str) -> None:
    op = getattr(ops, constant)
    name, method, path = NAMES[constant]
    assert (op.name, op.method, op.path) == (name, method, path)
    assert OPERATIONS[name] is op
    assert op.plane is Plane.AGENT
    assert op.credential is Auth.BEARER_JWT
    assert op.in_spec is (constant not in NOT_IN_SPEC)
    assert op.websocket is (constant in WEBSOCKETS)


@pytest.mark.parametrize("constant", sorted(WEBSOCKETS))
def test_websocket_upgrade_target_and_credential(constant: str) -> None:
    op = getattr(ops, constant)
    assert op.args is ops.NoArgs
    assert isinstance(op.result, NoContent)
    assert op.success == 101
    request = op.encode(ops.NoArgs(), auth="jwt")
    assert (request.method, request.target) == ("GET", op.path)
    assert request.header("authorization") == "Bearer jwt"
    assert not request.body


def test_retry_safety() -> None:
    for op in (
        ops.EXECUTE,
        ops.EXECUTE_BACKGROUND,
        ops.EXECUTE_ASYNC,
        ops.EXECUTE_IPYTHON,
        ops.COMMANDS_RUN,
        ops.COMMANDS_BACKGROUND,
    ):
        assert not op.is_idempotent, op.name
    for safe in (ops.ENV_GET, ops.ENV_SET, ops.ENV_UPDATE, ops.ENV_CLEAR, ops.AGENT_HEALTH):
        assert safe.is_idempotent, safe.name


@pytest.mark.parametrize(
    ("method", "path", "op", "params"),
    [
        ("POST", "/execute/kill/p%201", ops.EXECUTE_KILL_BY_PATH, {"process_id": "p 1"}),
        ("DELETE", "/execute/kill", ops.EXECUTE_KILL, {}),
        ("POST", "/processes/proc_1/kill", ops.PROCESSES_KILL, {"process_id": "proc_1"}),
        ("GET", "/processes", ops.PROCESSES_LIST, {}),
        ("PATCH", "/env", ops.ENV_UPDATE, {}),
        ("GET", "/", ops.AGENT_ROOT, {}),
    ],
)
def test_routing(method: str, path: str, op: Any, params: dict[str, str]) -> None:
    assert route(Plane.AGENT, method, path) == (op, params)


# ---------------------------------------------------------------------------------------------
# Request bodies: byte for byte what the official client sends


@pytest.mark.parametrize(
    ("op", "args", "raw"),
    [
        (
            ops.EXECUTE,
            ops.ExecuteArgs(code="print('hello')", workdir="/tmp", timeout=30, env={"A": "1"}),
            b'{"language":"python","code":"print(\'hello\')","workdir":"/tmp","timeout":30,'
            b'"env":{"A":"1"}}',
        ),
        (
            ops.EXECUTE_BACKGROUND,
            ops.BackgroundExecuteArgs(
                code="while True: pass", timeout=120, env={"C": "3"}, name="spin"
            ),
            b'{"code":"while True: pass","language":"python","timeout":120,"env":{"C":"3"},'
            b'"name":"spin"}',
        ),
        (
            ops.EXECUTE_ASYNC,
            ops.AsyncExecuteArgs(
                code="import time; time.sleep(1)",
                timeout=600,
                workdir="/srv",
                callback_url="https://example.invalid/hook",
                env={"B": "2"},
                callback_headers={"X-Hook": "h"},
                callback_signature_secret="s3cret",
            ),
            b'{"code":"import time; time.sleep(1)","language":"python","timeout":600,'
            b'"workdir":"/srv","callback_url":"https://example.invalid/hook","env":{"B":"2"},'
            b'"callback_headers":{"X-Hook":"h"},"callback_signature_secret":"s3cret"}',
        ),
        (
            ops.COMMANDS_RUN,
            ops.CommandArgs.shell("ls -la | head -3", timeout=15, workdir="/etc", env={"D": "4"}),
            b'{"command":"bash","args":["-c","ls -la | head -3"],"timeout":15,"workdir":"/etc",'
            b'"env":{"D":"4"}}',
        ),
        (
            ops.ENV_UPDATE,
            ops.EnvUpdateArgs(env_vars={"FOO": "bar", "N": "1"}),
            b'{"env_vars":{"FOO":"bar","N":"1"},"merge":true}',
        ),
        (
            ops.ENV_SET,
            ops.EnvSetArgs(env_vars={"Y": "22", "Z": "3", "W": "9"}),
            b'{"env_vars":{"Y":"22","Z":"3","W":"9"}}',
        ),
    ],
)
def test_body_bytes_match_the_official_client(op: Any, args: Any, raw: bytes) -> None:
    request = op.encode(args, auth="jwt")
    assert request.body == raw
    assert request.header("content-type") == "application/json"
    assert op.parse(request) == args


def test_bodyless_posts_send_nothing() -> None:
    cases: tuple[tuple[Any, Any], ...] = (
        (ops.PROCESSES_KILL, ops.ProcessId(process_id="proc_1")),
        (ops.CACHE_CLEAR, ops.NoArgs()),
    )
    for op, args in cases:
        request = op.encode(args)
        assert request.body == b""
        assert request.header("content-type") is None


# ---------------------------------------------------------------------------------------------
# Argument checks: a typed error before any bytes exist


@pytest.mark.parametrize("timeout", [0, -5, True, "30", None, 1.5])
def test_timeouts_must_be_positive_integers(timeout: Any) -> None:
    with pytest.raises(LocalProtocolError, match="timeout"):
        ops.ExecuteArgs(code="x", timeout=timeout)
    with pytest.raises(LocalProtocolError, match="timeout"):
        ops.CommandArgs(command="ls", timeout=timeout)


@pytest.mark.parametrize("workdir", ["tmp", "", "./x", "/a\x00b", None])
def test_workdir_must_be_absolute(workdir: Any) -> None:
    with pytest.raises(LocalProtocolError, match="workdir"):
        ops.ExecuteArgs(code="x", workdir=workdir)


def test_background_workdir_is_optional_but_absolute() -> None:
    assert ops.BackgroundExecuteArgs(code="x").workdir is None
    body = ops.EXECUTE_BACKGROUND.encode(ops.BackgroundExecuteArgs(code="x")).body or b""
    assert b"workdir" not in body
    with pytest.raises(LocalProtocolError):
        ops.BackgroundExecuteArgs(code="x", workdir="rel")


@pytest.mark.parametrize("code", [None, 5, b"print(1)"])
def test_code_must_be_a_string(code: Any) -> None:
    with pytest.raises(LocalProtocolError, match="code"):
        ops.ExecuteArgs(code=code)


@pytest.mark.parametrize("process_id", ["", "   ", None])
def test_process_ids_must_be_non_empty(process_id: Any) -> None:
    with pytest.raises(LocalProtocolError):
        ops.ProcessId(process_id=process_id)
    with pytest.raises(LocalProtocolError):
        ops.ProcessIdQuery(process_id=process_id)


def test_callback_url_and_command_checks() -> None:
    with pytest.raises(LocalProtocolError, match="callback_url"):
        ops.AsyncExecuteArgs(code="x", callback_url="example.invalid/hook")
    with pytest.raises(LocalProtocolError, match="callback_headers"):
        ops.AsyncExecuteArgs(code="x", callback_url="https://h", callback_headers={"X": 1})  # type: ignore[dict-item]
    for headers in ({"Bad Name": "v"}, {"X-A": "v\r\nX-Injected: 1"}, {"": "v"}):
        with pytest.raises(LocalProtocolError, match="callback_headers"):
            ops.AsyncExecuteArgs(code="x", callback_url="https://h", callback_headers=headers)
    with pytest.raises(LocalProtocolError, match="args"):
        ops.CommandArgs(command="ls", args=["a\x00b"])
    with pytest.raises(LocalProtocolError, match="args"):
        ops.CommandArgs(command="ls", args="-la")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        ops.CommandArgs.shell("  ")


def test_server_refuses_bad_arguments_with_400() -> None:
    request = Request("POST", "/execute", JSON, b'{"code":"x","timeout":0}')
    with pytest.raises(RemoteProtocolError) as info:
        ops.EXECUTE.parse(request)
    assert info.value.status_hint == 400


# ---------------------------------------------------------------------------------------------
# Environment semantics


@pytest.mark.parametrize(
    "env", [{"": "1"}, {"A=B": "1"}, {"A\x00": "1"}, {"A": 1}, {"A": "x\x00y"}, {1: "x"}]
)
def test_env_maps_are_checked(env: Any) -> None:
    with pytest.raises(LocalProtocolError, match="env"):
        ops.EnvSetArgs(env_vars=env)
    with pytest.raises(LocalProtocolError, match="env"):
        ops.ExecuteArgs(code="x", env=env)


def test_put_replaces_and_patch_merges() -> None:
    put = ops.ENV_SET.encode(ops.EnvSetArgs(env_vars={"A": "1"}))
    patch = ops.ENV_UPDATE.encode(ops.EnvUpdateArgs(env_vars={"A": "1"}))
    assert (put.method, json.loads(put.body or b"")) == ("PUT", {"env_vars": {"A": "1"}})
    assert (patch.method, json.loads(patch.body or b"")) == (
        "PATCH",
        {"env_vars": {"A": "1"}, "merge": True},
    )
    stamped = ops.EnvSetArgs(env_vars={}, timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert (
        json.loads(ops.ENV_SET.encode(stamped).body or b"")["timestamp"] == "2026-01-02T03:04:05Z"
    )


@pytest.mark.parametrize("op", [ops.ENV_SET, ops.ENV_UPDATE, ops.ENV_CLEAR])
def test_env_writes_accept_empty_replies(op: Any) -> None:
    assert op.decode(Response(204, (), b"")) == {}
    assert op.decode(Response(200, (), b"")) == {}
    assert op.decode(_reply({"env_vars": {"A": "1"}})) == {"env_vars": {"A": "1"}}


def test_masked_values_are_never_written_back() -> None:
    env = ops.ENV_GET.decode(
        _reply({"env_vars": {"PATH": "/bin", "API_KEY": "***MASKED***", "X": "1"}, "count": 3})
    )
    assert env.masked == ["API_KEY"]
    assert env.without("API_KEY") == {"PATH": "/bin", "X": "1"}
    with pytest.raises(LocalProtocolError, match="API_KEY"):
        env.without("X")
    assert EnvVars(env_vars={"A": "1"}).without("A", "B") == {}


# ---------------------------------------------------------------------------------------------
# Rich outputs


def _execute(doc: dict[str, Any]) -> ExecutionResult:
    return ops.EXECUTE.decode(_reply({"exit_code": 0, **doc}))


def test_rich_outputs_in_order_with_mime_keyed_data() -> None:
    result = _execute(
        {
            "stdout": "",
            "result": "42",
            "markdown": "# t",
            "svg": "<svg/>",
            "dataframe": {"columns": ["a"]},
            "json": {"k": 1},
            "html": "<b>x</b>",
            "png": "iVBOR",
        }
    )
    got = [(r.type, r.format, r.data, r.payload) for r in result.rich_outputs]
    assert got == [
        ("image/png", "base64", {"image/png": "iVBOR"}, "iVBOR"),
        ("text/html", "html", {"text/html": "<b>x</b>"}, "<b>x</b>"),
        ("application/json", "json", {"application/json": {"k": 1}}, {"k": 1}),
        (
            "application/vnd.dataframe+json",
            "json",
            {"application/vnd.dataframe+json": {"columns": ["a"]}},
            {"columns": ["a"]},
        ),
        ("image/svg+xml", "svg", {"image/svg+xml": "<svg/>"}, "<svg/>"),
        ("text/markdown", "markdown", {"text/markdown": "# t"}, "# t"),
        ("text/plain", "text", {"text/plain": "42"}, "42"),
    ]
    assert result.rich_count == 7
    assert result.has_rich_output
    assert result.json_output == {"k": 1}
    assert result.extra == {"dataframe": {"columns": ["a"]}}


def test_result_equal_to_stdout_and_empty_values_are_not_outputs() -> None:
    result = _execute({"stdout": "2\n", "result": "2\n", "png": "", "json": {}, "html": None})
    assert result.rich_outputs == []
    assert result.rich_count == 0
    assert not result.has_rich_output


def test_rich_outputs_agree_with_the_official_client() -> None:
    parsers = pytest.importorskip("hopx_ai._parsers")
    doc = {"png": "iVBOR", "html": "<table/>", "json": {"a": [1]}, "dataframe": {"c": [1]}}
    theirs = [(r.type, r.data) for r in parsers._parse_rich_outputs(doc)]
    ours = [(r.type, r.data) for r in _execute(doc).rich_outputs]
    assert [(str(getattr(t, "value", t)), d) for t, d in theirs] == ours


def test_rendered_result_carries_the_flat_keys() -> None:
    result = ExecutionResult(exit_code=0, stdout="o", png="P", json_output={"a": 1})
    body = json.loads(ops.EXECUTE.render(result).body or b"")
    assert body == {
        "stdout": "o",
        "stderr": "",
        "exit_code": 0,
        "execution_time": 0.0,
        "png": "P",
        "json": {"a": 1},
    }
    assert "rich_outputs" not in body
    assert ops.EXECUTE.decode(ops.EXECUTE.render(result)) == result


_text = st.text(max_size=20)
_opt_text = st.none() | _text


@settings(max_examples=60, deadline=None)
@given(
    stdout=_text,
    exit_code=st.integers(-(2**31), 2**31),
    execution_time=st.floats(0, 1e6, allow_nan=False),
    success=st.none() | st.booleans(),
    png=_opt_text,
    html=_opt_text,
    result=_opt_text,
    json_output=st.none() | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    dataframe=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
def test_execution_result_round_trips(
    stdout: str,
    exit_code: int,
    execution_time: float,
    success: bool | None,
    png: str | None,
    html: str | None,
    result: str | None,
    json_output: dict[str, Any] | None,
    dataframe: dict[str, Any] | None,
) -> None:
    value = ExecutionResult(
        stdout=stdout,
        exit_code=exit_code,
        execution_time=execution_time,
        success=success,
        png=png,
        html=html,
        result=result,
        json_output=json_output,
        extra={} if dataframe is None else {"dataframe": dataframe},
    )
    again = ops.EXECUTE.decode(ops.EXECUTE.render(value))
    assert again == value
    assert again.rich_outputs == value.rich_outputs


# ---------------------------------------------------------------------------------------------
# Strictness and the error mapping the official client crashes on


@pytest.mark.parametrize("exit_code", ["0", True, None, 1.5, [0]])
def test_exit_code_must_be_an_integer(exit_code: Any) -> None:
    for op in (ops.EXECUTE, ops.COMMANDS_RUN):
        with pytest.raises(RemoteProtocolError, match="exit_code") as info:
            op.decode(_reply({"stdout": "", "exit_code": exit_code}))
        assert info.value.operation == op.name


def test_success_falls_back_to_the_exit_code() -> None:
    assert ExecutionResult(exit_code=0).is_success
    assert not ExecutionResult(exit_code=1).is_success
    assert not ExecutionResult(exit_code=0, success=False).is_success
    assert CommandResult(exit_code=0, success=False).is_success  # the exit status decides
    assert not CommandResult(exit_code=3).is_success


@pytest.mark.parametrize(
    ("op", "status", "code", "cls"),
    [
        (ops.EXECUTE, 408, "EXECUTION_TIMEOUT", CodeExecutionError),
        (ops.EXECUTE, 500, "EXECUTION_FAILED", CodeExecutionError),
        (ops.COMMANDS_RUN, 500, "COMMAND_FAILED", CommandExecutionError),
        (ops.EXECUTE, 403, "PATH_NOT_ALLOWED", FileOperationError),
        (ops.EXECUTE_PROCESSES, 401, "INVALID_TOKEN", AuthenticationError),
        (ops.TERMINAL, 401, "INVALID_TOKEN", AuthenticationError),
    ],
)
def test_agent_error_codes_map_to_typed_errors(
    op: Any, status: int, code: str, cls: type[HopxError]
) -> None:
    reply = Response(
        status,
        (*JSON, ("x-request-id", "r-9")),
        json.dumps({"error": "nope", "code": code, "exit_code": 2}).encode(),
    )
    with pytest.raises(cls) as info:
        op.decode(reply)
    exc = info.value
    assert (exc.code, exc.status_code, exc.request_id, exc.operation) == (
        code,
        status,
        "r-9",
        op.name,
    )
    assert exc.message == "nope"


# ---------------------------------------------------------------------------------------------
# Health and info


def test_health_and_info_shapes() -> None:
    health = ops.AGENT_HEALTH.decode(
        _reply({"status": "healthy", "features": {"languages": ["python"], "gpu": True}})
    )
    assert isinstance(health, HealthInfo)
    assert health.is_healthy
    assert health.features is not None
    assert health.features.languages == ["python"]
    assert health.features.extra == {"gpu": True}
    assert ops.AGENT_HEALTH.decode(_reply({"status": "OK"})).is_healthy
    assert not ops.AGENT_HEALTH.decode(_reply({"status": "starting"})).is_healthy

    spec_shape = ops.AGENT_INFO.decode(_reply({"agent": "a", "version": "3.2.8", "port": "7777"}))
    sdk_shape = ops.AGENT_INFO.decode(
        _reply({"agent_version": "3.2.9", "vm_port": 7777, "uptime": 1.5, "mystery": [1]})
    )
    assert isinstance(sdk_shape, AgentInfo)
    assert (spec_shape.agent_release, spec_shape.port) == ("3.2.8", "7777")
    assert (sdk_shape.agent_release, sdk_shape.vm_port, sdk_shape.uptime) == ("3.2.9", 7777, 1.5)
    assert sdk_shape.extra == {"mystery": [1]}


def test_process_start_time_alias() -> None:
    listing = ops.EXECUTE_PROCESSES.decode(
        _reply(
            {
                "processes": [
                    {"process_id": "p", "started_at": "2026-01-01T00:00:00Z", "status": "running"}
                ]
            }
        )
    )
    (proc,) = listing.processes
    assert proc.start_time == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert proc.is_running
    assert to_wire(proc)["start_time"] == "2026-01-01T00:00:00Z"


# ---------------------------------------------------------------------------------------------
# Webhook signing


def test_signature_known_answer() -> None:
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert sign_webhook(b"key", body) == expected
    assert sign_webhook("key", body) == expected
    assert WEBHOOK_SIGNATURE_HEADER == "X-Hopx-Signature"


def test_verify_accepts_only_the_exact_body_and_secret() -> None:
    body = json.dumps({"execution_id": "e1", "status": "completed"}).encode()
    header = sign_webhook(b"s3cret", body)
    assert verify_webhook(b"s3cret", body, header)
    assert verify_webhook("s3cret", body, header.encode())
    assert verify_webhook(b"s3cret", body, "SHA256=" + header[7:].upper())
    assert not verify_webhook(b"s3cret", body + b" ", header)
    assert not verify_webhook(b"other", body, header)
    assert not verify_webhook(b"s3cret", body, header[7:])  # prefix required
    assert not verify_webhook(b"s3cret", body, None)
    assert not verify_webhook(b"s3cret", body, b"sha256=\xff")
    assert not verify_webhook(b"s3cret", body, "sha256=zz")


@pytest.mark.parametrize("secret", [b"", "", None, 5])
def test_signing_needs_a_secret(secret: Any) -> None:
    with pytest.raises(LocalProtocolError):
        sign_webhook(secret, b"{}")
    with pytest.raises(LocalProtocolError):
        sign_webhook(b"k", "not bytes")  # type: ignore[arg-type]


def test_webhook_body_round_trip_and_strictness() -> None:
    event = WebhookExecutionComplete(
        execution_id="exec_1",
        status="timeout",
        stdout="partial",
        exit_code=None,
        execution_time=30.0,
        timestamp=dt.datetime(2026, 11, 27, 3, 38, 57, tzinfo=dt.UTC),
        error="execution timed out",
    )
    body = json.dumps(to_wire(event)).encode()
    assert parse_webhook(body) == event
    assert parse_webhook(b'{"execution_id":"e","status":"completed","retries":1}').extra == {
        "retries": 1
    }
    for bad in (
        b"not json",
        b"[]",
        b'{"status":"completed"}',
        b'{"execution_id":"e","status":"failed","exit_code":"1"}',
    ):
        with pytest.raises(RemoteProtocolError):
            parse_webhook(bad)


def test_rich_output_value() -> None:
    out = RichOutput(type="image/png", data={"image/png": "AAA"}, format="base64")
    assert out.payload == "AAA"
    assert out.metadata == {}


def test_rich_fields_write_outputs_back() -> None:
    outputs = [
        RichOutput(type="text/html", data={"text/html": "<i>1</i>"}),
        RichOutput(type="image/png", data={"image/png": "P1"}),
        RichOutput(type="image/png", data={"image/png": "P2"}),
        RichOutput(type="application/json", data={"application/json": {"a": 1}}),
        RichOutput(
            type="application/vnd.dataframe+json", data={"application/vnd.dataframe+json": [1]}
        ),
    ]
    fields = rich_fields(outputs)
    assert fields == {
        "html": "<i>1</i>",
        "png": "P1",
        "json_output": {"a": 1},
        "extra": {"dataframe": [1]},
    }
    result = ExecutionResult(exit_code=0, **fields)
    assert [r.payload for r in result.rich_outputs] == ["P1", "<i>1</i>", {"a": 1}, [1]]
    assert ops.EXECUTE.decode(ops.EXECUTE.render(result)).rich_outputs == result.rich_outputs
    with pytest.raises(LocalProtocolError, match="image/jpeg"):
        rich_fields([RichOutput(type="image/jpeg", data={"image/jpeg": "J"})])


def test_every_displayed_output_has_a_typed_accessor() -> None:
    result = _execute(
        {
            "stdout": "",
            "exit_code": 0,
            "png": "P1",
            "html": "<table></table>",
            "kernel_restarted": True,
            "rich_outputs": [
                {"type": "image/png", "format": "base64", "data": "P1", "metadata": {"a": 1}},
                {"type": "image/png", "data": "P2"},
                {"type": "text/html", "data": "<table></table>"},
                {"type": "application/vnd.dataframe+json", "data": {"columns": ["a"]}},
                "junk",
                {"type": 3},
            ],
        }
    )
    assert result.images == ["P1", "P2"]
    assert result.html_outputs == ["<table></table>"]
    assert result.data_frames == [{"columns": ["a"]}]
    assert [d.type for d in result.displays] == [
        "image/png",
        "image/png",
        "text/html",
        "application/vnd.dataframe+json",
    ]
    assert result.displays[0].metadata == {"a": 1}
    assert result.displays[1].payload == "P2"
    assert result.kernel_restarted is True
    # The official attribute names keep meaning what they did: one output per flat key.
    assert result.png == "P1"
    assert [o.type for o in result.rich_outputs] == ["image/png", "text/html"]
    plain = _execute({"exit_code": 0, "png": "P", "dataframe": {"columns": []}})
    assert plain.images == ["P"]
    assert plain.data_frames == [{"columns": []}]
    assert plain.kernel_restarted is False
