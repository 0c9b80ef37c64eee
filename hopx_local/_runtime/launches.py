"""Preparing one run of sandboxed code: source file, working directory, environment, argv."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .isolation import BOOT_DIR, BOOT_MOUNT, IsolationMode, SandboxLayout
from .process import EXEC_MOUNT

__all__ = ["BASE_PATH", "Launch", "base_env", "read_rich_outputs", "sandbox_owner"]

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Rich outputs of one execution are bounded in total size.
_RICH_LIMIT = 32 << 20
#: Sandbox user ids are picked from this range, one per sandbox id.
_UID_BASE, _UID_SPAN = 200_000, 800_000


@attrs.frozen
class Launch:
    """Everything needed to start one sandboxed process."""

    execution_id: str
    command: list[str]
    env: dict[str, str]
    host_workdir: Path
    exec_dir: Path | None
    language: str


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
    import zlib

    if os.geteuid() != 0:
        return None
    reachable = (layout.workspace, Path(python), BOOT_DIR / "launch.py")
    if mode is IsolationMode.NONE and not all(map(_traversable, reachable)):
        return None
    uid = _UID_BASE + zlib.crc32(sandbox_id.encode()) % _UID_SPAN
    return uid, uid


def write_identity_files(layout: SandboxLayout, owner: tuple[int, int]) -> None:
    """/etc/passwd and /etc/group for bubblewrap, naming the sandbox user ``user``."""
    uid, gid = owner
    passwd = (
        "root:x:0:0:root:/root:/bin/bash\n"
        f"user:x:{uid}:{gid}:sandbox user:/workspace:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\nuser:x:{gid}:\nnogroup:x:65534:\n"
    for name, text in (("passwd", passwd), ("group", group)):
        (layout.state / name).write_text(text, "utf-8")


def base_env(layout: SandboxLayout, mode: IsolationMode, *, terminal: bool) -> dict[str, str]:
    """The environment every sandboxed process starts from."""
    isolated = mode is IsolationMode.BWRAP
    env = {
        "PATH": BASE_PATH,
        "HOME": "/workspace" if isolated else str(layout.workspace),
        "TMPDIR": "/tmp" if isolated else str(layout.tmp),
        "USER": "user",
        "LOGNAME": "user",
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
    host = layout.state / "exec" / execution_id
    host.mkdir(parents=True, mode=0o755)
    view = EXEC_MOUNT if mode is IsolationMode.BWRAP else str(host)
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


def read_rich_outputs(exec_dir: Path) -> list[dict[str, Any]]:
    """The rich outputs a Python run recorded, in order (bounded; links and junk ignored)."""
    rich = exec_dir / "rich"
    outputs: list[dict[str, Any]] = []
    budget = _RICH_LIMIT
    try:
        names = sorted(name for name in os.listdir(rich) if name.endswith(".json"))
    except OSError:
        return outputs
    for name in names:
        try:
            fd = os.open(rich / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > budget:
                continue
            budget -= info.st_size
            raw = handle.read(info.st_size)
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("type"), str) and "data" in item:
            outputs.append({"type": item["type"], "data": item["data"]})
    return outputs


def remove_exec_dir(exec_dir: Path | None) -> None:
    """Delete a per-run directory (never following links inside it)."""
    if exec_dir is not None:
        shutil.rmtree(exec_dir, ignore_errors=True)


def interpreter_dirs(argv: Sequence[str]) -> list[str]:
    """Installation prefixes of the interpreters in ``argv`` (for read-only binds)."""
    dirs = []
    for arg in argv[:1]:
        real = os.path.realpath(arg)
        if os.path.isabs(real):
            dirs.append(os.path.dirname(os.path.dirname(real)))
    return dirs


def merge_env(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win: base env < stored env < request env."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged
