"""What the async client needs from an event loop, as a small protocol.

The client in :mod:`hopx_proto.aio` is written once against :class:`Backend`; ``hopx_trio`` and
``hopx_asyncio`` implement it with trio and with asyncio. Everything impure lives behind it: sockets
and TLS, sleeping, deadlines (cancel scopes), locks, clocks, randomness, the process
environment (for proxies) and blocking calls run in a worker thread (local files).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = ["Backend", "ByteStream", "CancelScope", "Deadline", "LockLike"]

T = TypeVar("T")


class ByteStream(Protocol):
    """A connected, bidirectional byte stream (TCP, possibly with TLS on top).

    ``timeout`` bounds one call: past it, the call raises :class:`hopx_proto.TimeoutError`
    and the stream is left for the caller to close. A stream bounds its own waits (a timer
    on the one future it waits for, say) rather than cancelling the task, which is cheaper
    than a cancel scope around every read and never touches an enclosing scope.
    """

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Write all of ``data`` within ``timeout`` seconds (``None``: no bound).

        Raises:
            NetworkError: the connection failed.
            TimeoutError: the write took longer than ``timeout``.
        """
        ...

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Read up to ``max_bytes``, waiting ``timeout`` seconds at most (``None``: no bound);
        ``b""`` once the peer closed its side.

        Raises:
            NetworkError: the connection failed.
            TimeoutError: nothing arrived within ``timeout``.
        """
        ...

    async def aclose(self) -> None:
        """Close the stream (idempotent)."""
        ...

    def is_stale(self) -> bool:
        """Whether an idle connection can no longer carry a request: the peer closed or reset
        it, or sent bytes nobody asked for (reading would not block). Checked before a pooled
        connection is reused, since servers close idle keep-alive connections on their own
        schedule."""
        ...


class CancelScope(Protocol):
    """The value of a deadline context: did the deadline cut the block short?"""

    @property
    def cancelled_caught(self) -> bool:
        """Whether the deadline passed and ended the block early."""
        ...


class Deadline(Protocol):
    """A deadline context (a cancel scope): it may swallow its own cancellation."""

    def __enter__(self) -> CancelScope: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool: ...


class LockLike(Protocol):
    """A lock or semaphore, used as ``async with``."""

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None: ...


class Backend(Protocol):
    """The capabilities of one event-loop library.

    Errors: ``connect_tcp`` raises :class:`hopx_proto.NetworkError` (``request_sent=False``)
    for refused/unreachable/DNS/TLS failures; stream reads and writes raise
    :class:`hopx_proto.NetworkError` for resets and broken pipes. Deadlines cancel the block
    and report it through :attr:`CancelScope.cancelled_caught`; the client turns that into
    :class:`hopx_proto.TimeoutError`.
    """

    #: "trio" or "asyncio"; used in logs and the user agent.
    name: str
    #: The process environment (proxy variables, HOPX_API_KEY, HOPX_BASE_URL).
    environ: Mapping[str, str]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        tls: object | None,
        server_hostname: str | None,
    ) -> ByteStream:
        """A TCP connection to ``host`` and ``port`` (IPv4 or IPv6, whichever resolves),
        wrapped in TLS if ``tls`` (an ``ssl.SSLContext``) checking ``server_hostname``."""
        ...

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        """TLS with ``tls`` (an ``ssl.SSLContext``) over the connected ``stream``, checking
        ``server_hostname`` (used through an HTTP proxy tunnel)."""
        ...

    def default_tls(self) -> object:
        """A TLS client context that verifies certificates and host names."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``."""
        ...

    def move_on_after(self, seconds: float | None) -> Deadline:
        """Cancel the block after ``seconds`` (``None``: no deadline)."""
        ...

    def shielded(self, seconds: float) -> Deadline:
        """Protect cleanup from outer cancellation, but give up after ``seconds``."""
        ...

    def lock(self) -> LockLike:
        """A new lock."""
        ...

    def semaphore(self, value: int) -> LockLike:
        """A new semaphore of ``value`` slots."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, idle expiry)."""
        ...

    def wall_clock(self) -> float:
        """Seconds since the epoch (token expiry, HTTP dates)."""
        ...

    def random_bytes(self, count: int) -> bytes:
        """``count`` cryptographically random bytes (multipart boundaries, jitter, WebSocket
        keys)."""
        ...

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread (local file I/O); its result."""
        ...
