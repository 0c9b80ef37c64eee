"""What a sandbox sees: the fixed set of mounts and the bubblewrap options that create them.

Everything here is derived from the server's configuration (the system directories, the
interpreters found at start-up, the sandbox's own directories), never from a request. When the
server is root, bubblewrap runs as an unprivileged user that may not be able to reach the
sandbox's directories or the interpreter (both often live under ``/root``): those mounts are
then cloned by the server (``open_tree``) and attached inside the sandbox by its init
(``move_mount``), so no path has to be reachable by the sandbox's user.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import attrs

from .isolation import ETC_ENTRIES, SYSTEM_DIRS, SandboxLayout

__all__ = [
    "EXEC_MOUNT",
    "KERNEL_SITE_MOUNT",
    "Mount",
    "MountAttr",
    "detached_tree",
    "interpreter_prefixes",
    "parent_dirs",
    "sandbox_mounts",
    "system_args",
]

#: Where the per-execution directories (source files, rich outputs) appear in a sandbox.
EXEC_MOUNT = "/run/hopx-exec"

_SYS_OPEN_TREE = 428
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 1
_AT_RECURSIVE = 0x8000
_AT_EMPTY_PATH = 0x1000
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4
_MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    """``struct mount_attr`` of ``mount_setattr(2)``."""

    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


@attrs.frozen
class Mount:
    """One host directory shown in the sandbox at ``dest`` (read-only unless ``writable``)."""

    source: Path
    dest: str
    writable: bool = False


def _outside_system_dirs(paths: Iterable[str]) -> list[str]:
    system = tuple(f"/{name}/" for name in SYSTEM_DIRS)
    extra: list[str] = []
    for path in paths:
        if not (path + "/").startswith(system) and path not in extra:
            extra.append(path)
    return extra


@functools.cache
def interpreter_prefixes() -> tuple[str, ...]:
    """Installation prefixes of the interpreters this server runs code with, outside the
    system directories (which every sandbox sees anyway)."""
    from .languages import available_languages

    prefixes = [os.path.realpath(sys.base_prefix)]
    for argv in available_languages().values():
        real = os.path.realpath(argv[0])
        if os.path.isabs(real):
            prefixes.append(os.path.dirname(os.path.dirname(real)))
    return tuple(_outside_system_dirs(prefixes))


#: Where the packages of the Jupyter kernel appear when they are not the interpreter's own.
KERNEL_SITE_MOUNT = "/run/hopx-kernel/site-packages"


def sandbox_mounts(
    layout: SandboxLayout, kernel_site: str | None = None, *, prefixes: bool = True
) -> list[Mount]:
    """The mounts of one sandbox besides the system directories (``kernel_site``: the host
    directory of the Jupyter kernel's packages, shown read-only at :data:`KERNEL_SITE_MOUNT`;
    ``prefixes``: whether the interpreter prefixes are among them, read-only, or come as the
    overlays of a writable system instead)."""
    mounts = [Mount(Path(p), p) for p in interpreter_prefixes()] if prefixes else []
    if kernel_site is not None:
        mounts.append(Mount(Path(kernel_site), KERNEL_SITE_MOUNT))
    mounts += [
        Mount(layout.workspace, "/workspace", writable=True),
        Mount(layout.tmp, "/tmp", writable=True),
        Mount(layout.exec_root, EXEC_MOUNT, writable=True),
    ]
    return mounts


@functools.cache
def system_args() -> tuple[str, ...]:
    """bubblewrap options showing the system directories and a selection of /etc, read-only."""
    args: list[str] = []
    for name in SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC_ENTRIES:
        if os.path.lexists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return tuple(args)


def parent_dirs(destinations: Iterable[str]) -> list[str]:
    """``--dir`` options creating every destination's parents world-readable (0755).

    bubblewrap creates missing parents with mode 0700, which the unprivileged sandbox user
    could not traverse.
    """
    wanted: list[str] = []
    for destination in destinations:
        for parent in reversed(Path(destination).parents):
            if str(parent) != "/" and str(parent) not in wanted:
                wanted.append(str(parent))
    created: list[str] = []
    for directory in wanted:
        created += ["--perms", "0755", "--dir", directory]
    return created


def detached_tree(mount: Mount) -> int:
    """A detached copy of ``mount.source`` (a mount fd), read-only unless writable.

    Needs CAP_SYS_ADMIN (the server is root). OSError if the kernel refuses.
    """
    path = os.fsencode(mount.source)
    fd = int(_libc.syscall(_SYS_OPEN_TREE, -100, path, _OPEN_TREE_CLONE | _AT_RECURSIVE))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"cannot clone {mount.source}: {os.strerror(code)}")
    os.set_inheritable(fd, False)
    attr = MountAttr()
    attr.attr_set = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV
    if not mount.writable:
        attr.attr_set |= _MOUNT_ATTR_RDONLY
    attr.propagation = _MS_PRIVATE
    flags = _AT_EMPTY_PATH | _AT_RECURSIVE
    done = _libc.syscall(
        _SYS_MOUNT_SETATTR, fd, b"", flags, ctypes.byref(attr), ctypes.sizeof(attr)
    )
    if done != 0:
        code = ctypes.get_errno()
        os.close(fd)
        raise OSError(code, f"cannot restrict {mount.source}: {os.strerror(code)}")
    return fd
