"""A running sandbox's whole filesystem, as the sandbox's own init process sees it.

Under bubblewrap a sandbox has a root of its own: its system trees (``/usr``, ``/etc``,
``/var``, ``/opt``, the interpreter's prefix: each an overlay whose top layer is the sandbox's,
see :mod:`.rootfs`), its ``/workspace`` and ``/tmp``, the runtime's ``/run``, and the kernel's
``/proc`` and ``/dev``. The file API sees it the way a VM's agent sees its disk:

* the root is ``/proc/<init>/root`` opened as a directory descriptor, checked to be this
  sandbox's (its ``/workspace`` is this sandbox's directory): a pid taken over by another
  process is never looked through;
* every name is opened relative to its parent with ``O_NOFOLLOW``; symlinks are read and
  resolved as sandbox paths (absolute targets from the sandbox's root, ``..`` stopping there),
  so a path never names anything outside the sandbox's root, and never the host's files;
* ``/proc``, ``/sys`` and ``/dev`` are the kernel's, not the sandbox's files: PATH_NOT_ALLOWED;
* entries are made and removed only in directories on the sandbox's own writable mounts (the
  overlays of its system, ``/workspace`` and ``/tmp``), never in ``/`` or ``/run``, and no mount
  point is removed or replaced: PERMISSION_DENIED. A write goes through the overlay as the
  sandbox's processes see it, so it lands in the sandbox's own layer, never in a lower one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import posixpath
import stat
import sys

from .errors import SandboxFault, fault
from .isolation import SandboxLayout
from .paths import (
    MAX_SYMLINK_HOPS,
    MOUNTS,
    Base,
    checked_names,
    checked_path,
    first_link,
    too_many_links,
    wire_text,
)
from .procfs import Mount, open_process, process_mounts, start_ticks

__all__ = ["KERNEL_TREES", "SystemPaths", "mount_id", "open_system"]

#: Trees of a sandbox's filesystem that are the kernel's, not the sandbox's files.
KERNEL_TREES = ("/proc", "/sys", "/dev")

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_AT_EMPTY_PATH = 0x1000
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_MNT_ID = 0x1000
_STATX_SIZE = 256
_STX_MNT_ID_OFFSET = 144

_libc = ctypes.CDLL(None, use_errno=True)
_statx = getattr(_libc, "statx", None)

Writable = tuple[frozenset[int], tuple[str, ...]]
#: The writable mounts of each init seen, by (pid, start time): an init's mount table is
#: complete before its pid is known and never changes after.
_known: dict[tuple[int, int], Writable] = {}
_KNOWN_MAX = 512


def _fdinfo_mount_id(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}", "rb") as handle:
        for line in handle.read().splitlines():
            key, _, value = line.partition(b":")
            if key == b"mnt_id":
                return int(value)
    raise OSError("the kernel names no mount for this file")


def mount_id(directory: int, name: str = "") -> int:
    """The id of the mount ``name`` of the directory open as ``directory`` is on (the mount
    that directory is on, for ``""``); a mount point's is the mount's own. Symlinks are not
    followed."""
    if _statx is not None:
        buffer = ctypes.create_string_buffer(_STATX_SIZE)
        flags = _AT_SYMLINK_NOFOLLOW | (_AT_EMPTY_PATH if not name else 0)
        done = _statx(
            ctypes.c_int(directory), os.fsencode(name), ctypes.c_int(flags),
            ctypes.c_uint(_STATX_MNT_ID), buffer,
        )  # fmt: skip
        if done != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), name)
        if int.from_bytes(buffer.raw[0:4], sys.byteorder) & _STATX_MNT_ID:
            offset = _STX_MNT_ID_OFFSET
            return int.from_bytes(buffer.raw[offset : offset + 8], sys.byteorder)
    if not name:
        return _fdinfo_mount_id(directory)
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    try:
        return _fdinfo_mount_id(fd)
    finally:
        os.close(fd)


class SystemPaths:
    """Sandbox paths resolved inside a running sandbox's root (see the module docstring).

    Owns the descriptors of the init's ``/proc`` directory and of its root; :meth:`close`
    releases them (use it as a context manager). One instance serves one operation.
    """

    in_place = True

    def __init__(self, pid: int, process: int, root: int) -> None:
        self._pid = pid
        self._process = process
        self.root = root
        self._writable: Writable | None = None

    def close(self) -> None:
        """Release the descriptors."""
        for fd in (self.root, self._process):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.root = self._process = -1

    def __enter__(self) -> SystemPaths:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolving ------------------------------------------------------------------------

    def _refuse_kernel_trees(self, sandbox: str, original: str, *, linked: bool) -> None:
        for tree in KERNEL_TREES:
            if sandbox == tree or sandbox.startswith(tree + "/"):
                shown = wire_text(original)
                via = f" leads to {wire_text(sandbox)}, which" if linked else ""
                where = tree if sandbox == tree else f"in {tree}"
                raise fault(
                    "PATH_NOT_ALLOWED",
                    f"{shown}{via} is {where}: the kernel's files, not the sandbox's, which the "
                    "files API does not serve",
                    path=shown,
                )

    def normalize(self, path: object) -> str:
        """The normalized absolute sandbox path (relative paths from /workspace); refuses
        what :func:`~.paths.checked_path` refuses and the kernel's trees."""
        normalized = checked_path(path)
        self._refuse_kernel_trees(normalized, str(path), linked=False)
        return normalized

    def resolve(self, path: object, *, follow_final: bool = True) -> tuple[list[str], str]:
        """``(names below the root, sandbox path)`` of an API path, symlinks resolved inside
        the sandbox's root (the last one only when ``follow_final``).

        Raises PATH_NOT_ALLOWED for the kernel's trees (also where a link leads there) and
        NUL bytes, INVALID_PATH for empty, overlong or non-Unicode paths and symlink loops.
        """
        original = str(path)
        sandbox = self.normalize(path)
        hops = 0
        while True:
            parts = checked_names(sandbox, original=original)
            link = first_link(self.root, parts, follow_final=follow_final)
            if link is None:
                return parts, sandbox
            index, target = link
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise too_many_links(original)
            joined = posixpath.join("/", *parts[:index], target, *parts[index + 1 :])
            sandbox = posixpath.normpath("/" + joined.lstrip("/"))
            self._refuse_kernel_trees(sandbox, original, linked=True)

    def locate(self, path: object, *, follow_final: bool = True) -> tuple[Base, list[str], str]:
        """``(root descriptor, names below it, sandbox path)``; see :meth:`resolve`."""
        parts, sandbox = self.resolve(path, follow_final=follow_final)
        return self.root, parts, sandbox

    # -- what may change ------------------------------------------------------------------

    def _writable_mounts(self) -> Writable:
        """(ids, mount points) of the sandbox's own writable mounts: the overlays of its
        system, its /workspace and /tmp (from the init's mount table)."""
        if self._writable is not None:
            return self._writable
        try:
            key = (self._pid, start_ticks(self._process))
            found = _known.get(key)
            table = process_mounts(self._process) if found is None else []
        except OSError:  # ENOENT, ESRCH, EINVAL: the init is gone, its mount table with it
            raise SandboxFault(
                "SANDBOX_STOPPED", "the sandbox stopped while the call was served", 409
            ) from None
        if found is None:
            mounts: list[Mount] = [
                mount
                for mount in table
                if mount.writable and (mount.fstype == "overlay" or mount.point in MOUNTS)
            ]
            ids = frozenset(mount.mount_id for mount in mounts)
            found = ids, tuple(sorted({mount.point for mount in mounts}))
            if len(_known) >= _KNOWN_MAX:
                _known.clear()
            _known[key] = found
        self._writable = found
        return found

    def top_refusal(self, sandbox: str, *, operation: str) -> SandboxFault:
        """``/`` itself: a directory to read, and never to replace or remove."""
        if operation == "read":
            return fault("INVALID_PATH", "/ is a directory", path="/")
        return fault(
            "PERMISSION_DENIED",
            "/ is the top of the sandbox's filesystem: it cannot be replaced or removed",
            path="/",
        )

    def check_writable(self, directory: int, sandbox: str) -> None:
        """PERMISSION_DENIED unless ``directory`` is on one of the sandbox's writable mounts."""
        ids, points = self._writable_mounts()
        if mount_id(directory) in ids:
            return
        shown = wire_text(sandbox)
        where = ", ".join(points) if points else "none"
        raise fault(
            "PERMISSION_DENIED",
            f"{shown} cannot be changed: it is not in the sandbox's own writable files "
            f"(below {where}); / and /run are the runtime's",
            path=shown,
            details={"writable": list(points)},
        )

    def check_replaceable(self, parent: int, name: str, sandbox: str) -> None:
        """PERMISSION_DENIED where ``name`` of ``parent`` is a mount point."""
        try:
            own = mount_id(parent, name)
        except FileNotFoundError:
            return
        if own != mount_id(parent):
            shown = wire_text(sandbox)
            raise fault(
                "PERMISSION_DENIED",
                f"{shown} is a mount point of the sandbox: it cannot be replaced or removed",
                path=shown,
            )


def open_system(pid: int | None, layout: SandboxLayout) -> SystemPaths | None:
    """The filesystem of the sandbox whose init is ``pid``, or ``None`` when that init is not
    running (or the pid is another process's now: its ``/workspace`` is not ``layout``'s).

    Blocking. PermissionError when this server may not look into the sandbox's processes.
    """
    if pid is None:
        return None
    try:
        expected = os.stat(layout.workspace, follow_symlinks=False)
        process = open_process(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        root = os.open("root", _DIR, dir_fd=process)
    except (FileNotFoundError, ProcessLookupError):
        os.close(process)
        return None
    except BaseException:
        os.close(process)
        raise
    system = SystemPaths(pid, process, root)
    try:
        found = os.stat("workspace", dir_fd=root, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        found = None
    except BaseException:
        system.close()
        raise
    if (
        found is None
        or not stat.S_ISDIR(found.st_mode)
        or (found.st_dev, found.st_ino) != (expected.st_dev, expected.st_ino)
    ):
        system.close()
        return None
    return system
