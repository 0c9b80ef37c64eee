"""What every backend of :class:`hopx_proto.aio.Backend` shares, whatever drives it.

The pieces that do not depend on the event loop: the verifying TLS context, whether a socket
would not block on a read, the wall clock, randomness and the process environment. ``hopx_trio``
and ``hopx_asyncio`` (and a blocking backend) inherit :class:`BackendBase` and add what their
loop does differently: connecting, sleeping, deadlines, locks and worker threads.
"""

from __future__ import annotations

import os
import select
import ssl
import time
from collections.abc import Mapping

__all__ = ["MAX_CHUNK", "BackendBase", "default_tls", "socket_is_readable"]

#: The most one read hands out: below the size at which the C allocator maps (and page-faults)
#: fresh memory for every object.
MAX_CHUNK = 120 << 10

_default_tls: ssl.SSLContext | None = None


def default_tls() -> ssl.SSLContext:
    """The process-wide TLS client context: verifies certificates and host names against the
    system's trust store (made on first use, then shared)."""
    global _default_tls
    if _default_tls is None:
        _default_tls = ssl.create_default_context()
    return _default_tls


def socket_is_readable(fd: int) -> bool:
    """Whether reading ``fd`` would not block: data, EOF or an error is waiting.

    A closed descriptor (``fd < 0``) counts as readable: there is nothing to wait for on it.
    Used to spot a pooled connection the server closed while it was idle.
    """
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class BackendBase:
    """The loop-independent half of a backend.

    Args:
        environ: the mapping read for ``HOPX_API_KEY``, ``HOPX_BASE_URL`` and proxy
            variables; ``os.environ`` when ``None``.
    """

    #: "trio", "asyncio", ...: used in logs and the user agent.
    name: str

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def default_tls(self) -> object:
        """The shared verifying TLS client context (an ``ssl.SSLContext``)."""
        return default_tls()

    def wall_clock(self) -> float:
        """Seconds since the epoch (token expiry, HTTP dates)."""
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        """``count`` cryptographically random bytes (what ``secrets.token_bytes`` returns)."""
        return os.urandom(count)
