"""Preparing one run of sandboxed code: source file, working directory, environment, argv,
and collecting its rich outputs without trusting anything the code left behind."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .isolation import BOOT_DIR, BOOT_MOUNT, IsolationMode, SandboxLayout
from .mounts import EXEC_MOUNT

__all__ = [
    "BASE_ENV_NAMES",
    "BASE_PATH",
    "Launch",
    "base_env",
    "init_owner",
    "read_rich_outputs",
    "sandbox_owner",
]

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The variables every sandboxed process starts with, before the sandbox's own (the API's).
BASE_ENV_NAMES = (
    "PATH",
    "HOME",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "HOSTNAME",
    "HOPX_SANDBOX_ID",
    "PYTHONUNBUFFERED",
)
#: Rich outputs of one execution are bounded in total size and in count.
_RICH_LIMIT = 32 << 20
_RICH_MAX_FILES = 10_000
#: Sandbox user ids are picked from this range, one per sandbox id; the ids of a sandbox's
#: init and bubblewrap are in the next range, the same distance up.
_UID_BASE, _UID_SPAN = 200_000, 800_000
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_OUTPUT = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


@attrs.frozen
class Launch:
    """Everything needed to start one sandboxed process: the request for the sandbox's init
    (``argv``, ``env``, ``cwd`` as the process sees them) and the host-side bookkeeping."""

    execution_id: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    host_workdir: Path
    exec_dir: Path | None
    language: str
    terminal: bool = False
    timeout: float | None = None


def new_id(prefix: str) -> str:
    """A fresh identifier such as ``exec_3f9a0c12d4e5b6a7``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def _traversable(path: Path) -> bool:
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def sandbox_owner(
    sandbox_id: str, mode: IsolationMode, layout: SandboxLayout, python: str
) -> tuple[int, int] | None:
    """The unprivileged (uid, gid) sandboxed code runs as, or ``None`` to keep our own.

    Only root can switch users. Each sandbox gets an id of its own (derived from the sandbox
    id, so it survives restarts): RLIMIT_NPROC counts per user, which makes the process cap a
    per-sandbox cap. Without bubblewrap the sandbox user must be able to reach the sandbox
    directory and the interpreter on the host; if not, code keeps running as root.
    """
    if os.geteuid() != 0:
        return None
    reachable = (layout.workspace, Path(python), BOOT_DIR / "pyhooks" / "sitecustomize.py")
    if mode is IsolationMode.NONE and not all(map(_traversable, reachable)):
        return None
    uid = _UID_BASE + zlib.crc32(sandbox_id.encode()) % _UID_SPAN
    return uid, uid


def init_owner(owner: tuple[int, int] | None) -> tuple[int, int] | None:
    """The unprivileged host (uid, gid) bubblewrap and a sandbox's init run as (root only).

    It differs from the code's own ids, so code can neither signal nor trace the init.
    """
    if owner is None:
        return None
    return owner[0] + _UID_SPAN, owner[1] + _UID_SPAN


def base_env(
    layout: SandboxLayout, mode: IsolationMode, *, terminal: bool, root: bool = False
) -> dict[str, str]:
    """The environment every sandboxed process starts from (``terminal``: for a PTY;
    ``root``: code runs as the root of its own user namespace, a writable system)."""
    isolated = mode is IsolationMode.BWRAP
    user = "root" if root else "user"
    env = {
        "PATH": BASE_PATH,
        "HOME": "/workspace" if isolated else str(layout.workspace),
        "TMPDIR": "/tmp" if isolated else str(layout.tmp),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "HOSTNAME": layout.sandbox_id,
        "HOPX_SANDBOX_ID": layout.sandbox_id,
        "PYTHONUNBUFFERED": "1",
    }
    if terminal:
        env["TERM"] = "xterm-256color"
    return env


def python_hooks(
    env: dict[str, str], mode: IsolationMode, workdir: str, rich_dir: str | None
) -> dict[str, str]:
    """Add the start-up hooks (rich outputs) and the working directory to a Python env."""
    site = f"{BOOT_MOUNT}/pyhooks" if mode is IsolationMode.BWRAP else str(BOOT_DIR / "pyhooks")
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(part for part in (site, extra, workdir) if part)
    env.setdefault("MPLBACKEND", "module://hopx_inline")
    if rich_dir is not None:
        env["HOPX_RICH_OUTPUT_DIR"] = rich_dir
    return env


def make_exec_dir(
    layout: SandboxLayout,
    mode: IsolationMode,
    owner: tuple[int, int] | None,
    execution_id: str,
    source: tuple[str, str] | None,
) -> tuple[Path, str, str | None, str | None]:
    """Create the per-run directory: (host dir, sandbox view, source path, rich dir).

    The directory lives in the runtime's state (not in the sandbox's writable /tmp), so
    sandboxed code cannot swap it for a symlink; with bubblewrap it is bound at
    :data:`EXEC_MOUNT`. ``source`` is (file name, code).
    """
    host = layout.exec_root / execution_id
    layout.exec_root.mkdir(parents=True, exist_ok=True, mode=0o755)
    host.mkdir(mode=0o755)
    view = f"{EXEC_MOUNT}/{execution_id}" if mode is IsolationMode.BWRAP else str(host)
    source_path = None
    if source is not None:
        name, code = source
        (host / name).write_text(code, "utf-8")
        source_path = f"{view}/{name}"
    rich = host / "rich"
    rich.mkdir(mode=0o700)
    if owner is not None:
        os.chown(rich, *owner)
    return host, view, source_path, f"{view}/rich"


def _read_output(rich: int, name: str, budget: int) -> bytes | None:
    """A rich output file's bytes, or None unless it is a regular file within the budget.

    Opened non-blocking and without following links: a FIFO, device or symlink that code put
    there is skipped instead of blocking the server or leading it elsewhere.
    """
    try:
        fd = os.open(name, _OPEN_OUTPUT, dir_fd=rich)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > budget:
            return None
        return os.read(fd, info.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_rich_outputs(exec_dir: Path) -> list[dict[str, Any]]:
    """The rich outputs a Python run recorded, in order (bounded; links and junk ignored).

    Blocking (a directory listing and file reads): call it from a worker thread.
    """
    outputs: list[dict[str, Any]] = []
    try:
        rich = os.open(exec_dir / "rich", _OPEN_DIR)
    except OSError:
        return outputs
    try:
        names: list[str] = []
        with os.scandir(rich) as entries:
            for entry in entries:
                if entry.name.endswith(".json"):
                    names.append(entry.name)
                if len(names) >= _RICH_MAX_FILES:
                    break
        budget = _RICH_LIMIT
        for name in sorted(names):
            raw = _read_output(rich, name, budget)
            if raw is None:
                continue
            budget -= len(raw)
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("type"), str) and "data" in item:
                outputs.append({"type": item["type"], "data": item["data"]})
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
    finally:
        os.close(rich)
    return outputs


def remove_exec_dir(exec_dir: Path | None) -> None:
    """Delete a per-run directory (never following links inside it)."""
    if exec_dir is not None:
        shutil.rmtree(exec_dir, ignore_errors=True)


def merge_env(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win: base env < stored env < request env."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged
