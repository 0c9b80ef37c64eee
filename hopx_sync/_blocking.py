"""Blocking methods made from the async ones, without a second copy of their code.

:func:`blocking` turns an async method of :mod:`hopx_proto.aio` into a plain method of a
wrapper class that holds the async object as ``_inner``: the call checks that no event loop
runs in this thread, then drives the coroutine to its end (:func:`~hopx_sync._driver.run`).
The docstring and the signature are the async method's own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from ._driver import check_no_running_loop, run

__all__ = ["blocking", "call"]

P = ParamSpec("P")
R = TypeVar("R")


def call(what: str, coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` now, refusing to do so inside a running event loop (``what`` names the
    method in that error)."""
    try:
        check_no_running_loop(what)
    except BaseException:
        coro.close()
        raise
    return run(coro)


def blocking(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Any, P], R]:
    """A blocking method calling the async ``method`` of the wrapped ``_inner`` object."""
    name = method.__name__
    label = method.__qualname__.replace("Async", "", 1)

    @functools.wraps(method)
    def sync_method(self: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        check_no_running_loop(label)
        coro: Coroutine[Any, Any, R] = getattr(self._inner, name)(*args, **kwargs)
        return run(coro)

    return cast("Callable[Concatenate[Any, P], R]", sync_method)
