"""A blocking implementation of :class:`hopx_proto.aio.Backend`: every awaitable it returns
completes without suspending.

Sockets are non-blocking underneath and waited on with ``poll`` until the nearest deadline, so
one read costs one ``recv`` when data is there. Deadlines (``move_on_after``) are scopes on a
per-thread stack: a wait that reaches the deadline of an enclosing scope raises
:class:`Cancelled`, which only that scope swallows (its ``cancelled_caught`` then says so), as
a cancel scope of trio does. A ``shielded`` scope hides the deadlines of the scopes around it.
Locks are :mod:`threading` locks; ``run_sync`` calls the function in the calling thread. No
thread is ever started.
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from hopx_io import MAX_CHUNK, BackendBase, socket_is_readable
from hopx_proto import NetworkError, TimeoutError
from hopx_proto.aio import ByteStream, LockLike

__all__ = ["BlockingBackend", "BlockingByteStream", "Cancelled", "Scope"]

T = TypeVar("T")

_local = threading.local()


def _stack() -> list[Scope]:
    stack: list[Scope] | None = getattr(_local, "scopes", None)
    if stack is None:
        stack = _local.scopes = []
    return stack


class Cancelled(BaseException):
    """A deadline of an enclosing :class:`Scope` passed; only that scope catches it.

    Args:
        scope: the scope whose deadline passed.
    """

    def __init__(self, scope: Scope) -> None:
        super().__init__("the deadline of an enclosing scope passed")
        self.scope = scope


class Scope:
    """A deadline for the block it encloses, in the calling thread.

    Args:
        seconds: the deadline, from entering the block (``None``: none).
        shield: hide the deadlines of the enclosing scopes while the block runs.
    """

    def __init__(self, seconds: float | None, *, shield: bool = False) -> None:
        self.seconds = seconds
        self.shield = shield
        self.deadline: float | None = None
        self.cancelled_caught = False

    def __enter__(self) -> Scope:
        if self.seconds is not None:
            self.deadline = time.monotonic() + self.seconds
        _stack().append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        stack = _stack()
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is self:
                del stack[index]
                break
        if isinstance(exc, Cancelled) and exc.scope is self:
            self.cancelled_caught = True
            return True
        return False


def _nearest() -> Scope | None:
    """The enclosing scope whose deadline comes first (up to the innermost shield)."""
    best: Scope | None = None
    for scope in reversed(_stack()):
        if scope.deadline is not None and (best is None or scope.deadline < best.deadline):  # type: ignore[operator]
            best = scope
        if scope.shield:
            break
    return best


def _bound(timeout: float | None) -> tuple[float | None, Scope | None]:
    """The absolute deadline of a wait bounded by ``timeout`` seconds and by the enclosing
    scopes, and the scope that sets it (``None`` when ``timeout`` comes first).

    Raises:
        Cancelled: a scope's deadline has already passed (a checkpoint, as in trio).
    """
    now = time.monotonic()
    scope = _nearest()
    own = None if timeout is None else now + timeout
    if scope is None or scope.deadline is None:
        return own, None
    if scope.deadline <= now:
        raise Cancelled(scope)
    if own is not None and own <= scope.deadline:
        return own, None
    return scope.deadline, scope


def checkpoint() -> None:
    """Raise :class:`Cancelled` if an enclosing scope's deadline has passed."""
    _bound(None)


def _wait(sock: socket.socket, events: int, end: float | None) -> bool:
    """Wait until ``sock`` is ready for ``events`` or ``end`` (monotonic) passes; whether it
    is ready."""
    poller = select.poll()
    poller.register(sock.fileno(), events)
    while True:
        if end is None:
            wait_ms = -1
        else:
            left = end - time.monotonic()
            if left <= 0:
                return False
            wait_ms = max(1, int(left * 1000 + 0.999))
        if poller.poll(wait_ms):
            return True


_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_WRITE = select.POLLOUT | select.POLLERR | select.POLLHUP


