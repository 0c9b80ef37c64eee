"""What every backend of :class:`hopx_proto.aio.Backend` shares, whatever drives it.

The pieces that do not depend on the event loop: the verifying TLS context, whether a socket
would not block on a read, the wall clock, randomness and the process environment, and the
order of a connection's steps (TCP, then TLS over it). ``hopx_trio`` and ``hopx_asyncio`` (and
a blocking backend) inherit :class:`BackendBase` and add what their loop does differently:
connecting, sleeping, deadlines, locks and worker threads.
"""

from __future__ import annotations

import os
import select
import ssl
import time
from collections.abc import Mapping
from typing import Any

from hopx_proto import NetworkError

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

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> Any:
        """A TCP connection to ``host:port`` from :meth:`open_tcp`, with TLS over it from
        ``start_tls`` if ``tls`` (an ``ssl.SSLContext``), checking ``server_hostname``
        (``host`` when ``None``).

        Raises:
            NetworkError: the connection or the TLS handshake failed (``request_sent=False``),
                or ``tls`` is not an ``ssl.SSLContext`` (then nothing is opened).
        """
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise NetworkError("TLS needs an ssl.SSLContext", request_sent=False)
        stream = await self.open_tcp(host, port)
        if tls is None:
            return stream
        return await self.start_tls(stream, tls=tls, server_hostname=server_hostname or host)

    async def open_tcp(self, host: str, port: int) -> Any:
        """A plain TCP connection to ``host:port`` (a backend that uses :meth:`connect_tcp`
        provides it).

        Raises:
            NetworkError: the connection failed (``request_sent=False``).
        """
        raise NotImplementedError

    async def start_tls(self, stream: Any, *, tls: object, server_hostname: str) -> Any:
        """TLS with ``tls`` over the connected ``stream``, checking ``server_hostname`` (each
        backend provides it).

        Raises:
            NetworkError: the handshake failed.
        """
        raise NotImplementedError

    def default_tls(self) -> object:
        """The shared verifying TLS client context (an ``ssl.SSLContext``)."""
        return default_tls()

    def wall_clock(self) -> float:
        """Seconds since the epoch (token expiry, HTTP dates)."""
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        """``count`` cryptographically random bytes (what ``secrets.token_bytes`` returns)."""
        return os.urandom(count)
