"""The sandbox a build step runs in: the host's system read-only, the template's tree writable.

A step sees the host's system directories and a few ``/etc`` entries read-only (as every
sandbox does), fresh ``/proc``, ``/dev`` and ``/tmp``, and the template's tree bound
writable over them: each top-level directory of the tree (``/app``, ``/home``, ``/opt``,
``/workspace``, ...) and ``/usr/local``. It runs as uid 1000 without capabilities in its own
user, pid, ipc and uts namespaces, sharing the host's network (a build fetches packages, and
its ready check reaches the start command's port).

Writes outside the tree (``/usr`` outside ``/usr/local``, ``/etc``) fail as on a read-only
file system; they land in a template's own layer once the runtime gives sandboxes a layered
root.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

from hopx_local._runtime.isolation import CODE_ID, ETC_ENTRIES, SYSTEM_DIRS

__all__ = ["BASE_PATH", "HIDDEN_TOP", "build_argv", "inside_path", "tree_binds"]

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Top-level names of the tree that are never bound (the sandbox makes its own).
HIDDEN_TOP = frozenset({"proc", "dev", "sys", "tmp", "run", "etc", *SYSTEM_DIRS})


def tree_binds(tree: pathlib.Path) -> list[tuple[pathlib.Path, str]]:
    """``(directory of the tree, where it appears)`` pairs, ``/usr/local`` last."""
    out = [
        (entry, f"/{entry.name}")
        for entry in sorted(tree.iterdir())
        if entry.name not in HIDDEN_TOP and entry.is_dir() and not entry.is_symlink()
    ]
    local = tree / "usr" / "local"
    if local.is_dir() and not local.is_symlink():
        out.append((local, "/usr/local"))
    return out


def inside_path(tree: pathlib.Path, path: str) -> pathlib.Path | None:
    """Where the sandbox path ``path`` is in the tree (``None``: not a tree path)."""
    parts = [p for p in pathlib.PurePosixPath(path).parts if p != "/"]
    if not parts or ".." in parts:
        return None
    if parts[:2] == ["usr", "local"] or parts[0] not in HIDDEN_TOP:
        return tree.joinpath(*parts)
    return None


def build_argv(
    bwrap: str,
    tree: pathlib.Path,
    command: str,
    *,
    workdir: str,
    env: Mapping[str, str],
) -> list[str]:
    """The bubblewrap command line running ``sh -c command`` over ``tree``."""
    argv = [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        str(CODE_ID),
        "--gid",
        str(CODE_ID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "template-build",
    ]
    for name in SYSTEM_DIRS:
        host = pathlib.Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    argv += ["--dir", "/etc"]
    for name in ETC_ENTRIES:
        host = pathlib.Path("/etc") / name
        if host.exists():
            argv += ["--ro-bind", str(host), f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for source, where in tree_binds(tree):
        argv += ["--bind", str(source), where]
    argv += ["--chdir", workdir, "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["/bin/sh", "-c", command]
    return argv