class BlockingByteStream:
    """A connected socket (maybe TLS) as a :class:`hopx_proto.aio.ByteStream` whose calls
    block the thread until done (or until the deadline); EOF is ``b""``, resets are
    :class:`NetworkError`.

    Args:
        sock: the connected socket (set to non-blocking here).
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._closed = False
        # A write went out since the last read: the reply cannot be there yet, so the next
        # read waits first rather than trying a recv bound to fail.
        self._wrote = False

    def _lost(self, doing: str, exc: BaseException) -> NetworkError:
        error = NetworkError(f"connection lost while {doing}: {exc!r}")
        error.__cause__ = exc
        return error

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Write all of ``data`` within ``timeout`` seconds (``None``: no bound).

        Raises:
            NetworkError: the connection failed.
            TimeoutError: the write took longer than ``timeout``.
        """
        if self._closed:
            raise NetworkError("connection lost while sending: the connection is closed")
        end, scope = _bound(timeout)
        view = memoryview(data)
        sock = self.sock
        try:
            while view:
                try:
                    sent = sock.send(view)
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    if not _wait(sock, _WRITE, end):
                        if scope is not None:
                            raise Cancelled(scope) from None
                        raise TimeoutError(
                            f"sending took longer than {timeout:g} s", request_sent=False
                        ) from None
                    continue
                view = view[sent:]
        except (OSError, ssl.SSLError) as exc:
            raise self._lost("sending", exc) from exc
        finally:
            view.release()
        self._wrote = True

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Up to ``max_bytes`` bytes, waiting ``timeout`` seconds at most (``None``: no
        bound); ``b""`` once the peer closed its side.

        Raises:
            NetworkError: the connection failed.
            TimeoutError: nothing arrived within ``timeout``.
        """
        if self._closed:
            raise NetworkError("connection lost while receiving: the connection is closed")
        end, scope = _bound(timeout)
        sock = self.sock
        size = min(max_bytes, MAX_CHUNK)
        if self._wrote:
            self._wrote = False
            if not isinstance(sock, ssl.SSLSocket) or not sock.pending():
                self._wait_readable(end, scope, timeout)
        while True:
            try:
                return sock.recv(size)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except ssl.SSLZeroReturnError:
                return b""
            except (OSError, ssl.SSLError) as exc:
                if isinstance(exc, ssl.SSLEOFError):
                    return b""
                raise self._lost("receiving", exc) from exc
            self._wait_readable(end, scope, timeout)

    def _wait_readable(self, end: float | None, scope: Scope | None, timeout: float | None) -> None:
        if not _wait(self.sock, _READ, end):
            if scope is not None:
                raise Cancelled(scope)
            raise TimeoutError(f"nothing received within {timeout:g} s")

    def is_stale(self) -> bool:
        """Whether the idle connection was closed or reset by the peer, or has unread bytes."""
        if self._closed:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        return socket_is_readable(self.sock.fileno())

    async def aclose(self) -> None:
        """Close the socket at once (idempotent)."""
        if not self._closed:
            self._closed = True
            self.sock.close()

    def abort(self) -> None:
        """Close the socket now (for a collected, unclosed client): the same as closing."""
        if not self._closed:
            self._closed = True
            self.sock.close()


def _handshake(sock: ssl.SSLSocket, end: float | None, scope: Scope | None, name: str) -> None:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            ready = _wait(sock, _READ, end)
        except ssl.SSLWantWriteError:
            ready = _wait(sock, _WRITE, end)
        except (OSError, ssl.SSLError) as exc:
            raise NetworkError(
                f"TLS handshake with {name} failed: {exc}", request_sent=False
            ) from exc
        if not ready:
            if scope is not None:
                raise Cancelled(scope)
            raise NetworkError(f"TLS handshake with {name} timed out", request_sent=False)


def _connect(host: str, port: int, end: float | None, scope: Scope | None) -> socket.socket:
    """A connected non-blocking socket: each resolved address in turn until one connects."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise NetworkError(f"cannot connect to {host}:{port}: {exc}", request_sent=False) from exc
    errors: list[str] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex(address)
            if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                if not _wait(sock, _WRITE, end):
                    if scope is not None:
                        raise Cancelled(scope)
                    raise TimeoutError(f"connecting to {host}:{port} timed out", request_sent=False)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                return sock
            errors.append(f"{address[0]}: {errno.errorcode.get(code, code)}")
        except BaseException:
            sock.close()
            raise
        sock.close()
    raise NetworkError(
        f"cannot connect to {host}:{port}: " + ("; ".join(errors) or "no address"),
        request_sent=False,
    )


