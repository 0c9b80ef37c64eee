"""Values computed by the client (not decoded from the wire)."""

from __future__ import annotations

import datetime as _dt

import attrs

__all__ = ["ExpiryInfo"]


@attrs.frozen
class ExpiryInfo:
    """When a sandbox expires, from one ``get_info`` call.

    Attributes:
        expires_at: the expiry instant, ``None`` when the sandbox has no timeout.
        time_to_expiry: whole seconds left (negative once expired), ``None`` without expiry.
        is_expired: the expiry has passed.
        is_expiring_soon: ``0 <= time_to_expiry <= threshold``.
        has_timeout: the sandbox has an expiry at all.
    """

    expires_at: _dt.datetime | None
    time_to_expiry: int | None
    is_expired: bool
    is_expiring_soon: bool
    has_timeout: bool

    @classmethod
    def compute(cls, expires_at: _dt.datetime | None, *, now: float, threshold: int) -> ExpiryInfo:
        """The expiry facts of ``expires_at`` at wall-clock time ``now``."""
        if expires_at is None:
            return cls(None, None, False, False, False)
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=_dt.UTC)
        left = int(expires_at.timestamp() - now)
        return cls(expires_at, left, left < 0, 0 <= left <= threshold, True)
