"""Sandbox paths resolved safely: to host paths (``/workspace/...``, ``/tmp/...``), or inside
the sandbox's own root (see :mod:`.sysroot`).

A sandbox's tree is hostile: any part of it may be swapped for a symlink, a FIFO, a socket or a
device node between two system calls, and names may be any bytes. Paths are resolved the way
the sandbox sees them (a :class:`PathView`: :class:`SandboxPaths` for the two directories the
runtime keeps on the host), then opened through directory descriptors with ``O_NOFOLLOW``
(:func:`open_beneath`); files are opened without blocking and refused unless regular
(:func:`open_regular`). Names go on the wire as valid UTF-8 (:func:`wire_text`).
"""

from __future__ import annotations

import datetime
import errno
import os
import posixpath
import stat
from pathlib import Path
from typing import Protocol

import attrs

from .errors import SandboxFault, fault
from .isolation import SandboxLayout

__all__ = [
    "MAX_SYMLINK_HOPS",
    "MOUNTS",
    "NAME_MAX",
    "PATH_MAX",
    "Base",
    "PathView",
    "SandboxPaths",
    "checked_path",
    "checked_names",
    "first_link",
    "is_symlink_at",
    "kind_of",
    "not_regular",
    "open_base",
    "open_beneath",
    "open_regular",
    "rfc3339",
    "stat_at",
    "wire_text",
]

#: Sandbox directories backed by host directories of the sandbox root.
MOUNTS = ("/workspace", "/tmp")
#: The longest file name (in bytes) and the longest sandbox path the filesystem takes.
NAME_MAX = 255
PATH_MAX = 4095
#: How many symbolic links one path may go through (as the kernel's ELOOP limit).
MAX_SYMLINK_HOPS = 40

#: Where a walk starts: a host directory, or a directory descriptor (a sandbox's root).
Base = Path | int

#: The earliest and latest instants a timestamp is shown as (years 1 and 9999).
_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC).timestamp()
_LATEST = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC).timestamp()