class _Slots:
    """A semaphore of ``value`` slots: a plain lock guards the count, and a condition is
    waited on only when no slot is free (``threading.Semaphore`` takes its condition on
    every acquire and release, which a request pays twice)."""

    def __init__(self, value: int) -> None:
        self._lock = threading.Lock()
        self._free = value
        self._released = threading.Condition(self._lock)
        self._waiting = 0

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        with self._lock:
            if self._free:
                self._free -= 1
                return True
            if not blocking:
                return False
            self._waiting += 1
            try:
                if not self._released.wait_for(lambda: self._free > 0, timeout):
                    return False
            finally:
                self._waiting -= 1
            self._free -= 1
            return True

    def release(self) -> None:
        with self._lock:
            self._free += 1
            if self._waiting:
                self._released.notify()


class _Lock:
    """A :mod:`threading` lock or semaphore as ``async with``; waiting for it honours the
    enclosing deadlines."""

    def __init__(self, inner: threading.Lock | _Slots) -> None:
        self._inner = inner

    async def __aenter__(self) -> None:
        if self._inner.acquire(blocking=False):
            return
        end, scope = _bound(None)
        if end is None:
            self._inner.acquire()
            return
        if not self._inner.acquire(timeout=max(0.0, end - time.monotonic())):
            assert scope is not None
            raise Cancelled(scope)

    async def __aexit__(self, *exc: object) -> None:
        self._inner.release()


class BlockingBackend(BackendBase):
    """Blocking sockets, TLS, deadlines and locks for the synchronous API (``environ`` as
    for :class:`hopx_io.BackendBase`). Every call completes before it returns: nothing it
    returns ever suspends a coroutine."""

    name = "sync"

    async def open_tcp(self, host: str, port: int) -> BlockingByteStream:
        """A TCP connection to ``host:port`` (each resolved address, IPv4 or IPv6, in turn);
        :meth:`connect_tcp` (of :class:`hopx_io.BackendBase`) adds TLS.

        Raises:
            NetworkError: the connection failed (``request_sent=False``).
        """
        end, scope = _bound(None)
        return BlockingByteStream(_connect(host, port, end, scope))

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        """TLS with ``tls`` (an ``ssl.SSLContext``) over the connected ``stream``, checking
        ``server_hostname``.

        Raises:
            NetworkError: the handshake failed (the stream is closed), or the arguments are
                not a blocking stream and an ``ssl.SSLContext``.
        """
        if not isinstance(stream, BlockingByteStream) or not isinstance(tls, ssl.SSLContext):
            await stream.aclose()
            raise NetworkError(
                "TLS needs a blocking stream and an ssl.SSLContext", request_sent=False
            )
        try:
            end, scope = _bound(None)
            wrapped = tls.wrap_socket(
                stream.sock, server_hostname=server_hostname, do_handshake_on_connect=False
            )
        except BaseException:
            await stream.aclose()
            raise
        try:
            _handshake(wrapped, end, scope, server_hostname)
        except BaseException:
            wrapped.close()
            raise
        return BlockingByteStream(wrapped)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (less if an enclosing deadline comes first, which then
        cancels)."""
        end, scope = _bound(seconds)
        if end is not None:
            time.sleep(max(0.0, end - time.monotonic()))  # noqa: ASYNC251  (it blocks: by design)
        if scope is not None:
            raise Cancelled(scope)

    def move_on_after(self, seconds: float | None) -> Scope:
        """A scope that ends its block after ``seconds`` (``None``: never)."""
        return Scope(seconds)

    def shielded(self, seconds: float) -> Scope:
        """A scope that hides enclosing deadlines and gives up after ``seconds``."""
        return Scope(seconds, shield=True)

    def lock(self) -> LockLike:
        """A ``threading.Lock``."""
        return _Lock(threading.Lock())

    def semaphore(self, value: int) -> LockLike:
        """A semaphore of ``value`` slots for threads."""
        return _Lock(_Slots(value))

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, called in the calling thread (the caller blocks anyway)."""
        checkpoint()
        return fn(*args)
