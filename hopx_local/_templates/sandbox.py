"""The sandbox a build step runs in: the template's tree as its root, the host's system over it.

The template's tree is the step's ``/``, writable: what a step writes anywhere (``/app``,
``/opt``, ``/home/user``, new files in ``/etc``, ``/usr/local``) lands in the tree. Over it
come the host's system directories and a few ``/etc`` entries, read-only (as in every
sandbox), then the tree's own ``/usr/local`` again, and fresh ``/proc``, ``/dev`` and
``/tmp``. The step runs as uid 1000 without capabilities in its own user, pid, ipc and uts
namespaces, sharing the host's network (a build fetches packages, and its ready check reaches
the start command's port).

Writes into the host's system (``/usr`` outside ``/usr/local``, ``/bin``, ``/lib``, the
``/etc`` entries shown) fail as on a read-only file system; they would land in the template's
own layer once the runtime gives sandboxes a layered root.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

from hopx_local._runtime.isolation import CODE_ID, ETC_ENTRIES, SYSTEM_DIRS

__all__ = ["BASE_PATH", "HIDDEN_TOP", "build_argv", "inside_path"]

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Top-level names a step sees from the host or fresh, not from the tree.
HIDDEN_TOP = frozenset({"proc", "dev", "sys", "tmp", "run", *SYSTEM_DIRS})


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
        "--bind",
        str(tree),
        "/",
    ]
    for name in SYSTEM_DIRS:
        host = pathlib.Path("/") / name
        if host.is_symlink():
            target, mine = os.readlink(host), tree / name
            if mine.is_symlink() and os.readlink(mine) == target:
                continue  # made by an earlier step (bwrap will not make it twice)
            argv += ["--symlink", target, f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    argv += ["--dir", "/etc"]
    for name in ETC_ENTRIES:
        host = pathlib.Path("/etc") / name
        if host.exists():
            argv += ["--ro-bind", str(host), f"/etc/{name}"]
    local = tree / "usr" / "local"
    local.mkdir(parents=True, exist_ok=True)
    argv += ["--bind", str(local), "/usr/local"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    argv += ["--chdir", workdir, "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["/bin/sh", "-c", command]
    return argv
