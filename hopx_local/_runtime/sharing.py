"""Long work in a worker thread lets the event loop's thread run, often.

CPython hands its interpreter lock to a waiting thread only every few milliseconds (the
switch interval) while another thread computes; the event loop needs the lock a dozen times
to answer one request, so a worker looping over 100,000 directory entries would make every
other sandbox's reply wait a dozen switch intervals. A worker that gives the lock up itself
(``time.sleep(0)``) every few hundred steps lets the loop in within a fraction of a
millisecond instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["EVERY", "let_others_run", "sharing"]

T = TypeVar("T")

#: Steps of work between two hand-overs of the interpreter (a step is a directory entry, a
#: few hundred list items encoded, a megabyte of text).
EVERY = 128


def let_others_run() -> None:
    """Give the interpreter lock to a thread waiting for it, if any (returns at once)."""
    time.sleep(0)


def sharing(items: Iterable[T], every: int = EVERY) -> Iterator[T]:
    """``items``, handing the interpreter to other threads every ``every`` items."""
    for index, item in enumerate(items, 1):
        if index % every == 0:
            time.sleep(0)
        yield item
