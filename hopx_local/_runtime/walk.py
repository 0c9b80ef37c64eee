"""Walking a sandbox's directory tree by descriptors, one open directory at a time.

Sandboxed code may change its tree while the server walks it: swap a directory for a symlink,
move a directory elsewhere, nest directories thousands deep, or keep adding files. A walk here
holds one directory descriptor (however deep the tree), opens every child with
``O_NOFOLLOW`` relative to its parent, and climbs back through ``..`` only after checking that
it lands on the very directory it came from, so it never leaves the tree it started in. It is
iterative (no recursion limit) and gives up, with :class:`TreeChanged`, on a tree that keeps
changing under it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from types import TracebackType

from .sharing import EVERY, let_others_run

__all__ = ["Cursor", "TreeChanged", "remove_tree", "walk_tree"]

_DOWN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_UP = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: How many times a removal retries an entry that changed type or a directory that refilled.
RETRIES = 64


class TreeChanged(Exception):
    """The tree changed under the walk in a way it cannot follow safely."""


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


class Cursor:
    """One open directory of a walk, and the identities of the directories above it.

    Owns its descriptor; use as a context manager (or call :meth:`close`).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            self._trail = [_identity(os.fstat(fd))]
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def open(cls, parent: int, name: str) -> Cursor:
        """The directory ``name`` of the directory open as ``parent`` (never a symlink)."""
        return cls(os.open(name, _DOWN, dir_fd=parent))

    @property
    def device(self) -> int:
        """The device of the directory the cursor is at."""
        return self._trail[-1][0]

    @property
    def depth(self) -> int:
        """How many levels below the starting directory the cursor is."""
        return len(self._trail) - 1

    def down(self, name: str) -> None:
        """Enter the child directory ``name``; ``OSError`` if it is not one (or is a symlink)."""
        child = os.open(name, _DOWN, dir_fd=self.fd)
        try:
            identity = _identity(os.fstat(child))
        except BaseException:
            os.close(child)
            raise
        os.close(self.fd)
        self.fd = child
        self._trail.append(identity)

    def up(self) -> None:
        """Return to the parent; :class:`TreeChanged` if it is not the directory entered from."""
        if not self.depth:
            raise ValueError("the cursor is at the top of its walk")
        parent = os.open("..", _UP, dir_fd=self.fd)
        try:
            identity = _identity(os.fstat(parent))
        except BaseException:
            os.close(parent)
            raise
        if identity != self._trail[-2]:
            os.close(parent)
            raise TreeChanged("a directory was moved while it was being walked")
        os.close(self.fd)
        self.fd = parent
        self._trail.pop()

    def close(self) -> None:
        """Release the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Cursor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def walk_tree(top: int, *, limit: int) -> Iterator[tuple[str, os.stat_result]]:
    """``(relative path, lstat)`` of every entry below the directory open as ``top``.

    Depth first, at most ``limit`` entries, symlinks reported and never followed. Entries that
    vanish mid-walk are skipped; a directory moved away mid-walk ends the walk early (what was
    seen so far stays valid). ``top`` stays open and owned by the caller.
    """
    count = 0
    with Cursor(os.dup(top)) as cursor:
        levels: list[tuple[str, list[str]]] = [("", _names(cursor.fd))]
        while levels and count < limit:
            if count % EVERY == 0:
                let_others_run()
            prefix, pending = levels[-1]
            if not pending:
                levels.pop()
                if levels:
                    try:
                        cursor.up()
                    except (TreeChanged, OSError):
                        return
                continue
            name = pending.pop()
            try:
                info = os.stat(name, dir_fd=cursor.fd, follow_symlinks=False)
            except OSError:
                continue
            path = f"{prefix}/{name}" if prefix else name
            count += 1
            yield path, info
            if stat.S_ISDIR(info.st_mode):
                try:
                    cursor.down(name)
                except OSError:
                    continue
                levels.append((path, _names(cursor.fd)))


def _names(fd: int) -> list[str]:
    """The names in a directory, in reverse order (so that ``pop()`` walks them in order)."""
    try:
        names = os.listdir(fd)
    except OSError:
        return []
    names.sort(reverse=True)
    return names


def remove_tree(parent: int, name: str) -> int:
    """Remove ``name`` of the directory open as ``parent``, and everything below it.

    Returns how many entries were removed. Symlinks inside are removed, never followed, and
    so are other filesystems mounted inside: a directory on another device than ``parent``
    ends the removal with ``OSError(EBUSY)`` before anything in it is touched. Raises
    :class:`TreeChanged` when the tree keeps changing (entries appearing, directories moved)
    and ``OSError`` for what the filesystem refuses.
    """
    removed = 0
    retries = 0
    with Cursor(os.dup(parent)) as cursor:
        device = cursor.device
        # The starting directory is the one level whose only entry to remove is ``name``.
        levels: list[tuple[str, list[str]]] = [("", [name])]
        steps = 0
        while levels:
            steps += 1
            if steps % EVERY == 0:
                let_others_run()
            current, pending = levels[-1]
            if pending:
                child = pending.pop()
                try:
                    os.unlink(child, dir_fd=cursor.fd)
                except FileNotFoundError:
                    continue
                except IsADirectoryError:
                    pass
                except PermissionError as exc:
                    if exc.errno != errno.EISDIR and not _is_dir_at(cursor.fd, child):
                        raise
                else:
                    removed += 1
                    continue
                try:
                    cursor.down(child)
                except (NotADirectoryError, FileNotFoundError) as exc:
                    retries = _retry(retries, exc)
                    pending.append(child)  # it changed type in between: look again
                    continue
                except OSError as exc:
                    if exc.errno != errno.ELOOP:
                        raise
                    retries = _retry(retries, exc)
                    pending.append(child)
                    continue
                if cursor.device != device:
                    raise OSError(errno.EBUSY, "another filesystem is mounted inside", child)
                levels.append((child, os.listdir(cursor.fd)))
                continue
            levels.pop()
            if not levels:
                break
            cursor.up()
            try:
                os.rmdir(current, dir_fd=cursor.fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
                retries = _retry(retries, exc)
                levels[-1][1].append(current)  # refilled meanwhile: empty it again
                continue
            removed += 1
    return removed


def _retry(retries: int, exc: OSError) -> int:
    if retries >= RETRIES:
        raise TreeChanged("the directory kept changing while it was being removed") from exc
    return retries + 1


def _is_dir_at(directory: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False
