"""Retry and token decisions: pure, so every case is replayed exactly."""

from __future__ import annotations

import datetime as _dt
import email.utils

import pytest
from hypothesis import given, strategies as st

from hopx_proto._errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RemoteProtocolError,
    ServerError,
    TimeoutError,
    ValidationError,
)
from hopx_proto._policy import (
    GiveUp,
    Retry,
    RetryPolicy,
    TokenState,
    parse_http_date,
    parse_retry_after,
)

NOW = 1_800_000_000.0
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def server(status: int, **details: object) -> ServerError:
    return ServerError("boom", status_code=status, details=details)


@given(attempt=st.integers(1, 40), jitter=jitters)
def test_backoff_is_bounded_and_grows(attempt: int, jitter: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    delay = policy.backoff(attempt, jitter)
    step = min(8.0, 0.5 * 2 ** (attempt - 1))
    assert step / 2 <= delay <= step
    assert policy.backoff(attempt + 1, 0.0) >= policy.backoff(attempt, 0.0)


@given(status=st.sampled_from([502, 503, 504]), jitter=jitters)
def test_gateway_errors_retry_idempotent_only(status: int, jitter: float) -> None:
    policy = RetryPolicy()
    err = server(status)
    assert isinstance(policy.decide(err, attempt=1, idempotent=True, now=NOW, jitter=jitter), Retry)
    decision = policy.decide(err, attempt=1, idempotent=False, now=NOW, jitter=jitter)
    assert isinstance(decision, GiveUp)
    assert "not idempotent" in decision.reason


@given(status=st.integers(100, 599).filter(lambda s: s not in (429, 502, 503, 504)))
def test_other_statuses_never_retry(status: int) -> None:
    err = ServerError("x", status_code=status)
    decision = RetryPolicy().decide(err, attempt=1, idempotent=True, now=NOW, jitter=0.5)
    assert isinstance(decision, GiveUp)


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("no", status_code=401),
        NotFoundError("no", status_code=404),
        ValidationError("no", status_code=400),
        RemoteProtocolError("garbage"),
        ValueError("not ours"),
    ],
)
def test_non_retryable_errors(error: BaseException) -> None:
    decision = RetryPolicy().decide(error, attempt=1, idempotent=True, now=NOW, jitter=0.1)
    assert isinstance(decision, GiveUp)


@given(idempotent=st.booleans(), jitter=jitters)
def test_connect_failure_retries_everything(idempotent: bool, jitter: float) -> None:
    err = NetworkError("refused", request_sent=False)
    decision = RetryPolicy().decide(err, attempt=1, idempotent=idempotent, now=NOW, jitter=jitter)
    assert isinstance(decision, Retry)


def test_failure_after_sending_retries_idempotent_only() -> None:
    policy = RetryPolicy()
    for err in (NetworkError("reset", request_sent=True), TimeoutError("slow")):
        assert isinstance(policy.decide(err, attempt=1, idempotent=True, now=NOW, jitter=0), Retry)
        decision = policy.decide(err, attempt=1, idempotent=False, now=NOW, jitter=0)
        assert isinstance(decision, GiveUp)


@given(attempts=st.integers(1, 10))
def test_attempts_are_capped(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=attempts)
    err = NetworkError("refused", request_sent=False)
    assert isinstance(
        policy.decide(err, attempt=attempts, idempotent=True, now=NOW, jitter=0), GiveUp
    )


@given(seconds=st.integers(0, 100), jitter=jitters)
def test_retry_after_header_seconds_is_honoured(seconds: int, jitter: float) -> None:
    err = RateLimitError("slow down", status_code=429)
    decision = RetryPolicy().decide(
        err, attempt=1, idempotent=True, now=NOW, jitter=jitter, retry_after_header=str(seconds)
    )
    assert decision == Retry(float(seconds), decision.reason)


@given(offset=st.integers(0, 100))
def test_retry_after_header_http_date(offset: int) -> None:
    date = email.utils.formatdate(NOW + offset, usegmt=True)
    assert parse_retry_after(date, now=NOW) == pytest.approx(offset, abs=1)
    err = ServerError("busy", status_code=503)
    decision = RetryPolicy().decide(
        err, attempt=1, idempotent=True, now=NOW, jitter=0.9, retry_after_header=date
    )
    assert isinstance(decision, Retry)
    assert decision.delay == pytest.approx(offset, abs=1)


