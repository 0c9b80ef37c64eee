"""The asyncio implementation of :class:`hopx_proto.aio.Backend`, on asyncio alone.

Connections are asyncio's own transports (:mod:`hopx_asyncio._stream`); deadlines are
:class:`Deadline` scopes that cancel the task and swallow their own cancellation; locks,
sleeping and worker threads are asyncio's.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from hopx_io import BackendBase
from hopx_proto import NetworkError
from hopx_proto.aio import ByteStream, LockLike

from ._stream import AsyncioByteStream, open_stream

__all__ = ["AsyncioBackend", "Deadline"]

T = TypeVar("T")

#: The scopes each task is inside, innermost last.
_SCOPES: weakref.WeakKeyDictionary[asyncio.Task[Any], list[Deadline]] = weakref.WeakKeyDictionary()


class Deadline:
    """A cancel scope for asyncio: past its deadline, the task is cancelled and the scope
    swallows that one cancellation (:attr:`cancelled_caught` then says so).

    A ``shield`` scope keeps the deadlines of the scopes around it out (their cancellation is
    delivered once it ends, if their block is still running), like a shielded cancel scope of
    trio. Cancellation from outside (``task.cancel()``, ``asyncio.timeout``) is not held back:
    asyncio has no way to refuse it, so it goes through as usual.

    Args:
        seconds: the deadline, from entering the block (``None``: none).
        shield: hold back the deadlines of enclosing scopes.
    """

    def __init__(self, seconds: float | None, *, shield: bool = False) -> None:
        self.seconds = seconds
        self.shield = shield
        self.cancelled_caught = False
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._cancelling = 0
        self._fired = False  # this scope cancelled the task
        self._due = False  # the deadline passed while a shield inside held it back
        self._active = False

    def __enter__(self) -> Deadline:
        if self.seconds is None and not self.shield:
            return self  # nothing to do: no deadline, and nothing held back
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
        self._active = True
        _SCOPES.setdefault(task, []).append(self)
        if self.seconds is not None:
            loop = task.get_loop()
            self._timer = loop.call_at(loop.time() + self.seconds, self._expire)
        return self

    def _expire(self) -> None:
        task = self._task
        if not self._active or self._fired or task is None:
            return
        stack = _SCOPES.get(task, [])
        inner = stack[stack.index(self) + 1 :]
        if any(scope.shield for scope in inner):
            self._due = True
            return
        self._fired = True
        task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        task = self._task
        if task is None:
            return False  # an inert scope (see __enter__)
        self._active = False
        if self._timer is not None:
            self._timer.cancel()
        stack = _SCOPES.get(task, [])
        position = stack.index(self)
        del stack[position]
        if self.shield:
            # Deadlines held back while this shield ran are delivered when the task next waits.
            loop = task.get_loop()
            for scope in stack[:position]:
                if scope._due:
                    scope._due = False
                    loop.call_soon(scope._expire)
        if self._fired:
            # Ours, unless someone else asked to cancel the task too: then it goes on.
            only_ours = task.uncancel() <= self._cancelling
            if only_ours and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                self.cancelled_caught = True
                return True
        return False


async def _finish(future: asyncio.Future[T]) -> T:
    """The result of ``future``, waiting for it even if the caller is cancelled meanwhile (a
    worker thread cannot be stopped half-way); the cancellation is raised afterwards."""
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return future.result()


class AsyncioBackend(BackendBase):
    """Sockets, TLS, deadlines and locks from asyncio (``environ`` as for
    :class:`hopx_io.BackendBase`)."""

    name = "asyncio"

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``."""
        await asyncio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> Deadline:
        """A scope that ends its block after ``seconds`` (``None``: never)."""
        return Deadline(seconds)

    def shielded(self, seconds: float) -> Deadline:
        """A scope that holds back enclosing deadlines and gives up after ``seconds``."""
        return Deadline(seconds, shield=True)

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        """A TCP connection to ``host:port`` (racing its addresses), with TLS if ``tls``,
        checking ``server_hostname`` (``host`` when ``None``).

        Raises:
            NetworkError: the connection or the TLS handshake failed (``request_sent=False``),
                or ``tls`` is not an ``ssl.SSLContext``.
        """
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise NetworkError("TLS needs an ssl.SSLContext", request_sent=False)
        return await open_stream(host, port, tls=tls, server_hostname=server_hostname)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        """TLS with ``tls`` (an ``ssl.SSLContext``) over the connected ``stream``, checking
        ``server_hostname``.

        Raises:
            NetworkError: the handshake failed, or the arguments are not an asyncio stream
                and an ``ssl.SSLContext`` (the stream is closed).
        """
        if not isinstance(stream, AsyncioByteStream) or not isinstance(tls, ssl.SSLContext):
            await stream.aclose()
            raise NetworkError(
                "TLS needs an asyncio stream and an ssl.SSLContext", request_sent=False
            )
        return await stream.start_tls(tls, server_hostname)

    # asyncio's own primitives: an uncontended acquire returns without a loop turn.

    def lock(self) -> LockLike:
        """An ``asyncio.Lock``."""
        return asyncio.Lock()

    def semaphore(self, value: int) -> LockLike:
        """An ``asyncio.Semaphore`` of ``value`` slots."""
        return asyncio.Semaphore(value)

    def monotonic(self) -> float:
        """The event loop's clock (the one its timers use)."""
        return asyncio.get_running_loop().time()

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the loop's default thread pool; a cancelled caller waits for it
        to finish, then sees the cancellation."""
        loop = asyncio.get_running_loop()
        return await _finish(loop.run_in_executor(None, functools.partial(fn, *args)))
