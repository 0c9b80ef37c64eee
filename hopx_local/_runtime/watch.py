"""File change events for a directory tree, by comparing snapshots taken every ~0.2 s."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio
import anyio.to_thread

from .paths import rfc3339

__all__ = ["MAX_WATCHED_ENTRIES", "Snapshot", "changes_between", "snapshot", "watch_tree"]

#: Entries beyond this many are not watched (keeps a scan of a huge tree bounded).
MAX_WATCHED_ENTRIES = 50_000

#: sandbox path -> (device, inode, size, mtime_ns, is_directory)
Snapshot = dict[str, tuple[int, int, int, int, bool]]


def snapshot(host: Path, sandbox: str) -> Snapshot:
    """Every entry below ``host`` (symlinks not followed), keyed by sandbox path."""
    found: Snapshot = {}
    pending = [(str(host), sandbox.rstrip("/"))]
    while pending and len(found) < MAX_WATCHED_ENTRIES:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            path = f"{prefix}/{entry.name}"
            is_dir = stat.S_ISDIR(info.st_mode)
            found[path] = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, is_dir)
            if is_dir:
                pending.append((entry.path, path))
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
    host: Path, sandbox: str, *, interval: float = 0.2
) -> AsyncGenerator[dict[str, str], None]:
    """Yield ``{"path", "event", "timestamp"}`` for each change below a directory, forever.

    Changes count from this call (the first snapshot is taken now, not at the first
    iteration). Stops cleanly when the consumer closes the iterator (``aclose``) or is
    cancelled.
    """
    return _changes(host, sandbox, snapshot(host, sandbox), interval)


async def _changes(
    host: Path, sandbox: str, before: Snapshot, interval: float
) -> AsyncGenerator[dict[str, str], None]:
    while True:
        await anyio.sleep(interval)
        after = await anyio.to_thread.run_sync(snapshot, host, sandbox)
        stamp = rfc3339(time.time())
        for event, path in changes_between(before, after):
            yield {"path": path, "event": event, "timestamp": stamp}
        before = after
