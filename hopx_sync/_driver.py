"""Run the coroutines of :mod:`hopx_proto.aio` to completion in the calling thread.

With :class:`~hopx_sync.BlockingBackend` underneath, no awaitable of the client ever suspends:
one ``send(None)`` runs a coroutine from start to end, and the value comes back with
``StopIteration``. If something does suspend (an awaitable of some event loop got in), the
coroutine is closed and :class:`SuspendedError` says so, rather than hanging or returning
half a result. Async generators (streams) become plain iterators the same way.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from hopx_proto import LocalProtocolError

__all__ = ["BlockingStream", "SuspendedError", "check_no_running_loop", "run"]

T = TypeVar("T")
E = TypeVar("E")


class SuspendedError(LocalProtocolError):
    """A coroutine driven by the synchronous API tried to wait for an event loop.

    Args:
        message: what suspended.
        context: the context fields of :class:`~hopx_proto.HopxError` (``operation``, ...).
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message, **context)


def check_no_running_loop(what: str) -> None:
    """Refuse to block a running event loop: the synchronous API would freeze it.

    Raises:
        LocalProtocolError: ``what`` was called from inside a running asyncio or trio loop;
            the message names the async package to use instead.
    """
    # Asked without raising (this runs before every call): neither loop is imported unless a
    # program uses it, and each says whether it runs in this thread without an exception.
    running = None
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        running = "asyncio"
    trio = sys.modules.get("trio")
    if running is None and trio is not None and trio.lowlevel.in_trio_run():
        running = "trio"
    if running is not None:
        package = "hopx_trio" if running == "trio" else "hopx_asyncio"
        raise LocalProtocolError(
            f"{what} blocks, and was called from inside a running {running} event loop, "
            f"which it would freeze: use `from {package} import AsyncSandbox` and "
            f"`await` its methods there"
        )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro``, run to completion now.

    Raises:
        SuspendedError: the coroutine tried to suspend (it is closed).
        BaseException: whatever the coroutine raised.
    """
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise SuspendedError(
        f"the synchronous API awaited something that suspends ({yielded!r}); "
        "the blocking backend never suspends, so an awaitable of an event loop got in "
        "(an async callback?)"
    )


def _step(awaitable: Any) -> Any:
    """Run one ``__anext__``/``aclose`` awaitable to its end."""
    generator: Generator[Any, None, Any] = awaitable.__await__()
    try:
        yielded = generator.send(None)
    except StopIteration as done:
        return done.value
    generator.close()
    raise SuspendedError(f"a stream of the synchronous API tried to suspend ({yielded!r})")


class BlockingStream(Generic[E]):
    """A stream of the async API as a plain iterator and context manager.

    ``for event in stream`` reads the events; leaving a ``with`` block, calling :meth:`close`,
    or the iterator being garbage-collected closes the WebSocket (which stops the remote
    process).

    Args:
        events: the async stream (an :class:`~hopx_proto.aio.EventStream`).
    """

    def __init__(self, events: AsyncIterator[E]) -> None:
        self._events = events
        self._done = False

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        if self._done:
            raise StopIteration
        try:
            return _step(self._events.__anext__())  # type: ignore[no-any-return]
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and close the connection (idempotent)."""
        if self._done:
            return
        self._done = True
        close = getattr(self._events, "aclose", None)
        if close is not None:
            _step(close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._done:
            try:
                self.close()
            except Exception:  # noqa: BLE001  (nothing to report to at collection time)
                pass
