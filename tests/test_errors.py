"""The exception tree and the two status/body -> exception mappers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import hopx_proto._errors as errors
from hopx_proto._errors import (
    APIError,
    AuthenticationError,
    CodeExecutionError,
    CommandExecutionError,
    DesktopNotAvailableError,
    FileNotFoundError,
    FileOperationError,
    HopxError,
    LocalProtocolError,
    NotFoundError,
    RateLimitError,
    RemoteProtocolError,
    ResourceLimitError,
    SandboxExpiredError,
    SandboxNotRunningError,
    ServerError,
    TemplateNotFoundError,
    TokenExpiredError,
    ValidationError,
    error_from_agent_response,
    error_from_control_response,
)

MAPPERS = [error_from_control_response, error_from_agent_response]


def control(status: int, body: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> HopxError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_control_response(
        status, headers, raw, operation="sandboxes.get", sandbox_id="sb-1"
    )


def agent(status: int, body: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> HopxError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_agent_response(
        status, headers, raw, operation="files.read", sandbox_id="sb-1", path="/workspace/a"
    )


# ---------------------------------------------------------------------------------------------
# Any status, any body: an exception of ours, never a crash

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "error",
        "message",
        "code",
        "request_id",
        "details",
        "path",
        "missing_dependencies",
        "retry_after_seconds",
        "limit",
        "timestamp",
    ]
)
_maybe = st.one_of(
    _json,
    st.text(max_size=30),
    st.sampled_from(
        [
            "FILE_NOT_FOUND",
            "PATH_NOT_ALLOWED",
            "TOKEN_EXPIRED",
            "SANDBOX_EXPIRED",
            "token_expired",
            "DESKTOP_NOT_AVAILABLE",
            "EXECUTION_TIMEOUT",
            "COMMAND_FAILED",
            "SANDBOX_PAUSED",
            "quota limit reached",
            "not_found",
        ]
    ),
)
_details = st.dictionaries(_keys, _maybe, max_size=4)
_control_envelope = st.fixed_dictionaries(
    {},
    optional={
        "error": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "code": _maybe,
                    "message": _maybe,
                    "request_id": _maybe,
                    "details": st.one_of(_details, _json),
                },
            ),
            _maybe,
        ),
        "message": _maybe,
        "code": _maybe,
        "request_id": _maybe,
    },
)
_agent_envelope = st.fixed_dictionaries(
    {},
    optional={
        "error": _maybe,
        "message": _maybe,
        "code": _maybe,
        "path": _maybe,
        "details": st.one_of(_details, _json),
        "request_id": _maybe,
        "missing_dependencies": _maybe,
        "timestamp": _maybe,
    },
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _control_envelope.map(lambda d: json.dumps(d).encode()),
    _agent_envelope.map(lambda d: json.dumps(d).encode()),
    _json.map(lambda d: json.dumps(d).encode()),
)
_header_values = st.binary(max_size=20)
_headers = st.lists(
    st.tuples(
        st.sampled_from([b"x-request-id", b"retry-after", b"content-type", b"x-other"]),
        _header_values,
    ),
    max_size=4,
).map(tuple)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


@settings(max_examples=400, deadline=None)
@given(
    status=st.integers(100, 599),
    headers=_headers,
    body=_bodies,
    operation=st.none() | st.text(max_size=10),
    sandbox_id=st.none() | st.text(max_size=10),
)
def test_every_status_and_body_maps_to_one_of_our_errors(
    status: int,
    headers: tuple[tuple[bytes, bytes], ...],
    body: bytes,
    operation: str | None,
    sandbox_id: str | None,
) -> None:
    for mapper in MAPPERS:
        exc = mapper(status, headers, body, operation=operation, sandbox_id=sandbox_id)
        assert isinstance(exc, HopxError)
        assert exc.status_code == status
        assert isinstance(str(exc), str)
        assert isinstance(exc.message, str)
        assert exc.code is None or isinstance(exc.code, str)
        assert exc.request_id is None or isinstance(exc.request_id, str)
        assert isinstance(exc.details, dict)
        if status < 400 and not _is_json_object(body):
            assert isinstance(exc, RemoteProtocolError)
        if status >= 500 and type(exc) in (APIError, errors.AgentError):
            raise AssertionError(f"5xx mapped to the generic {type(exc).__name__}")
        if sandbox_id:
            assert exc.sandbox_id == sandbox_id


@settings(max_examples=100, deadline=None)
@given(status=st.integers(min_value=-(2**70), max_value=2**70), body=st.binary(max_size=50))
def test_statuses_outside_the_http_range_do_not_crash(status: int, body: bytes) -> None:
    for mapper in MAPPERS:
        assert isinstance(mapper(status, (), body), HopxError)


@settings(max_examples=100, deadline=None)
@given(request_id=st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36))
def test_request_id_from_body_or_header(request_id: str) -> None:
    header = ((b"X-Request-ID", request_id.encode()),)
    assert control(500, {"error": {"message": "m", "request_id": request_id}}).request_id == (
        request_id
    )
    assert control(500, {"error": {"message": "m"}}, header).request_id == request_id
    assert control(500, b"<html>bad gateway</html>", header).request_id == request_id
    assert agent(500, {"error": "m", "request_id": request_id}).request_id == request_id
    assert agent(500, {"error": "m"}, header).request_id == request_id
    assert agent(502, b"", header).request_id == request_id
    # the body wins over the header
    both = control(500, {"error": {"request_id": request_id}}, ((b"x-request-id", b"other"),))
    assert both.request_id == request_id


_text = st.text(min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(400, 599),
    message=_text,
    code=st.none() | _text,
    body_id=st.none() | _text,
    header_id=st.none() | st.text(alphabet="abcdef0123456789-", min_size=1, max_size=20),
    message_key=st.sampled_from(["error", "message"]),
)
def test_envelopes_give_their_message_code_and_request_id(
    status: int,
    message: str,
    code: str | None,
    body_id: str | None,
    header_id: str | None,
    message_key: str,
) -> None:
    headers = ((b"x-request-id", header_id.encode()),) if header_id else ()
    nested: dict[str, Any] = {"message": message}
    flat: dict[str, Any] = {message_key: message}
    if code is not None:
        nested["code"] = code
        flat["code"] = code
    if body_id is not None:
        nested["request_id"] = body_id
        flat["request_id"] = body_id
    expected_id = body_id if body_id is not None else header_id
    for exc in (control(status, {"error": nested}, headers), agent(status, flat, headers)):
        assert exc.message == message
        assert exc.code == (code if code is not None else type(exc).default_code)
        assert exc.request_id == expected_id
        assert exc.status_code == status
        assert exc.operation in ("sandboxes.get", "files.read")
        assert exc.sandbox_id == "sb-1"
        assert "sb-1" in str(exc)
        assert exc.operation in str(exc)


@pytest.mark.parametrize("mapper", MAPPERS)
def test_huge_retry_after_seconds_is_ignored(mapper: Any) -> None:
    huge = "1" + "0" * 400
    details = '"details":{"retry_after_seconds":' + huge + "}"
    body = '{"error":{"message":"slow down",' + details + "}}"
    if mapper is error_from_agent_response:
        body = '{"error":"slow down",' + details + "}"
    exc = mapper(429, (), body.encode())
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after is None


# ---------------------------------------------------------------------------------------------
# Control plane


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (422, ValidationError),
        (401, AuthenticationError),
        (402, APIError),
        (403, APIError),
        (404, NotFoundError),
        (409, APIError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (599, ServerError),
        (410, SandboxExpiredError),
    ],
)
def test_control_status_mapping(status: int, cls: type[HopxError]) -> None:
    exc = control(status, {"error": {"code": "c", "message": "went wrong", "request_id": "r"}})
    assert type(exc) is cls
    assert (exc.status_code, exc.code, exc.request_id, exc.message) == (
        status,
        "c",
        "r",
        "went wrong",
    )
    assert exc.operation == "sandboxes.get"


def test_control_rate_limit_reads_details_then_header() -> None:
    from_details = control(
        429,
        {"error": {"message": "slow", "details": {"retry_after_seconds": 30}}},
        ((b"retry-after", b"5"),),
    )
    assert isinstance(from_details, RateLimitError)
    assert from_details.retry_after == 30
    from_header = control(429, {"error": {"message": "slow"}}, ((b"Retry-After", b" 7 "),))
    assert isinstance(from_header, RateLimitError)
    assert from_header.retry_after == 7
    for bad in (b"-1", b"nan", b"inf", b"Wed, 21 Oct 2015 07:28:00 GMT", b"\xff"):
        exc = control(429, b"", ((b"retry-after", bad),))
        assert isinstance(exc, RateLimitError)
        assert exc.retry_after is None, bad
    for bad_detail in ("30", True, -3, None, [1]):
        exc = control(429, {"error": {"details": {"retry_after_seconds": bad_detail}}})
        assert isinstance(exc, RateLimitError)
        assert exc.retry_after is None, bad_detail


def test_control_403_mentioning_a_limit_is_a_resource_limit() -> None:
    details = {"limit": 5, "current": 5, "available": 0, "upgrade_url": "https://u"}
    exc = control(403, {"error": {"message": "Sandbox LIMIT reached", "details": details}})
    assert isinstance(exc, ResourceLimitError)
    assert (exc.limit, exc.current, exc.available, exc.upgrade_url) == (5, 5, 0, "https://u")
    plain = control(403, {"error": {"message": "forbidden"}})
    assert type(plain) is APIError


def test_control_expiry_and_token_codes() -> None:
    expired = control(
        404,
        {
            "error": {
                "code": "SANDBOX_EXPIRED",
                "message": "gone",
                "details": {"expires_at": "2026-01-01T00:00:00Z", "created_at": 5},
            }
        },
    )
    assert isinstance(expired, SandboxExpiredError)
    assert expired.expires_at == "2026-01-01T00:00:00Z"
    assert expired.created_at == "5"
    token = control(401, {"error": {"code": "token_expired", "message": "jwt expired"}})
    assert isinstance(token, TokenExpiredError)
    assert isinstance(token, AuthenticationError)


def test_control_flat_forms_and_non_json_bodies() -> None:
    flat = control(400, {"error": "bad template", "code": "invalid"})
    assert (type(flat), flat.message, flat.code) == (ValidationError, "bad template", "invalid")
    message_only = control(404, {"message": "no such sandbox"})
    assert message_only.message == "no such sandbox"
    html = control(502, b"<html>\r\n<b>Bad gateway</b>\n</html>")
    assert isinstance(html, ServerError)
    assert "\n" not in html.message
    assert html.message.startswith("<html>\\r\\n")
    empty = control(500, b"")
    assert empty.message == "HTTP 500"
    long_body = control(500, b"x" * 5000)
    assert len(long_body.message) < 300
    not_object = control(400, [1, 2])
    assert not_object.message == "[1, 2]"
    invalid_utf8 = control(500, b"\xff\xfe\x00garbage")
    assert isinstance(invalid_utf8, ServerError)


def test_success_status_given_to_a_mapper_is_a_protocol_error() -> None:
    for status in (100, 200, 204, 302):
        assert isinstance(control(status, {}), RemoteProtocolError)
        assert isinstance(agent(status, {}), RemoteProtocolError)


# ---------------------------------------------------------------------------------------------
# Agent


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("FILE_NOT_FOUND", FileNotFoundError),
        ("DIRECTORY_NOT_FOUND", FileOperationError),
        ("PATH_NOT_ALLOWED", FileOperationError),
        ("PERMISSION_DENIED", FileOperationError),
        ("INVALID_PATH", FileOperationError),
        ("FILE_ALREADY_EXISTS", FileOperationError),
        ("EXECUTION_FAILED", CodeExecutionError),
        ("EXECUTION_TIMEOUT", CodeExecutionError),
        ("COMMAND_FAILED", CommandExecutionError),
        ("DESKTOP_NOT_AVAILABLE", DesktopNotAvailableError),
        ("SANDBOX_PAUSED", SandboxNotRunningError),
        ("TOKEN_EXPIRED", TokenExpiredError),
        ("TOKEN_INVALID", AuthenticationError),
        ("SANDBOX_EXPIRED", SandboxExpiredError),
        ("file_not_found", FileNotFoundError),
        ("SOMETHING_NEW", errors.AgentError),
    ],
)
def test_agent_code_mapping(code: str, cls: type[HopxError]) -> None:
    exc = agent(400, {"error": "it failed", "code": code, "request_id": "r2"})
    assert type(exc) is cls
    assert (exc.message, exc.code, exc.request_id, exc.status_code) == (
        "it failed",
        code,
        "r2",
        400,
    )
    assert exc.operation == "files.read"
    assert exc.sandbox_id == "sb-1"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (404, FileNotFoundError),
        (410, SandboxExpiredError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (400, errors.AgentError),
        (409, errors.AgentError),
    ],
)
def test_agent_status_mapping_without_a_code(status: int, cls: type[HopxError]) -> None:
    exc = agent(status, {"error": "failed"})
    assert type(exc) is cls


def test_agent_paths_and_missing_dependencies() -> None:
    from_body = agent(404, {"error": "nf", "code": "FILE_NOT_FOUND", "path": "/workspace/b"})
    assert isinstance(from_body, FileNotFoundError)
    assert from_body.path == "/workspace/b"
    from_request = agent(404, {"error": "nf", "code": "FILE_NOT_FOUND"})
    assert isinstance(from_request, FileNotFoundError)
    assert from_request.path == "/workspace/a"
    desktop = agent(
        400,
        {
            "error": "no desktop",
            "code": "DESKTOP_NOT_AVAILABLE",
            "details": {"missing_dependencies": ["xvfb", "xdotool"]},
        },
    )
    assert isinstance(desktop, DesktopNotAvailableError)
    assert desktop.missing_dependencies == ["xvfb", "xdotool"]
    assert desktop.install_command == "apt-get install -y xvfb xdotool"
    top_level = agent(
        501, {"error": "no desktop", "code": "DESKTOP_NOT_AVAILABLE", "missing_dependencies": "x"}
    )
    assert isinstance(top_level, DesktopNotAvailableError)
    assert top_level.missing_dependencies == []


def test_agent_rate_limit_and_message_key() -> None:
    exc = agent(429, {"message": "slow", "details": {"retry_after_seconds": 2.5}})
    assert isinstance(exc, RateLimitError)
    assert (exc.retry_after, exc.message) == (2.5, "slow")
    header = agent(429, b"busy", ((b"retry-after", b"3"),))
    assert isinstance(header, RateLimitError)
    assert header.retry_after == 3


def test_agent_body_in_control_envelope_is_read_as_such() -> None:
    exc = agent(
        429, {"error": {"code": "rate", "message": "slow", "details": {"retry_after_seconds": 4}}}
    )
    assert isinstance(exc, RateLimitError)
    assert (exc.retry_after, exc.code, exc.operation) == (4, "rate", "files.read")


# ---------------------------------------------------------------------------------------------
# The exceptions themselves


def test_str_names_operation_sandbox_status_code_and_request_id() -> None:
    exc = control(
        404, {"error": {"code": "not_found", "message": "no sandbox", "request_id": "req-9"}}
    )
    text = str(exc)
    assert (
        text == "sandboxes.get on sandbox sb-1: no sandbox (HTTP 404) (code: not_found) "
        "[request_id: req-9]"
    )
    bare = HopxError("plain")
    assert str(bare) == "plain"
    assert str(NotFoundError(sandbox_id="s")) == "sandbox s: NotFoundError"


def test_class_tree_matches_the_official_names() -> None:
    assert issubclass(TokenExpiredError, AuthenticationError)
    assert issubclass(AuthenticationError, APIError)
    assert issubclass(TemplateNotFoundError, NotFoundError)
    assert issubclass(FileNotFoundError, errors.AgentError)
    assert issubclass(errors.TimeoutError, errors.NetworkError)
    assert issubclass(errors.TimeoutError, TimeoutError)
    assert issubclass(LocalProtocolError, ValueError)
    assert issubclass(errors.StreamEndedError, RemoteProtocolError)
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, HopxError), name


def test_default_codes_and_constructor_attributes() -> None:
    assert FileNotFoundError().code == "file_not_found"
    assert FileNotFoundError(code="X").code == "X"
    assert TokenExpiredError().code == "token_expired"
    template = TemplateNotFoundError(
        template_name="pyton", available_templates=["python", "nodejs"]
    )
    assert template.suggested_template == "python"
    assert "Did you mean 'python'?" in template.message
    assert TemplateNotFoundError(template_name="zzz").suggested_template is None
    network = errors.NetworkError("refused", request_sent=False)
    assert network.request_sent is False
    protocol = RemoteProtocolError("bad", status_hint=413, close_code=1009)
    assert (protocol.status_hint, protocol.close_code) == (413, 1009)
    details = {"k": 1}
    exc = APIError("m", details=details)
    details["k"] = 2
    assert exc.details == {"k": 1}


def _first_rows(
    monkeypatch: pytest.MonkeyPatch, table: Any, replies: list[tuple[int, bytes]], agent: bool
) -> set[int]:
    """The rows of ``table`` that are the first match of at least one of ``replies``."""
    hit: set[int] = set()
    original = errors._raise_from

    def recording(rows: Any, reply: Any, *args: Any) -> Any:
        hit.add(next(i for i, rule in enumerate(rows) if rule.matches(reply)))
        return original(rows, reply, *args)

    monkeypatch.setattr(errors, "_raise_from", recording)
    mapping = errors.error_from_agent_response if agent else errors.error_from_control_response
    for status, body in replies:
        error = mapping(status, (), body)
        assert isinstance(error, errors.HopxError)
    return hit


def _reply(code: str | None = None, message: str = "boom", *, nested: bool = False) -> bytes:
    if nested:
        return json.dumps({"error": {"code": code, "message": message}}).encode()
    return json.dumps({"error": message, "code": code}).encode()


def test_every_row_of_the_control_table_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = [
        (410, _reply(nested=True)),
        (401, _reply("token_expired", nested=True)),
        (403, _reply(message="sandbox limit reached", nested=True)),
        (422, _reply(nested=True)),
        (401, _reply(nested=True)),
        (404, _reply(nested=True)),
        (429, _reply(nested=True)),
        (503, _reply(nested=True)),
        (302, b""),
        (418, _reply(nested=True)),
    ]
    assert _first_rows(monkeypatch, errors.CONTROL_ERRORS, replies, agent=False) == set(
        range(len(errors.CONTROL_ERRORS))
    )


def test_every_row_of_the_agent_table_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = [
        (401, _reply("TOKEN_EXPIRED")),
        (401, _reply()),
        (410, _reply()),
        (404, _reply("FILE_NOT_FOUND")),
        (403, _reply("PATH_NOT_ALLOWED")),
        (500, _reply("EXECUTION_FAILED")),
        (500, _reply("COMMAND_FAILED")),
        (501, _reply("DESKTOP_NOT_AVAILABLE")),
        (409, _reply("SANDBOX_PAUSED")),
        (429, _reply()),
        (502, _reply()),
        (404, json.dumps({"error": "gone", "path": "/workspace/x"}).encode()),
        (302, b""),
        (418, _reply()),
    ]
    assert _first_rows(monkeypatch, errors.AGENT_ERRORS, replies, agent=True) == set(
        range(len(errors.AGENT_ERRORS))
    )
