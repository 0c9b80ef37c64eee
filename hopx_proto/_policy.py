"""Retry and token-freshness decisions: pure values that take ``now`` and randomness as input.

:class:`RetryPolicy` decides, after a failed attempt, whether to try again and after how long.
It knows which failures are worth retrying (429/502/503/504, connection failures, timeouts),
that a non-idempotent request is repeated only when it certainly never reached the server, and
that the server's own hint (the ``Retry-After`` header, in seconds or as an HTTP date, or the
body's ``error.details.retry_after_seconds``) beats our backoff.

:class:`TokenState` holds a sandbox JWT and its expiry and says when to refresh it: ahead of
expiry by a margin, and exactly once after a 401.

Nothing here reads a clock or a random source: the caller passes ``now`` (seconds since the
epoch, wall clock) and ``jitter`` (a number in ``[0, 1)``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ._codec import parse_datetime
from ._errors import (
    APIError,
    HopxError,
    LocalProtocolError,
    NetworkError,
    RateLimitError,
    RemoteProtocolError,
)
from ._value import Value

__all__ = ["GiveUp", "Retry", "RetryDecision", "RetryPolicy", "TokenState", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@attrs.frozen(repr=False, eq=False)
class Retry(Value):
    """Try again after ``delay`` seconds."""

    delay: float
    reason: str


@attrs.frozen(repr=False, eq=False)
class GiveUp(Value):
    """Do not try again; raise the last error."""

    reason: str


RetryDecision = Retry | GiveUp


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``None`` when absent or unreadable; a date in the past gives ``0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < float("inf") else None
    when = parse_http_date(text, now=now)
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


# RFC 9110 section 5.6.7: the preferred IMF-fixdate and the two obsolete forms a recipient
# must still read. Names are matched exactly as the grammar spells them (case-sensitive).
_DAY_NAMES = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAY_NAMES = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"


@functools.cache
def _http_date_patterns() -> tuple[re.Pattern[str], ...]:
    """IMF-fixdate, RFC 850 and asctime patterns, compiled on the first date read."""
    return (
        re.compile(
            rf"(?:{_DAY_NAMES}), (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT", re.ASCII
        ),
        re.compile(
            rf"(?:{_LONG_DAY_NAMES}), (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT",
            re.ASCII,
        ),
        re.compile(
            rf"(?:{_DAY_NAMES}) {_MONTH} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})", re.ASCII
        ),
    )


def parse_http_date(text: str, *, now: float) -> _dt.datetime | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime form) as an aware UTC datetime.

    ``None`` for anything else, including impossible dates. A two-digit RFC 850 year that
    would lie more than 50 years after ``now`` is read as the latest such year in the past
    (and one 50 or more years before it as the next one).
    """
    for pattern in _http_date_patterns():
        match = pattern.fullmatch(text)
        if match is not None:
            break
    else:
        return None
    year = int(match["year"])
    try:
        if len(match["year"]) == 2:
            this_year = _dt.datetime.fromtimestamp(now, _dt.UTC).year
            year += this_year // 100 * 100
            if year > this_year + 50:
                year -= 100
            elif year <= this_year - 50:
                year += 100
        return _dt.datetime(
            year,
            _MONTHS.index(match["month"]) + 1,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            tzinfo=_dt.UTC,
        )
    except (ValueError, OverflowError, OSError):  # 31 Feb, hour 24, an unusable ``now`` ...
        return None


def _positive(name: str) -> Any:
    def check(_inst: object, _attr: object, value: float) -> None:
        if not value > 0:
            raise LocalProtocolError(f"{name} must be positive, got {value!r}")

    return check


