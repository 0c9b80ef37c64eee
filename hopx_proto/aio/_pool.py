"""Connection-pool bookkeeping: which idle connection to reuse, which have expired.

Pure: it holds connection objects of any type and takes ``now`` as an argument. The transport
owns the I/O (opening, closing) and asks the pool what to do. A connection is only ever put
back after a request/response cycle completed cleanly; anything cancelled or failed half-way is
discarded by the transport and never returned here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from .._errors import LocalProtocolError
from .._value import Value

__all__ = ["ConnectionPool", "PoolKey", "PoolLimits"]

C = TypeVar("C")

#: (scheme, host, port)
PoolKey = tuple[str, str, int]


@attrs.frozen(repr=False, eq=False, slots=False)
class PoolLimits(Value):
    """Pool sizes and lifetimes.

    Attributes:
        max_per_host: connections open at once to one (scheme, host, port).
        max_idle_per_host: idle connections kept for reuse per host.
        idle_expiry: seconds an idle connection may wait before it is closed.
    """

    max_per_host: int = 10
    max_idle_per_host: int = 5
    idle_expiry: float = 15.0

    def __attrs_post_init__(self) -> None:
        if self.max_per_host < 1 or self.max_idle_per_host < 0 or self.idle_expiry < 0:
            raise LocalProtocolError(f"invalid pool limits: {self!r}")


class _Idle(Generic[C]):
    """An idle connection and the instant it was handed back."""

    __slots__ = ("conn", "since")

    def __init__(self, conn: C, since: float) -> None:
        self.conn = conn
        self.since = since


class ConnectionPool(Generic[C]):
    """Idle connections per key, most recently used first, with idle expiry.

    Pure bookkeeping: the caller passes ``now`` (a monotonic clock) and closes what it is
    handed back. A key is ``(scheme, host, port)``.

    Args:
        limits: pool sizes and idle expiry (the defaults when ``None``).
    """

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self.limits = limits or PoolLimits()
        self._idle: dict[PoolKey, list[_Idle[C]]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (check-ins are refused from then on)."""
        return self._closed

    def idle_count(self, key: PoolKey | None = None) -> int:
        """Idle connections for ``key`` (all keys when ``None``)."""
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(v) for v in self._idle.values())

    def checkout(self, key: PoolKey, now: float) -> tuple[C | None, list[C]]:
        """An idle connection for ``key`` to reuse (or ``None``), and the ones expired at
        ``now`` to close."""
        if self._closed:
            raise LocalProtocolError("the connection pool is closed")
        expired = self.expire(now)
        entries = self._idle.get(key)
        if not entries:
            return None, expired
        entry = entries.pop()
        if not entries:
            del self._idle[key]
        return entry.conn, expired

    def checkin(self, key: PoolKey, conn: C, now: float) -> list[C]:
        """Give back the clean connection ``conn`` for ``key`` at ``now``; the connections
        to close instead (over the limits, or all once the pool is closed)."""
        if self._closed:
            return [conn]
        entries = self._idle.setdefault(key, [])
        entries.append(_Idle(conn, now))
        overflow: list[C] = []
        while len(entries) > self.limits.max_idle_per_host:
            overflow.append(entries.pop(0).conn)
        if not entries:
            del self._idle[key]
        return overflow + self.expire(now)

    def expire(self, now: float) -> list[C]:
        """Remove and return every idle connection idle for longer than ``idle_expiry`` at
        ``now``."""
        out: list[C] = []
        for key in list(self._idle):
            keep = []
            for entry in self._idle[key]:
                if now - entry.since >= self.limits.idle_expiry:
                    out.append(entry.conn)
                else:
                    keep.append(entry)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        return out

    def close(self) -> list[C]:
        """Close the pool; every idle connection, to be closed by the caller."""
        self._closed = True
        out = [e.conn for entries in self._idle.values() for e in entries]
        self._idle.clear()
        return out
