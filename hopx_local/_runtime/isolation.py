"""How sandboxed processes are isolated: bubblewrap namespaces, or plain processes as a fallback."""

from __future__ import annotations

import enum
import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

import attrs

__all__ = [
    "BOOT_DIR",
    "BOOT_MOUNT",
    "CODE_ID",
    "ETC_ENTRIES",
    "SYSTEM_DIRS",
    "IsolationMode",
    "SandboxLayout",
    "bwrap_path",
    "isolation_warning",
    "resolve_isolation",
]

log = logging.getLogger("hopx.local.runtime")

#: Helper files (the sandbox init and the Python start-up hooks) shipped with the runtime.
BOOT_DIR = Path(__file__).resolve().parent / "_boot"
#: Where copies of the helper files appear, read-only, inside a bubblewrap sandbox.
BOOT_MOUNT = "/run/hopx"
#: The user and group id sandboxed code has inside a bubblewrap sandbox (``user``).
CODE_ID = 1000

#: Top-level system directories a sandbox sees read-only (symlinks are recreated as symlinks).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

#: Entries of /etc a sandbox sees read-only: name service, dynamic linker, TLS roots, shells.
ETC_ENTRIES = (
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


#: The unprivileged user a root server runs its probe sandbox as.
_PROBE_UID = 65534


def _probe_argv(bwrap: str) -> list[str]:
    argv = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-net", "--die-with-parent", "--as-pid-1", "--proc", "/proc"]
    argv += ["--dev", "/dev", "--cap-add", "CAP_SYS_ADMIN"]
    for name in SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    return [*argv, "true"]


@functools.cache
def _bwrap_works() -> bool:
    bwrap = bwrap_path()
    if bwrap is None:
        return False
    try:
        root = os.geteuid() == 0
        done = subprocess.run(
            _probe_argv(bwrap),
            capture_output=True,
            timeout=20,
            check=False,
            cwd="/",
            user=_PROBE_UID if root else None,
            group=_PROBE_UID if root else None,
            extra_groups=[] if root else None,
        )
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
    """Host directories of one sandbox and how they appear inside it.

    ``data`` is the mounted volume that caps the size of everything sandboxed code can write
    (``workspace/``, ``tmp/``, ``exec/``, ``logs/``); without one, ``workspace/`` and ``tmp/``
    are in the sandbox root and ``exec/`` and ``logs/`` in ``state/``.
    """

    sandbox_id: str
    root: Path
    data: Path | None = None

    @property
    def volume_root(self) -> Path:
        """The directory holding the writable tree."""
        return self.data if self.data is not None else self.root

    @property
    def workspace(self) -> Path:
        """Host directory shown as ``/workspace``."""
        return self.volume_root / "workspace"

    @property
    def tmp(self) -> Path:
        """Host directory shown as ``/tmp``."""
        return self.volume_root / "tmp"

    @property
    def exec_root(self) -> Path:
        """Host directory of the per-execution directories (source files, rich outputs)."""
        return self.data / "exec" if self.data is not None else self.state / "exec"

    @property
    def logs(self) -> Path:
        """Host directory of background processes' output (never visible to sandboxed code)."""
        return self.data / "logs" if self.data is not None else self.state / "logs"

    @property
    def system(self) -> Path:
        """Host directory of the sandbox's own layers of its writable system (its changes to
        ``/usr``, ``/etc``, ... ; never visible to sandboxed code as such)."""
        return self.volume_root / "system"

    @property
    def state(self) -> Path:
        """Host directory for the runtime's own files (never visible to sandboxed code)."""
        return self.root / "state"
