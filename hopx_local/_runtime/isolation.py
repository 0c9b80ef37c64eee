"""How sandboxed processes are isolated: bubblewrap namespaces, or plain processes as a fallback."""

from __future__ import annotations

import enum
import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import attrs

__all__ = [
    "BOOT_DIR",
    "BOOT_MOUNT",
    "IsolationMode",
    "SandboxLayout",
    "bwrap_argv",
    "bwrap_path",
    "isolation_warning",
    "resolve_isolation",
]

log = logging.getLogger("hopx.local.runtime")

#: Helper files (the launcher and the Python start-up hooks) shipped with the runtime.
BOOT_DIR = Path(__file__).resolve().parent / "_boot"
#: Where the helper directory appears, read-only, inside a bubblewrap sandbox.
BOOT_MOUNT = "/run/hopx"

#: Top-level system directories a sandbox sees read-only (symlinks are recreated as symlinks).
_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

#: Entries of /etc a sandbox sees read-only: name service, dynamic linker, TLS roots, shells.
_ETC_ENTRIES = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "profile",
    "profile.d",
    "protocols",
    "resolv.conf",
    "services",
    "shells",
    "ssl",
    "terminfo",
    "timezone",
)


class IsolationMode(enum.Enum):
    """How a sandbox's processes are separated from the host."""

    BWRAP = "bwrap"
    NONE = "none"


def bwrap_path() -> str | None:
    """The bubblewrap executable, if installed."""
    return shutil.which("bwrap")


def _probe_argv(bwrap: str) -> list[str]:
    argv = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-net", "--proc", "/proc", "--dev", "/dev"]
    if os.geteuid() != 0:
        argv.append("--unshare-user")
    argv += _system_binds()
    return [*argv, "true"]


@functools.cache
def _bwrap_works() -> bool:
    bwrap = bwrap_path()
    if bwrap is None:
        return False
    try:
        done = subprocess.run(_probe_argv(bwrap), capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("bubblewrap probe failed: %s", exc)
        return False
    if done.returncode != 0:
        log.warning("bubblewrap probe failed: %s", done.stderr.decode(errors="replace").strip())
    return done.returncode == 0


def resolve_isolation(requested: str) -> IsolationMode:
    """Turn ``"auto"``, ``"bwrap"`` or ``"none"`` into the mode sandboxes will really use.

    ``auto`` picks bubblewrap when it is installed and a probe sandbox runs; otherwise it falls
    back to plain processes with a warning. ``bwrap`` insists (ValueError if unusable).
    """
    choice = requested.strip().lower()
    if choice == "none":
        return IsolationMode.NONE
    if choice not in ("auto", "bwrap"):
        raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', not {requested!r}")
    if _bwrap_works():
        return IsolationMode.BWRAP
    if choice == "bwrap":
        raise ValueError("bubblewrap isolation requested but bwrap is missing or does not work")
    log.warning("%s", isolation_warning(IsolationMode.NONE))
    return IsolationMode.NONE


def isolation_warning(mode: IsolationMode) -> str | None:
    """A warning to show users when sandboxes are not isolated; ``None`` when they are."""
    if mode is IsolationMode.BWRAP:
        return None
    return (
        "WARNING: sandboxes run as plain host processes (bubblewrap unavailable or disabled). "
        "Code sees the real host filesystem, network and processes; /workspace and /tmp are "
        "only mapped for the file API and working directories, and executed code sees host "
        "paths. Resource limits still apply. Do not run untrusted code in this mode."
    )


@attrs.frozen
class SandboxLayout:
    """Host directories of one sandbox and how they appear inside it."""

    sandbox_id: str
    root: Path

    @property
    def workspace(self) -> Path:
        """Host directory shown as ``/workspace``."""
        return self.root / "workspace"

    @property
    def tmp(self) -> Path:
        """Host directory shown as ``/tmp``."""
        return self.root / "tmp"

    @property
    def state(self) -> Path:
        """Host directory for the runtime's own files (never visible to sandboxed code)."""
        return self.root / "state"


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    return args


def _outside_system_dirs(paths: Iterable[str]) -> list[str]:
    system = tuple(f"/{name}/" for name in _SYSTEM_DIRS)
    extra: list[str] = []
    for path in paths:
        if not (path + "/").startswith(system) and path not in extra:
            extra.append(path)
    return extra


def bwrap_argv(
    layout: SandboxLayout,
    *,
    internet_access: bool,
    workdir: str,
    terminal: bool,
    interpreter_dirs: Iterable[str] = (),
) -> list[str]:
    """The bubblewrap command line (without the command) for one sandboxed process.

    The sandbox sees: read-only system directories and a selection of /etc, the Python
    installation and other interpreter prefixes read-only, its own ``/workspace`` and ``/tmp``
    read-write, the runtime helpers at :data:`BOOT_MOUNT`, a fresh ``/proc`` and a minimal
    ``/dev``; it has its own pid, ipc, uts (hostname = sandbox id) and, without internet
    access, network namespace (loopback only). The terminal keeps the session so job control
    works on its own PTY; every other process gets a new session (no TIOCSTI into a host tty).
    """
    bwrap = bwrap_path() or "bwrap"
    argv = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", layout.sandbox_id[:63]]
    if not internet_access:
        argv.append("--unshare-net")
    if os.geteuid() != 0:
        argv.append("--unshare-user")
    argv += _system_binds()
    for name in _ETC_ENTRIES:
        if os.path.lexists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for name in ("passwd", "group"):
        generated = layout.state / name
        if generated.exists():
            argv += ["--ro-bind", str(generated), f"/etc/{name}"]
    prefixes = [os.path.realpath(sys.base_prefix), *interpreter_dirs]
    for prefix in _outside_system_dirs(prefixes):
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--bind", str(layout.workspace), "/workspace", "--bind", str(layout.tmp), "/tmp"]
    argv += ["--ro-bind", str(BOOT_DIR), BOOT_MOUNT, "--chdir", workdir]
    if not terminal:
        argv.append("--new-session")
    return [argv[0], *_parent_dirs(argv), *argv[1:], "--"]


#: bubblewrap options whose last argument is a path created inside the sandbox.
_MOUNT_OPTIONS = frozenset({"--ro-bind", "--bind", "--symlink", "--proc", "--dev", "--dir"})


def _parent_dirs(argv: list[str]) -> list[str]:
    """``--dir`` options creating every mount point's parents world-readable (0755).

    bubblewrap creates missing parents with mode 0700, which the unprivileged sandbox user
    could not traverse.
    """
    wanted: list[str] = []
    for index, option in enumerate(argv):
        if option not in _MOUNT_OPTIONS:
            continue
        arity = 1 if option in ("--proc", "--dev", "--dir") else 2
        destination = argv[index + arity]
        for parent in reversed(Path(destination).parents):
            if str(parent) != "/" and str(parent) not in wanted:
                wanted.append(str(parent))
    created: list[str] = []
    for directory in wanted:
        created += ["--perms", "0755", "--dir", directory]
    return created
