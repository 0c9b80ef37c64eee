"""A writable system per sandbox: one kernel overlay per system tree, its top layer the sandbox's.

Each tree a sandbox sees as its system (``/usr``, ``/etc``, ``/var``, ``/opt`` and the prefix
of the interpreter code runs with) is an overlay mounted by the server (it is root) with the new
mount API, *detached*, and attached inside the sandbox by its init like the other mounts:

* the lower layers are read-only, from top to bottom: the layers given by the caller (each a
  directory holding top-level trees such as ``usr/``, for templates), the emulator's own small
  base (a tmpfs made once per server: a selection of the host's ``/etc`` readable by anyone,
  the ``python3``/``python``/``pip`` commands of the sandbox's interpreter, a ``.pth`` file
  adding the Jupyter kernel's packages after the interpreter's own, an empty ``/var`` and
  ``/opt`` skeleton), then the host's directory (``/usr``, the interpreter prefix);
* each lower layer is an *idmapped* mount in which the host's root is the sandbox's own
  unprivileged user, so the system looks owned by the sandbox's root and code can change it;
* the upper layer is ``system/<tree>/upper`` on the sandbox's volume (so ``disk_mb`` covers
  everything code writes there); it outlives a stop and a restart and goes with the sandbox.

bubblewrap 0.8 has no ``--overlay`` option; a kernel overlay mounted by the server needs no
newer bubblewrap, keeps every layer path out of the sandbox, and is unmounted by the kernel when
the sandbox's mount namespace goes. Where any piece is missing (the server is not root, the
kernel lacks idmapped mounts or layers passed as descriptors) the system stays read-only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from .isolation import CODE_ID, ETC_ENTRIES, SYSTEM_DIRS
from .mounts import KERNEL_SITE_MOUNT, MountAttr

__all__ = ["LAYER_TREES", "SystemLayer", "layer_trees", "system_layers", "system_trees"]

log = logging.getLogger("hopx.local.runtime")

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_OPEN_TREE, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 428, 430, 431, 432
_SYS_MOUNT_SETATTR = 442
_FSCONFIG_SET_STRING, _FSCONFIG_SET_FD, _FSCONFIG_CMD_CREATE = 1, 5, 6
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, 0o2000000
_AT_EMPTY_PATH, _AT_FDCWD = 0x1000, -100
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_MOUNT_ATTR_IDMAP = 0x100000
_MS_PRIVATE = 1 << 18
_CLOEXEC = 1
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

#: The top-level trees every writable system has, besides the interpreter prefixes.
LAYER_TREES = ("usr", "etc", "var", "opt")
_VAR_SKELETON = ("cache", "lib", "local", "log", "mail", "opt", "spool", "tmp")
#: Top-level names a layer cannot bring as a tree of its own: the system's, the kernel's and
#: the sandbox's own directories (``/workspace``, ``/tmp``, ``/run``).
_NOT_TREES = frozenset(
    {"proc", "dev", "sys", "tmp", "run", "workspace", "lost+found", *SYSTEM_DIRS, *LAYER_TREES}
)
_TREE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _setattr(fd: int, attr_set: int, userns: int = 0) -> None:
    attr = MountAttr()
    attr.attr_set = attr_set
    attr.propagation = _MS_PRIVATE
    attr.userns_fd = userns
    size = ctypes.sizeof(attr)
    done = _libc.syscall(_SYS_MOUNT_SETATTR, fd, b"", _AT_EMPTY_PATH, ctypes.byref(attr), size)
    _check(done, "mount_setattr")


def system_trees(prefixes: Sequence[str], trees: Sequence[str] = ()) -> list[str]:
    """Where the overlays of a writable system appear: the top-level trees, then the other
    top-level ``trees`` of its layers (``/app``, ``/home``), then each interpreter prefix
    (outside them, or below one of ``trees``: attached after it)."""
    return [*(f"/{name}" for name in LAYER_TREES), *trees, *prefixes]


def layer_trees(layers: Sequence[Path], prefixes: Sequence[str] = ()) -> list[str]:
    """The top-level directories of ``layers`` besides the system trees, as destinations
    (``/app``, ``/home``, ``/srv``): what a template's build left outside ``/usr``, ``/etc``,
    ``/var`` and ``/opt``. Links, odd names and the sandbox's own directories are left out,
    as is a name whose layer store would be an interpreter prefix's."""
    taken = {_store_name(dest) for dest in system_trees(prefixes)}
    found: list[str] = []
    for layer in layers:
        try:
            entries = sorted(os.scandir(layer), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if (
                _TREE_NAME.fullmatch(name)
                and name not in _NOT_TREES
                and entry.is_dir(follow_symlinks=False)
                and f"/{name}" not in found
                and _store_name(name) not in taken
            ):
                found.append(f"/{name}")
    return found


def _store_name(dest: str) -> str:
    return dest.strip("/").replace("/", "-") or "root"


# -- the user namespace of the idmapping ------------------------------------------------------


#: Run by a short-lived helper: enter a new user namespace, say so, wait to be let go.
_HOLDER = (
    "import ctypes, os\n"
    "ok = ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0\n"
    "os.write(1, b'k' if ok else b'e')\n"
    "os.read(0, 1)\n"
)


def _idmap_userns(python: str, uid: int, gid: int) -> int:
    """A descriptor of a user namespace mapping 0 (the host's root) to ``uid``/``gid``."""
    holder = subprocess.Popen(
        [python, "-I", "-S", "-c", _HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        cwd="/",
        env={},
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        if holder.stdout.read(1) != b"k":
            raise OSError(errno.EPERM, "cannot create a user namespace for the idmapping")
        Path(f"/proc/{holder.pid}/uid_map").write_text(f"0 {uid} 1\n")
        Path(f"/proc/{holder.pid}/gid_map").write_text(f"0 {gid} 1\n")
        return os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        holder.kill()
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(10)


# -- the emulator's base layer ----------------------------------------------------------------


def _readable_by_anyone(path: Path) -> bool:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return True
    if stat.S_ISDIR(info.st_mode):
        return info.st_mode & 0o005 == 0o005
    return stat.S_ISREG(info.st_mode) and bool(info.st_mode & stat.S_IROTH)


def _copy_public(source: Path, target: Path) -> None:
    """Copy what anyone on the host may read of ``source`` (links kept as links)."""
    if not os.path.lexists(source) or not _readable_by_anyone(source):
        return
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        target.mkdir(mode=0o755)
        for child in sorted(source.iterdir()):
            with contextlib.suppress(OSError):
                _copy_public(child, target / child.name)
    else:
        shutil.copyfile(source, target)
        os.chmod(target, 0o644)


def _identity() -> dict[str, str]:
    return {
        "passwd": (
            "root:x:0:0:root:/root:/bin/bash\n"
            f"user:x:{CODE_ID}:{CODE_ID}:sandbox user:/workspace:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        "group": f"root:x:0:\nuser:x:{CODE_ID}:\nnogroup:x:65534:\n",
    }


def _make_dirs(root: Path, path: str) -> Path:
    """``root/path`` and its missing parents, each 0755."""
    target = root / path.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for parent in (target, *target.relative_to(root).parents):
        os.chmod(root / parent, 0o755)
    return target


def _fill_base(root: Path, python: str, prefixes: Sequence[str]) -> None:
    etc = root / "etc"
    etc.mkdir(mode=0o755)
    for name in ETC_ENTRIES:
        with contextlib.suppress(OSError):
            _copy_public(Path("/etc") / name, etc / name)
    for name, text in _identity().items():
        (etc / name).write_text(text)
    # The interpreter is the sandbox's own, in a layer of its own: pip may install into it.
    (etc / "pip.conf").write_text("[global]\nbreak-system-packages = true\n")
    var = root / "var"
    var.mkdir(mode=0o755)
    for name in _VAR_SKELETON:
        (var / name).mkdir(mode=0o755)
    os.chmod(var / "tmp", 0o1777)
    (root / "opt").mkdir(mode=0o755)
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True, mode=0o755)
    for parent in (root / "usr", root / "usr" / "local"):
        os.chmod(parent, 0o755)
    for name in ("python3", "python"):
        os.symlink(python, bin_dir / name)
    for name in ("pip", "pip3"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {python} -m pip "$@"\n')
        os.chmod(script, 0o755)
    # The Jupyter kernel's packages, when shown to the sandbox, after the interpreter's own
    # (and what pip installs there) for every program; the kernel puts them first.
    site = _site_packages(python)
    if site is not None:
        (_make_dirs(root, site) / "hopx-kernel.pth").write_text(KERNEL_SITE_MOUNT + "\n")
    # Where an interpreter prefix lies below another tree (``/opt/...``), its mount point.
    for prefix in prefixes:
        _make_dirs(root, prefix)


def _site_packages(python: str) -> str | None:
    """The site-packages directory of the interpreter ``python`` (None if it cannot say)."""
    probe = [python, "-I", "-S", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    return path if done.returncode == 0 and os.path.isabs(path) else None


_base_lock = threading.Lock()


@functools.cache
def _base_layer(python: str, prefixes: tuple[str, ...]) -> int:
    """The emulator's base layer: a read-only tmpfs made once per server (a mount fd)."""
    with _base_lock:
        fs = _check(_libc.syscall(_SYS_FSOPEN, b"tmpfs", _CLOEXEC), "fsopen tmpfs")
        try:
            for key, value in ((b"mode", b"0755"), (b"size", b"64m")):
                _check(
                    _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_STRING, key, value, 0), "tmpfs"
                )
            _check(_libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0), "tmpfs")
            mount = _check(_libc.syscall(_SYS_FSMOUNT, fs, _CLOEXEC, 0), "fsmount tmpfs")
        finally:
            os.close(fs)
        try:
            _fill_base(Path(f"/proc/self/fd/{mount}"), python, prefixes)
            _setattr(mount, _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV)
        except BaseException:
            os.close(mount)
            raise
        return mount


# -- one sandbox's overlays -------------------------------------------------------------------


class SystemLayer:
    """The detached overlays of one sandbox's system, ready to be attached: ``mounts`` is a
    list of (destination, mount fd); :meth:`close` lets go of the descriptors."""

    def __init__(self, mounts: list[tuple[str, int]]) -> None:
        self.mounts = mounts

    def close(self) -> None:
        """Close every descriptor (the overlays stay mounted where they were attached)."""
        mounts, self.mounts = self.mounts, []
        for _dest, fd in mounts:
            with contextlib.suppress(OSError):
                os.close(fd)


def _idmapped(source: int | str, userns: int) -> int:
    if isinstance(source, int):
        fd = _libc.syscall(
            _SYS_OPEN_TREE, source, b"", _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_EMPTY_PATH
        )
    else:
        fd = _libc.syscall(
            _SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(source), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC
        )
    fd = _check(fd, f"cannot clone {source}")
    try:
        flags = _MOUNT_ATTR_IDMAP | _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV
        _setattr(fd, flags, userns)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_beneath(view: int, relative: str) -> int:
    """An ``O_PATH`` descriptor of the directory ``relative`` below the mount ``view``, each
    component opened without following links (a layer's tree is what a build left: a link in
    it must not lead a lower layer out to the host)."""
    fd = os.dup(view)
    try:
        for part in relative.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                raise FileNotFoundError(errno.ENOENT, "no .. in a layer path")
            child = os.open(part, _PATH_DIR | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _prepare_store(store: Path, code_ids: tuple[int, int]) -> tuple[Path, Path]:
    upper, work = store / "upper", store / "work"
    for directory in (store, upper, work):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o755)
    info = upper.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{upper} is not a directory")
    if (info.st_uid, info.st_gid) != code_ids:
        os.chown(upper, *code_ids, follow_symlinks=False)
    os.chmod(work, 0o700)
    return upper, work


def _overlay(lowers: Sequence[int], upper: Path, work: Path) -> int:
    fs = _check(_libc.syscall(_SYS_FSOPEN, b"overlay", _CLOEXEC), "fsopen overlay")
    opened: list[int] = []
    try:
        # No inode index, no metadata-only copies: the sandbox's layer is written by code it
        # does not trust, and its lower layers change between servers (the base is made anew).
        for key, value in ((b"index", b"off"), (b"metacopy", b"off")):
            _check(_libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_STRING, key, value, 0), "overlay")
        for lower in lowers:
            _check(
                _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_FD, b"lowerdir+", None, lower),
                "lower layer",
            )
        for key, path in ((b"upperdir", upper), (b"workdir", work)):
            fd = os.open(path, _PATH_DIR | os.O_NOFOLLOW)
            opened.append(fd)
            _check(_libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_FD, key, None, fd), "upper layer")
        _check(_libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0), "overlay")
        return _check(
            _libc.syscall(_SYS_FSMOUNT, fs, _CLOEXEC, _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV),
            "fsmount overlay",
        )
    finally:
        for fd in opened:
            os.close(fd)
        os.close(fs)


