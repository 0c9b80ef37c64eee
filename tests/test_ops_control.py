"""Control-plane operations: argument checks, wire details and error mapping."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto._errors import (
    APIError,
    LocalProtocolError,
    RateLimitError,
    RemoteProtocolError,
    ResourceLimitError,
    ServerError,
)
from hopx_proto._http import Request, Response
from hopx_proto._models.control import (
    BuildLogs,
    BuildStatus,
    ExpiryInfo,
    SandboxInfo,
    Template,
    TokenInfo,
)
from hopx_proto._ops import Operation, Plane, control as c, route

UTC = dt.UTC


def _json(body: object, status: int = 200, **headers: str) -> Response:
    return Response(
        status,
        [("content-type", "application/json"), *headers.items()],
        json.dumps(body).encode(),
    )


# -- create ------------------------------------------------------------------------------------


def test_create_needs_a_template() -> None:
    with pytest.raises(LocalProtocolError, match="template_name or template_id"):
        c.CreateSandbox(region="us-east")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"template_name": ""},
        {"template_name": "   "},
        {"template_id": ""},
        {"template_id": True},
        {"template_id": 1.5},
        {"template_name": "base", "timeout_seconds": 0},
        {"template_name": "base", "timeout_seconds": -1},
        {"template_name": "base", "timeout_seconds": True},
        {"template_name": "base", "region": ""},
    ],
)
def test_create_refuses_bad_values_before_any_bytes(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        c.CreateSandbox(**kwargs)  # type: ignore[arg-type]


def test_integer_template_id_is_sent_as_a_string() -> None:
    args = c.CreateSandbox(template_id=282)
    assert args.template_id == "282"
    request = c.SANDBOXES_CREATE.encode(args, auth="k")
    assert request.body == b'{"template_id":"282"}'


def test_create_body_matches_the_official_client_byte_for_byte() -> None:
    args = c.CreateSandbox(
        template_name="code-interpreter",
        region="us-east",
        timeout_seconds=600,
        internet_access=False,
        env_vars={"FOO": "bar", "N": "1"},
    )
    request = c.SANDBOXES_CREATE.encode(args, auth="k")
    assert request.body == (
        b'{"template_name":"code-interpreter","region":"us-east","timeout_seconds":600,'
        b'"internet_access":false,"env_vars":{"FOO":"bar","N":"1"}}'
    )
    assert request.header("content-type") == "application/json"
    assert request.header("x-api-key") == "k"


def test_create_with_name_and_id_sends_both_in_order() -> None:
    request = c.SANDBOXES_CREATE.encode(c.CreateSandbox(template_name="base", template_id="9"))
    assert list(json.loads(request.body or b"")) == ["template_name", "template_id"]


def test_server_accepts_an_integer_template_id_and_ignores_deprecated_sizes() -> None:
    request = Request("POST", "/v1/sandboxes", (), b'{"template_id":282,"vcpu":4,"disk_gb":9}')
    assert c.SANDBOXES_CREATE.parse(request) == c.CreateSandbox(template_id="282")


@pytest.mark.parametrize(
    "body",
    [b'{"template_id":true}', b'{"template_id":{"value":"1"}}', b'{"template_name":null}'],
)
def test_server_refuses_bad_template_ids(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        c.SANDBOXES_CREATE.parse(Request("POST", "/v1/sandboxes", (), body))
    assert info.value.status_hint == 400


def test_create_flags() -> None:
    assert c.SANDBOXES_CREATE.success == 201
    assert not c.SANDBOXES_CREATE.is_idempotent
    assert not c.TEMPLATES_BUILD.is_idempotent
    for op in (
        c.SANDBOXES_PAUSE,
        c.SANDBOXES_RESUME,
        c.SANDBOXES_START,
        c.SANDBOXES_STOP,
        c.SANDBOXES_REFRESH_TOKEN,
        c.SANDBOXES_SET_TIMEOUT,
    ):
        assert op.is_idempotent, op.name


# -- lifecycle and credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    "op", [c.SANDBOXES_PAUSE, c.SANDBOXES_RESUME, c.SANDBOXES_START, c.SANDBOXES_STOP]
)
def test_lifecycle_posts_have_no_body(op: Operation[c.SandboxId, object]) -> None:
    request = op.encode(c.SandboxId("sbx-1"), auth="k")
    assert request.method == "POST"
    assert request.body == b""
    assert request.header("content-type") is None


def test_health_never_sends_a_credential() -> None:
    request = c.HEALTH.encode(c.NoArgs(), auth="secret")
    assert request.header("x-api-key") is None
    assert request.header("authorization") is None


@pytest.mark.parametrize(
    ("op", "args"),
    [
        (c.TEMPLATES_UPLOAD_LINK, c.UploadLinkRequest("h", 1)),
        (c.TEMPLATES_BUILD, c.BuildTemplate(name="n", from_image="python:3.11")),
        (c.TEMPLATES_BUILD_STATUS, c.BuildId("b")),
        (c.TEMPLATES_BUILD_LOGS, c.BuildLogsQuery("t")),
    ],
)
def test_build_family_sends_the_key_as_bearer(op: Operation[object, object], args: object) -> None:
    request = op.encode(args, auth="sk_test")
    assert request.header("authorization") == "Bearer sk_test"
    assert request.header("x-api-key") is None


# -- pagination --------------------------------------------------------------------------------


def test_pagination_follows_next_cursor() -> None:
    page = c.SANDBOXES_LIST.decode(
        _json({"data": [{"id": "a", "status": "running"}], "has_more": True, "next_cursor": "c2"})
    )
    assert page.has_more
    assert [s.sandbox_id for s in page.data] == ["a"]
    nxt = c.ListSandboxes(limit=100, status="running", cursor=page.next_cursor)
    assert c.SANDBOXES_LIST.target(nxt) == "/v1/sandboxes?limit=100&status=running&cursor=c2"


def test_last_page_has_no_cursor() -> None:
    page = c.SANDBOXES_LIST.decode(_json({"data": None, "has_more": False}))
    assert page.data == []
    assert page.next_cursor is None


def test_query_order_is_limit_status_region_cursor() -> None:
    args = c.ListSandboxes(cursor="z", region="eu", status="paused", limit=5)
    assert c.SANDBOXES_LIST.target(args) == "/v1/sandboxes?limit=5&status=paused&region=eu&cursor=z"
    assert c.SANDBOXES_LIST.parse(Request("GET", c.SANDBOXES_LIST.target(args))) == args


@pytest.mark.parametrize("limit", [0, -3])
def test_list_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(LocalProtocolError):
        c.ListSandboxes(limit=limit)


# -- percent-encoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("code-interpreter", "/v1/templates/code-interpreter"),
        ("a b/c", "/v1/templates/a%20b%2Fc"),
        ("é?#&=%", "/v1/templates/%C3%A9%3F%23%26%3D%25"),
        ("..", "/v1/templates/.."),
    ],
)
def test_template_names_are_percent_encoded(name: str, target: str) -> None:
    request = c.TEMPLATES_GET.encode(c.TemplateName(name))
    assert request.target == target
    assert c.TEMPLATES_GET.parse(request) == c.TemplateName(name)


def test_routing_keeps_build_paths_apart_from_template_names() -> None:
    found = route(Plane.CONTROL, "GET", "/v1/templates/build/b1/status")
    assert found is not None
    assert found[0] is c.TEMPLATES_BUILD_STATUS
    assert found[1] == {"build_id": "b1"}
    found = route(Plane.CONTROL, "POST", "/v1/templates/files/upload-link")
    assert found is not None
    assert found[0] is c.TEMPLATES_UPLOAD_LINK
    found = route(Plane.CONTROL, "GET", "/v1/templates/a%2Fb")
    assert found is not None
    assert found[0] is c.TEMPLATES_GET
    assert found[1] == {"name": "a/b"}


# -- error mapping -----------------------------------------------------------------------------


def test_rate_limit_prefers_the_body_hint_over_the_header() -> None:
    body = {
        "error": {"code": "rate_limited", "message": "slow", "details": {"retry_after_seconds": 3}}
    }
    with pytest.raises(RateLimitError) as info:
        c.SANDBOXES_GET.decode(_json(body, 429, **{"retry-after": "7"}))
    assert info.value.retry_after == 3.0


def test_rate_limit_falls_back_to_the_header() -> None:
    with pytest.raises(RateLimitError) as info:
        c.SANDBOXES_GET.decode(_json({"error": {"message": "slow"}}, 429, **{"retry-after": "5"}))
    assert info.value.retry_after == 5.0


def test_quota_error_carries_its_numbers() -> None:
    details = {"limit": 5, "current": 5, "available": 0, "upgrade_url": "https://u.invalid"}
    body = {"error": {"code": "quota", "message": "Sandbox LIMIT reached", "details": details}}
    with pytest.raises(ResourceLimitError) as info:
        c.SANDBOXES_CREATE.decode(_json(body, 403))
    exc = info.value
    assert (exc.limit, exc.current, exc.available, exc.upgrade_url) == (
        5,
        5,
        0,
        "https://u.invalid",
    )
    assert exc.operation == "sandboxes.create"


def test_forbidden_without_limit_is_a_plain_api_error() -> None:
    with pytest.raises(APIError) as info:
        c.SANDBOXES_PAUSE.decode(_json({"error": {"message": "sandbox is stopped"}}, 403))
    assert type(info.value) is APIError


def test_non_json_error_body_keeps_an_excerpt_and_the_header_request_id() -> None:
    response = Response(502, [("x-request-id", "r-9")], b"<html>bad gateway</html>")
    with pytest.raises(ServerError) as info:
        c.SANDBOXES_GET.decode(response, sandbox_id="sbx-1")
    exc = info.value
    assert "bad gateway" in exc.message
    assert exc.request_id == "r-9"
    assert exc.sandbox_id == "sbx-1"
    assert exc.status_code == 502


def test_malformed_success_names_the_operation_and_shows_the_body() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        c.SANDBOXES_REFRESH_TOKEN.decode(_json({"auth_token": "t"}))
    exc = info.value
    assert "sandboxes.refresh_token" in exc.message
    assert "token_expires_at" in exc.message
    assert '"auth_token"' in exc.message


def test_success_with_wrong_content_type_is_refused() -> None:
    response = Response(200, [("content-type", "text/plain")], b'{"id":"a","status":"running"}')
    with pytest.raises(RemoteProtocolError):
        c.SANDBOXES_GET.decode(response)


# -- models ------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 27, 3, 38, 58, tzinfo=UTC)


def test_expiry_of_a_sandbox_without_timeout() -> None:
    info = ExpiryInfo.at(None, NOW)
    assert info == ExpiryInfo(None, None, False, False, False)


@pytest.mark.parametrize(
    ("seconds", "ttl", "expired", "soon"),
    [
        (599.9, 599, False, False),
        (301, 301, False, False),
        (300, 300, False, True),
        (0.5, 0, False, True),
        (0, 0, True, False),
        (-42.7, -42, True, False),
    ],
)
def test_expiry_at_an_instant(seconds: float, ttl: int, expired: bool, soon: bool) -> None:
    expires = NOW + dt.timedelta(seconds=seconds)
    info = ExpiryInfo.at(expires, NOW)
    assert (info.time_to_expiry, info.is_expired, info.is_expiring_soon) == (ttl, expired, soon)
    assert info.has_timeout
    assert info.expires_at == expires


def test_expiry_threshold_and_naive_now() -> None:
    sandbox = SandboxInfo("s", "running", expires_at=NOW + dt.timedelta(seconds=900))
    naive_now = NOW.replace(tzinfo=None)
    assert not sandbox.expiry(naive_now).is_expiring_soon
    assert sandbox.expiry(naive_now, threshold_seconds=900).is_expiring_soon


_instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=9))]),
)


@settings(max_examples=60, deadline=None, database=None)
@given(expires=_instants, now=_instants, threshold=st.integers(0, 10_000))
def test_expiry_is_consistent_at_any_instant(
    expires: dt.datetime, now: dt.datetime, threshold: int
) -> None:
    info = ExpiryInfo.at(expires, now, threshold_seconds=threshold)
    left = (expires - now).total_seconds()
    assert info.has_timeout
    assert info.is_expired == (now >= expires)
    assert not (info.is_expired and info.is_expiring_soon)
    assert info.is_expiring_soon == (0 < left <= threshold)
    assert info.time_to_expiry is not None
    assert abs(info.time_to_expiry - left) < 1


def test_token_from_create_reply_needs_both_keys() -> None:
    expires = NOW + dt.timedelta(hours=1)
    assert SandboxInfo("s", "running", auth_token="t").token is None
    token = SandboxInfo("s", "running", auth_token="t", token_expires_at=expires).token
    assert token == TokenInfo("t", expires)
    assert token is not None
    assert token.expires_within(NOW, 3601)
    assert not token.expires_within(NOW, 3599)


def test_build_status_and_logs_helpers() -> None:
    assert not BuildStatus("b", "building").is_terminal
    assert BuildStatus("b", "failed").is_terminal
    assert not BuildStatus("b", "failed").succeeded
    assert BuildStatus("b", "active").succeeded
    logs = BuildLogs(logs="one\n\n  \ntwo\n", status="building")
    assert logs.lines == ["one", "two"]
    assert not logs.is_done
    assert BuildLogs(complete=True).is_done
    assert BuildLogs(status="success").is_done


def test_template_is_ready_only_when_active_and_enabled() -> None:
    assert Template("1", "n", status="active").is_ready
    assert not Template("1", "n", status="active", is_active=False).is_ready
    assert not Template("1", "n", status="building").is_ready


@pytest.mark.parametrize(
    ("op", "args"),
    [
        (c.TEMPLATES_GET, c.TemplateName("a\ud800")),
        (c.SANDBOXES_CREATE, c.CreateSandbox(template_name="a\ud800")),
    ],
)
def test_text_that_cannot_be_utf8_is_refused_locally(
    op: Operation[object, object], args: object
) -> None:
    with pytest.raises(LocalProtocolError):
        op.encode(args)