@attrs.frozen(repr=False, eq=False)
class RetryPolicy(Value):
    """When to repeat a failed request, and after how long.

    Attributes:
        max_attempts: attempts in total, the first included (1 disables retries).
        base_delay: the backoff before the second attempt; it doubles each time.
        max_delay: the cap of the backoff.
        max_retry_after: the longest server-requested wait we accept; a longer hint gives up
            so the caller sees the :class:`RateLimitError` (with ``retry_after``) at once.
        retry_statuses: HTTP statuses worth another try.
    """

    max_attempts: int = attrs.field(default=3, validator=_positive("max_attempts"))
    base_delay: float = attrs.field(default=0.5, validator=_positive("base_delay"))
    max_delay: float = attrs.field(default=30.0, validator=_positive("max_delay"))
    max_retry_after: float = attrs.field(default=120.0, validator=_positive("max_retry_after"))
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES

    def backoff(self, attempt: int, jitter: float) -> float:
        """The delay after failed attempt number ``attempt`` (1-based), with "equal jitter".

        Half of the exponential step is fixed, the other half scaled by ``jitter`` in [0, 1),
        so concurrent clients spread out but never retry at once.
        """
        step = min(self.max_delay, self.base_delay * 2.0 ** min(max(0, attempt - 1), 64))
        jitter = min(max(jitter, 0.0), 1.0)
        return step / 2 + step / 2 * jitter

    def decide(
        self,
        error: BaseException,
        *,
        attempt: int,
        idempotent: bool,
        now: float,
        jitter: float,
        retry_after_header: str | None = None,
    ) -> RetryDecision:
        """What to do after attempt number ``attempt`` (1-based) failed with ``error``.

        Args:
            error: what the attempt raised (a :class:`HopxError` for anything retryable).
            idempotent: whether repeating the request is harmless.
            now: the wall clock, seconds since the epoch (for an HTTP-date ``Retry-After``).
            jitter: a random number in ``[0, 1)``.
            retry_after_header: the raw ``Retry-After`` header of the reply, if any.
        """
        if attempt >= self.max_attempts:
            return GiveUp(f"gave up after {attempt} attempt(s)")
        if not isinstance(error, HopxError):
            return GiveUp(f"{type(error).__name__} is not retryable")
        if isinstance(error, NetworkError):
            if not error.request_sent:
                return Retry(self.backoff(attempt, jitter), "the request never reached the server")
            if idempotent:
                return Retry(self.backoff(attempt, jitter), "connection failed; safe to repeat")
            return GiveUp("the request may have reached the server and is not idempotent")
        if isinstance(error, RemoteProtocolError) or not isinstance(error, APIError):
            return GiveUp(f"{type(error).__name__} is not retryable")
        status = error.status_code
        if status not in self.retry_statuses:
            return GiveUp(f"HTTP {status} is not retryable")
        if not idempotent:
            return GiveUp(f"HTTP {status} on a request that is not idempotent")
        hint = _server_hint(error, retry_after_header, now)
        if hint is not None:
            if hint > self.max_retry_after:
                return GiveUp(f"the server asks to wait {hint:g} s, more than we accept")
            return Retry(hint, f"HTTP {status}; the server asks to wait {hint:g} s")
        return Retry(self.backoff(attempt, jitter), f"HTTP {status}")


def _server_hint(error: APIError, header: str | None, now: float) -> float | None:
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return max(0.0, float(error.retry_after))
    details = error.details.get("retry_after_seconds")
    if isinstance(details, int | float) and not isinstance(details, bool) and details >= 0:
        return float(details)
    return parse_retry_after(header, now=now)


# ---------------------------------------------------------------------------------------------
# Token freshness


def _epoch(value: _dt.datetime | str | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = parse_datetime(value)
        except (ValueError, RemoteProtocolError):
            raise RemoteProtocolError(f"token expiry is not an RFC 3339 timestamp: {value!r}")
    if not isinstance(value, _dt.datetime):
        raise RemoteProtocolError(f"token expiry has the wrong type: {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.timestamp()


@attrs.frozen(repr=False, eq=False)
class TokenState(Value):
    """A sandbox JWT, when it expires, and when to refresh it.

    Attributes:
        token: the JWT, or ``None`` before one was issued.
        expires_at: expiry as seconds since the epoch, ``None`` if the service did not say.
        margin: refresh this many seconds before expiry.
    """

    token: str | None = None
    expires_at: float | None = None
    margin: float = 60.0

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any] | Any, *, margin: float = 60.0
    ) -> TokenState | None:
        """The token of a create or refresh reply (``auth_token`` + ``token_expires_at``).

        ``body`` is the JSON object or a model with those attributes. ``None`` when the reply
        carries no token.
        """
        if isinstance(body, Mapping):
            token, expiry = body.get("auth_token"), body.get("token_expires_at")
        else:
            token = getattr(body, "auth_token", None)
            expiry = getattr(body, "token_expires_at", None)
        if not token:
            return None
        if not isinstance(token, str):
            raise RemoteProtocolError("auth_token must be a string")
        return cls(token, _epoch(expiry), margin)

    def needs_refresh(self, now: float) -> bool:
        """True when there is no token or it expires within ``margin`` seconds of ``now``."""
        if self.token is None:
            return True
        return self.expires_at is not None and now >= self.expires_at - self.margin

    def seconds_left(self, now: float) -> float | None:
        """Seconds until expiry (negative once expired), ``None`` if unknown."""
        return None if self.expires_at is None else self.expires_at - now

    @staticmethod
    def refresh_after_unauthorized(already_refreshed: bool) -> bool:
        """After a 401: refresh and retry exactly once per call."""
        return not already_refreshed
