"""File change events for a directory tree, by comparing snapshots taken every ~0.2 s.

A snapshot walks the tree by descriptors (:func:`~.walk.walk_tree`: never through a symlink,
never out of the tree, bounded in entries); it is blocking work, which the caller runs in a
worker thread. A tree so big that one snapshot takes long is scanned less often (at most a
third of the time is spent scanning), so a watcher never keeps a core busy.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio

from .errors import SandboxFault
from .paths import Base, open_beneath, rfc3339, wire_text
from .walk import walk_tree

__all__ = ["MAX_WATCHED_ENTRIES", "Snapshot", "changes_between", "snapshot", "watch_tree"]

#: Entries beyond this many are not watched (keeps a scan of a huge tree bounded).
MAX_WATCHED_ENTRIES = 50_000

#: sandbox path -> (device, inode, size, mtime_ns, is_directory)
Snapshot = dict[str, tuple[int, int, int, int, bool]]


def snapshot(base: Base, parts: list[str], sandbox: str) -> Snapshot:
    """Every entry below the directory ``base/parts`` (symlinks not followed), keyed by
    sandbox path; empty if the directory is gone (or was swapped for a symlink)."""
    try:
        fd = open_beneath(base, parts, sandbox=sandbox)
    except (SandboxFault, OSError):
        return {}
    found: Snapshot = {}
    prefix = sandbox.rstrip("/")
    try:
        for relative, info in walk_tree(fd, limit=MAX_WATCHED_ENTRIES):
            is_dir = stat.S_ISDIR(info.st_mode)
            key = wire_text(f"{prefix}/{relative}")
            found[key] = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, is_dir)
    finally:
        os.close(fd)
    return found


def changes_between(before: Snapshot, after: Snapshot) -> list[tuple[str, str]]:
    """(event, sandbox path) pairs turning ``before`` into ``after``.

    A path that vanished while a new one appeared with the same inode is a rename, reported
    as two ``renamed`` events: the old path, then the new one.
    """
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    new_by_inode = {after[path][:2]: path for path in new}
    events: list[tuple[str, str]] = []
    renamed_to: set[str] = set()
    for path in gone:
        target = new_by_inode.get(before[path][:2])
        if target is not None and target not in renamed_to:
            renamed_to.add(target)
            events += [("renamed", path), ("renamed", target)]
        else:
            events.append(("deleted", path))
    events += [("created", path) for path in new if path not in renamed_to]
    for path in sorted(set(before) & set(after)):
        old, current = before[path], after[path]
        if current[4] or old[4]:
            continue
        if old != current:
            events.append(("modified", path))
    return events


def watch_tree(
    first: Snapshot, take: Callable[[], Awaitable[Snapshot]], *, interval: float = 0.2
) -> AsyncGenerator[dict[str, str], None]:
    """Yield ``{"path", "event", "timestamp"}`` for each change after ``first``, forever.

    ``take`` takes the next snapshot (off the event loop). Stops cleanly when the consumer
    closes the iterator (``aclose``) or is cancelled.
    """
    return _changes(first, take, interval)


async def _changes(
    before: Snapshot, take: Callable[[], Awaitable[Snapshot]], interval: float
) -> AsyncGenerator[dict[str, str], None]:
    pause = interval
    while True:
        await anyio.sleep(pause)
        started = anyio.current_time()
        after = await take()
        pause = max(interval, 2 * (anyio.current_time() - started))
        stamp = rfc3339(time.time())
        for event, path in changes_between(before, after):
            yield {"path": path, "event": event, "timestamp": stamp}
        before = after