#: What each file type is called in error messages and details.
_KINDS = (
    (stat.S_ISREG, "regular file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def rfc3339(timestamp: float) -> str:
    """An RFC 3339 UTC timestamp with second precision, e.g. ``2025-01-01T00:00:00Z``.

    Times a file can carry but a calendar cannot show (before year 1, after 9999) are clamped.
    """
    clamped = min(max(float(timestamp), _EARLIEST), _LATEST)
    m = datetime.datetime.fromtimestamp(clamped, datetime.UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def wire_text(text: str) -> str:
    """``text`` as valid Unicode: bytes of a name that are not UTF-8 become U+FFFD.

    Names read from the filesystem carry undecodable bytes as lone surrogates; JSON text must
    be UTF-8, so they are replaced the way the service's agent does.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is: ``"FIFO"``, ``"socket"``, ``"directory"``..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "special file"


def not_regular(sandbox: str, kind: str) -> SandboxFault:
    """The refusal of a path that is not a regular file (400, naming the path and its kind)."""
    return fault(
        "INVALID_PATH",
        f"{sandbox} is a {kind}, not a regular file",
        path=sandbox,
        details={"kind": kind},
    )


def checked_path(path: object) -> str:
    """The normalized absolute sandbox path of an API path; relative paths are taken from
    /workspace and ``..`` stops at ``/``.

    Raises INVALID_PATH (400) for an empty path, text that is not valid Unicode, a name
    longer than :data:`NAME_MAX` bytes or a path longer than :data:`PATH_MAX` bytes, and
    PATH_NOT_ALLOWED (403) for NUL bytes.
    """
    if not isinstance(path, str) or not path.strip():
        raise fault("INVALID_PATH", "path must be a non-empty string", path=wire_text(str(path)))
    if "\x00" in path:
        raise fault("PATH_NOT_ALLOWED", "path contains a NUL byte", path=wire_text(path))
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise fault(
            "INVALID_PATH", "path is not valid Unicode text", path=wire_text(path)
        ) from None
    if len(encoded) > PATH_MAX:
        raise fault(
            "INVALID_PATH",
            f"path is {len(encoded)} bytes long; the limit is {PATH_MAX}",
            path=path[:64] + "...",
        )
    absolute = path if path.startswith("/") else "/workspace/" + path
    normalized = posixpath.normpath("/" + absolute.lstrip("/"))
    checked_names(normalized, original=path)
    return normalized


def checked_names(sandbox: str, *, original: str) -> list[str]:
    """The names of a normalized sandbox path; INVALID_PATH for one over :data:`NAME_MAX`."""
    parts = [part for part in sandbox.split("/") if part]
    for part in parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise fault(
                "INVALID_PATH",
                f"a name in the path is {size} bytes long; the limit is {NAME_MAX}",
                path=wire_text(original),
                details={"name_max": NAME_MAX},
            )
    return parts


def too_many_links(original: str) -> SandboxFault:
    """The refusal of a path that goes through more than :data:`MAX_SYMLINK_HOPS` links."""
    return fault("INVALID_PATH", "too many levels of symbolic links", path=wire_text(original))


class PathView(Protocol):
    """How the file operations see a sandbox's tree: where a path leads, and what may change.

    ``in_place``: new content is written in the directory of its path (as a nameless file
    linked in when complete), not in the runtime's staging directory.
    """

    @property
    def in_place(self) -> bool:
        """Whether new content is written beside its path (see the class docstring)."""
        ...

    def locate(self, path: object, *, follow_final: bool = True) -> tuple[Base, list[str], str]:
        """``(base, names below it, normalized sandbox path)`` of an API path, its symlinks
        resolved the way the sandbox sees them (the last one only when ``follow_final``)."""
        ...

    def top_refusal(self, sandbox: str, *, operation: str) -> SandboxFault:
        """The refusal of an operation (``"read"``, ``"write"``, ``"remove"``) on a top
        directory itself (``/workspace``, ``/``)."""
        ...

    def check_writable(self, directory: int, sandbox: str) -> None:
        """Refuse (PERMISSION_DENIED) to make or remove entries in the directory open as
        ``directory`` unless it is the sandbox's own, writable, files; ``sandbox`` is the
        path the operation is about."""
        ...

    def check_replaceable(self, parent: int, name: str, sandbox: str) -> None:
        """Refuse (PERMISSION_DENIED) to remove or replace ``name`` of ``parent`` where it is
        a mount point."""
        ...


@attrs.frozen
class SandboxPaths:
    """Maps sandbox paths to host paths without ever leaving the sandbox root.

    Only ``/workspace`` and ``/tmp`` are seen, the host directories the runtime keeps for
    them. Symlinks are followed the way the sandbox itself would see them: absolute targets
    are sandbox paths, so a link to ``/etc/passwd`` (or anything outside ``/workspace`` and
    ``/tmp``) is refused instead of being followed on the host. ``stopped``: the sandbox has
    a whole filesystem of its own that is not running now; a path outside the two is then
    SANDBOX_STOPPED (409) instead of PATH_NOT_ALLOWED.
    """

    layout: SandboxLayout
    stopped: bool = False

    in_place = False

    def _host_of_mount(self, mount: str) -> Path:
        return self.layout.workspace if mount == "/workspace" else self.layout.tmp

    def normalize(self, path: object) -> str:
        """The normalized absolute sandbox path; relative paths are taken from /workspace.

        Raises INVALID_PATH (400) for an empty path, text that is not valid Unicode, a name
        longer than :data:`NAME_MAX` bytes or a path longer than :data:`PATH_MAX` bytes, and
        PATH_NOT_ALLOWED (403) for NUL bytes and anything outside ``/workspace`` and ``/tmp``.
        """
        normalized = checked_path(path)
        self._split(normalized, original=str(path))
        return normalized

    def _split(self, sandbox: str, *, original: str) -> tuple[str, list[str]]:
        for mount in MOUNTS:
            if sandbox == mount or sandbox.startswith(mount + "/"):
                return mount, checked_names(sandbox[len(mount) :], original=original)
        if self.stopped:
            raise SandboxFault(
                "SANDBOX_STOPPED",
                "the sandbox is not running: only /workspace and /tmp can be reached until it "
                "runs again",
                409,
                path=wire_text(original),
            )
        raise fault(
            "PATH_NOT_ALLOWED",
            "only paths under /workspace and /tmp are accessible",
            path=wire_text(original),
        )

    def resolve(self, path: object, *, follow_final: bool = True) -> tuple[Path, str]:
        """(host path, normalized sandbox path) of an API path, symlinks resolved in-sandbox.

        Links are read through directory descriptors opened without following links, so a
        directory swapped for a link meanwhile is never looked through on the host.

        Raises PATH_NOT_ALLOWED (403) for escapes, NUL bytes and symlinks leading outside,
        INVALID_PATH (400) for empty, overlong or non-Unicode paths and symlink loops.
        """
        original = str(path)
        sandbox = self.normalize(path)
        hops = 0
        while True:
            mount, parts = self._split(sandbox, original=original)
            base = self._host_of_mount(mount)
            link = first_link(base, parts, follow_final=follow_final)
            if link is None:
                return base.joinpath(*parts), sandbox
            index, target = link
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise too_many_links(original)
            here = posixpath.join(mount, *parts[:index])
            joined = posixpath.join(here, target, *parts[index + 1 :])
            sandbox = posixpath.normpath("/" + joined.lstrip("/"))

    def locate(self, path: object, *, follow_final: bool = True) -> tuple[Base, list[str], str]:
        """``(mount directory, names below it, sandbox path)``; see :meth:`resolve`."""
        host, sandbox = self.resolve(path, follow_final=follow_final)
        base, parts = self.split_host(host)
        return base, parts, sandbox

    def top_refusal(self, sandbox: str, *, operation: str) -> SandboxFault:
        """``/workspace`` and ``/tmp`` themselves: directories to write no file to, and
        PATH_NOT_ALLOWED to read or remove."""
        shown = wire_text(sandbox)
        if operation == "write":
            return fault("INVALID_PATH", f"{shown} is a directory", path=shown)
        return fault("PATH_NOT_ALLOWED", f"{shown} itself cannot be used here", path=shown)

    def check_writable(self, directory: int, sandbox: str) -> None:
        """Everything below ``/workspace`` and ``/tmp`` is the sandbox's to change."""

    def check_replaceable(self, parent: int, name: str, sandbox: str) -> None:
        """Nothing below ``/workspace`` and ``/tmp`` is a mount point."""

    def to_sandbox(self, host: Path) -> str:
        """The sandbox path of a host path inside the sandbox root."""
        for mount in MOUNTS:
            base = self._host_of_mount(mount)
            if host == base:
                return mount
            if host.is_relative_to(base):
                return posixpath.join(mount, host.relative_to(base).as_posix())
        raise fault("PATH_NOT_ALLOWED", "path is outside the sandbox", path=str(host))

    def split_host(self, host: Path) -> tuple[Path, list[str]]:
        """(mount directory, components below it) of a resolved host path."""
        for mount in MOUNTS:
            base = self._host_of_mount(mount)
            if host == base or host.is_relative_to(base):
                return base, list(host.relative_to(base).parts)
        raise fault("PATH_NOT_ALLOWED", "path is outside the sandbox", path=str(host))


def open_base(base: Base) -> int:
    """A new directory descriptor of ``base`` (a host directory, or a directory open as a
    descriptor: its own open file, so that listing it moves no other's position)."""
    if isinstance(base, int):
        return os.open(".", _DIR_FLAGS, dir_fd=base)
    return os.open(base, _DIR_FLAGS)


def first_link(base: Base, parts: list[str], *, follow_final: bool) -> tuple[int, str] | None:
    """``(index, target)`` of the first symlink among ``base/parts...`` (the last part only when
    ``follow_final``); ``None`` when there is none, or the path stops existing before one."""
    if not parts:
        return None
    try:
        fd = open_base(base)
    except OSError:
        return None  # the mount itself is not there yet
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                info = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except OSError:
                return None  # the rest does not exist (yet): nothing more to follow
            if stat.S_ISLNK(info.st_mode):
                if last and not follow_final:
                    return None
                try:
                    return index, os.readlink(part, dir_fd=fd)
                except OSError:
                    return None  # swapped since: the operation's own walk will refuse it
            if last or not stat.S_ISDIR(info.st_mode):
                return None
            try:
                child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = child
        return None
    finally:
        os.close(fd)


def _changed(sandbox: str) -> SandboxFault:
    return fault("PATH_NOT_ALLOWED", f"{sandbox} changed while in use", path=wire_text(sandbox))


def open_beneath(base: Base, parts: list[str], *, sandbox: str) -> int:
    """A directory fd for ``base/parts...``, refusing any symlink on the way (O_NOFOLLOW).

    Paths are resolved (symlinks included) before use; if a directory was swapped for a
    symlink since, the walk fails instead of following it: PATH_NOT_ALLOWED.
    """
    fd = open_base(base)
    part = ""
    try:
        for part in parts:
            following = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = following
    except FileNotFoundError:
        os.close(fd)
        raise fault(
            "FILE_NOT_FOUND", f"no such file or directory: {sandbox}", path=wire_text(sandbox)
        ) from None
    except OSError as exc:
        swapped = exc.errno in (errno.ELOOP, errno.ENOTDIR) and is_symlink_at(fd, part)
        os.close(fd)
        if swapped:
            raise _changed(sandbox) from None
        if exc.errno == errno.ENOTDIR:
            raise fault(
                "FILE_NOT_FOUND", f"no such file or directory: {sandbox}", path=wire_text(sandbox)
            ) from None
        raise
    return fd


def open_regular(parent: int, name: str, *, sandbox: str) -> tuple[int, os.stat_result]:
    """``(fd, fstat)`` of the regular file ``name`` in the directory open as ``parent``.

    Anything but a regular file (a FIFO, a socket, a device, a directory) is refused from its
    ``lstat``, without being opened: INVALID_PATH, 400, naming the path and its kind. The open
    itself never blocks and never follows a symlink, and the file opened must be the one
    examined: a symlink or another file swapped in between is PATH_NOT_ALLOWED. A missing file
    is FILE_NOT_FOUND.
    """
    shown = wire_text(sandbox)
    examined = stat_at(parent, name)
    if examined is None:
        raise fault("FILE_NOT_FOUND", f"no such file or directory: {shown}", path=shown)
    if not stat.S_ISREG(examined.st_mode):
        raise not_regular(shown, kind_of(examined.st_mode))
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        raise fault("FILE_NOT_FOUND", f"no such file or directory: {shown}", path=shown) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EOPNOTSUPP, errno.ENODEV):
            raise _changed(sandbox) from None
        raise
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if (info.st_dev, info.st_ino) != (examined.st_dev, examined.st_ino):
        os.close(fd)
        raise _changed(sandbox)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise not_regular(shown, kind_of(info.st_mode))
    return fd, info


def is_symlink_at(directory: int, name: str) -> bool:
    """Whether ``name`` in the directory open as ``directory`` is a symlink."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def stat_at(directory: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in the directory open as ``directory`` (``None`` if absent)."""
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