def system_layers(
    store: Path,
    code_ids: tuple[int, int],
    *,
    python: str,
    prefixes: Sequence[str],
    layers: Sequence[Path] = (),
    trees: Sequence[str] = (),
) -> SystemLayer:
    """Mount (detached) the overlays of one sandbox's writable system.

    ``store`` is the directory of the sandbox's top layers (on its volume), ``code_ids`` the
    host (uid, gid) the sandbox's root is, ``python`` the interpreter the ``python3`` command
    runs, ``prefixes`` the interpreter prefixes outside the system trees, ``layers`` read-only
    layer directories above the base (the topmost first), ``trees`` the top-level trees of
    those layers shown besides the system's (``/app``: see :func:`layer_trees`), each an
    overlay of its own with the sandbox's layer on top. Blocking; OSError if the kernel
    refuses any step (nothing is left mounted then).
    """
    store.mkdir(mode=0o755, exist_ok=True)
    base = _base_layer(python, tuple(prefixes))
    userns = _idmap_userns(python, *code_ids)
    views: list[int] = []
    made: list[tuple[str, int]] = []
    try:
        base_view = _idmapped(base, userns)
        views.append(base_view)
        layer_views = []
        for layer in layers:
            layer_views.append(_idmapped(str(layer), userns))
            views.append(layer_views[-1])
        host_views = {}
        for dest in ("/usr", *prefixes):
            host_views[dest] = _idmapped(dest, userns)
            views.append(host_views[dest])
        for dest in system_trees(prefixes, trees):
            relative = dest.strip("/")
            lowers: list[int] = []
            candidates = [*layer_views, base_view]
            for view in candidates:
                try:
                    lowers.append(_open_beneath(view, relative))
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        raise
            if dest in host_views:
                lowers.append(os.dup(host_views[dest]))
            try:
                upper, work = _prepare_store(store / _store_name(dest), code_ids)
                made.append((dest, _overlay(lowers, upper, work)))
            finally:
                for fd in lowers:
                    os.close(fd)
    except BaseException:
        SystemLayer(made).close()
        raise
    finally:
        for fd in views:
            os.close(fd)
        os.close(userns)
    return SystemLayer(made)