def test_retry_after_in_body_beats_header() -> None:
    err = RateLimitError("slow", status_code=429, retry_after=7)
    decision = RetryPolicy().decide(
        err, attempt=1, idempotent=True, now=NOW, jitter=0.0, retry_after_header="1"
    )
    assert decision == Retry(7.0, decision.reason)
    details = server(503, retry_after_seconds=3)
    decision = RetryPolicy().decide(details, attempt=1, idempotent=True, now=NOW, jitter=0.0)
    assert isinstance(decision, Retry)
    assert decision.delay == 3.0


def test_too_long_retry_after_gives_up() -> None:
    err = RateLimitError("slow", status_code=429, retry_after=3600)
    decision = RetryPolicy(max_retry_after=60).decide(
        err, attempt=1, idempotent=True, now=NOW, jitter=0.0
    )
    assert isinstance(decision, GiveUp)


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(text: str) -> None:
    value = parse_retry_after(text, now=NOW)
    assert value is None or value >= 0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# -- tokens ---------------------------------------------------------------------------------


def test_token_from_create_reply() -> None:
    expiry = _dt.datetime.fromtimestamp(NOW + 3600, _dt.UTC)
    state = TokenState.from_response(
        {"auth_token": "jwt-1", "token_expires_at": expiry.isoformat().replace("+00:00", "Z")}
    )
    assert state is not None
    assert state.token == "jwt-1"
    assert state.expires_at == pytest.approx(NOW + 3600)
    assert TokenState.from_response({"id": "x"}) is None


def test_token_bad_expiry_is_typed() -> None:
    with pytest.raises(RemoteProtocolError):
        TokenState.from_response({"auth_token": "t", "token_expires_at": "tomorrow"})


@given(left=st.integers(-1_000_000, 1_000_000), margin=st.integers(0, 3600))
def test_needs_refresh_ahead_of_expiry(left: int, margin: int) -> None:
    state = TokenState("jwt", NOW + left, margin)
    assert state.needs_refresh(NOW) == (left <= margin)
    assert TokenState(None).needs_refresh(NOW)
    assert not TokenState("jwt", None).needs_refresh(NOW)


def test_refresh_once_after_unauthorized() -> None:
    assert TokenState.refresh_after_unauthorized(already_refreshed=False)
    assert not TokenState.refresh_after_unauthorized(already_refreshed=True)


# ---------------------------------------------------------------------------------------------
# HTTP dates (RFC 9110 section 5.6.7)

_1994 = _dt.datetime(1994, 11, 6, 8, 49, 37, tzinfo=_dt.UTC)


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime form
        "Sun Nov 06 08:49:37 1994",
    ],
)
def test_the_three_http_date_forms(text: str) -> None:
    assert parse_http_date(text, now=NOW) == _1994
    assert parse_retry_after(text, now=_1994.timestamp() - 5) == 5.0


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "sun, 06 nov 1994 08:49:37 gmt",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:60 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT".replace("1", "\u0661"),  # Arabic-Indic digit
        "yesterday",
    ],
)
def test_other_date_text_is_unreadable(text: str) -> None:
    assert parse_http_date(text, now=NOW) is None
    assert parse_retry_after(text, now=NOW) is None


def test_two_digit_years_stay_within_fifty_years_of_now() -> None:
    now_2026 = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC).timestamp()
    years = {
        yy: parse_http_date(f"Monday, 01-Jan-{yy:02d} 00:00:00 GMT", now=now_2026)
        for yy in (0, 26, 76, 77, 99)
    }
    assert {yy: when.year for yy, when in years.items() if when is not None} == {
        0: 2000,
        26: 2026,
        76: 2076,
        77: 1977,
        99: 1999,
    }


@given(st.integers(0, 253402300799 - 1))
def test_imf_fixdates_read_back_to_the_second(second: int) -> None:
    text = email.utils.formatdate(second, usegmt=True)
    when = parse_http_date(text, now=NOW)
    assert when is not None
    assert when.timestamp() == second
