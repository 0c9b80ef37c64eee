"""One cgroup per sandbox: memory, CPU and task limits for the sandbox as a whole, freezing,
and a reliable list of its processes (cgroup v1 controllers or the v2 unified hierarchy).

Sandbox cgroups are created next to the server's processes: directly in the server's own
cgroup of each v1 hierarchy, so that each sandbox weighs as much as one process of the host
when CPUs are contended (not all sandboxes together), or, on v2 (where a cgroup holding
processes cannot delegate controllers), in a ``hopx-local-<pid>`` directory beside the
server's cgroup. Each is named ``hopx-local-<server pid>-<sandbox id>``; those of servers
that are gone are removed at start-up. Where the kernel or the user's permissions do not
allow any of this, there is no cgroup and the runtime says so.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from pathlib import Path

import attrs

__all__ = ["CgroupHost", "CgroupLimits", "SandboxCgroup", "cgroup_host"]

log = logging.getLogger("hopx.local.runtime")

_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
_CFS_PERIOD_US = 100_000
_PREFIX = "hopx-local-"


@attrs.frozen
class CgroupLimits:
    """What one sandbox may use in total: bytes of memory, CPUs' worth of time, tasks."""

    memory_bytes: int | None = None
    cpus: float | None = None
    max_tasks: int | None = None


@attrs.frozen
class CgroupHost:
    """Where this server may create sandbox cgroups.

    ``version`` is ``"v1"`` or ``"v2"``; ``bases`` maps each usable controller (``memory``,
    ``cpu``, ``pids``, ``freezer``) to the directory sandbox cgroups are created in (on v2 all
    share one directory).
    """

    version: str
    bases: dict[str, Path]

    @property
    def controllers(self) -> frozenset[str]:
        """The controllers sandboxes get."""
        return frozenset(self.bases)


def _mounts() -> list[tuple[str, str, set[str]]]:
    found: list[tuple[str, str, set[str]]] = []
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((tail[0], fields[4], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, names, path = line.split(":", 2)
            for name in names.split(",") if names else ["unified"]:
                paths[name] = path
    return paths


def _writable_base(parent: Path, *, own_directory: bool) -> Path | None:
    """Where this server's sandbox cgroups go below ``parent`` (None if it may not)."""
    base = parent / f"{_PREFIX}{os.getpid()}"
    try:
        base.mkdir(exist_ok=True)
        if not own_directory:
            base.rmdir()
    except OSError:
        return None
    _remove_stale(parent)
    return base if own_directory else parent


def _remove_stale(parent: Path) -> None:
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            pid = entry.name.removeprefix(_PREFIX).split("-", 1)[0]
            if entry.name.startswith(_PREFIX) and pid.isdigit() and not _alive(int(pid)):
                for child in entry.iterdir():
                    if child.is_dir():
                        with contextlib.suppress(OSError):
                            child.rmdir()
                with contextlib.suppress(OSError):
                    entry.rmdir()


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _detect_v1(mounts: list[tuple[str, str, set[str]]]) -> CgroupHost | None:
    own = _own_paths()
    bases: dict[str, Path] = {}
    for fstype, point, options in mounts:
        for controller in _CONTROLLERS:
            if fstype == "cgroup" and controller in options and controller not in bases:
                parent = Path(point) / own.get(controller, "/").lstrip("/")
                base = _writable_base(parent, own_directory=False)
                if base is not None:
                    bases[controller] = base
    return CgroupHost("v1", bases) if bases else None


def _detect_v2(mounts: list[tuple[str, str, set[str]]]) -> CgroupHost | None:
    points = [point for fstype, point, _options in mounts if fstype == "cgroup2"]
    if not points:
        return None
    own = Path(points[0]) / _own_paths().get("unified", "/").lstrip("/")
    parent = own if own == Path(points[0]) else own.parent
    try:
        available = set((parent / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    wanted = available & {"memory", "cpu", "pids"}
    base = _writable_base(parent, own_directory=True)
    if base is None:
        return None
    try:
        if wanted:
            (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        log.info("cgroup v2 controllers %s not delegated here: %s", sorted(wanted), exc)
        wanted = set()
    names = {*wanted, "freezer"} if (base / "cgroup.freeze").exists() else wanted
    return CgroupHost("v2", dict.fromkeys(names, base))


@functools.cache
def cgroup_host() -> CgroupHost | None:
    """The cgroups this server can use (v1 controllers first, then v2), or ``None``."""
    mounts = _mounts()
    v1 = _detect_v1(mounts)
    if v1 is not None and "memory" in v1.bases:
        return v1
    return _detect_v2(mounts) or v1


class SandboxCgroup:
    """The cgroup(s) of one sandbox: created with limits, joined by its init, removed last."""

    def __init__(self, host: CgroupHost, name: str) -> None:
        self.host = host
        leaf = f"{_PREFIX}{os.getpid()}-{name}"
        self.dirs = {controller: base / leaf for controller, base in host.bases.items()}

    def _unique_dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.dirs.values()))

    def create(self, limits: CgroupLimits) -> None:
        """Make the directories and write the limits (OSError if the kernel refuses)."""
        for directory in self._unique_dirs():
            directory.mkdir(exist_ok=True)
        v1 = self.host.version == "v1"
        memory = self.dirs.get("memory")
        if memory is not None and limits.memory_bytes is not None:
            value = str(limits.memory_bytes)
            for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max"):
                if (memory / name).exists():
                    (memory / name).write_text(value)
            if not v1 and (memory / "memory.swap.max").exists():
                (memory / "memory.swap.max").write_text("0")
        cpu = self.dirs.get("cpu")
        if cpu is not None and limits.cpus is not None:
            quota = max(1000, int(limits.cpus * _CFS_PERIOD_US))
            if v1:
                (cpu / "cpu.cfs_period_us").write_text(str(_CFS_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (cpu / "cpu.max").write_text(f"{quota} {_CFS_PERIOD_US}")
        pids = self.dirs.get("pids")
        if pids is not None and limits.max_tasks is not None:
            (pids / "pids.max").write_text(str(limits.max_tasks))

    def add(self, pid: int) -> None:
        """Move a process (and so everything it starts later) into the sandbox's cgroups."""
        for directory in self._unique_dirs():
            (directory / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        """Every process in the sandbox's cgroups."""
        found: set[int] = set()
        for directory in self._unique_dirs():
            with contextlib.suppress(OSError, ValueError):
                found |= {int(line) for line in (directory / "cgroup.procs").read_text().split()}
        return found

    def _set_frozen(self, frozen: bool) -> None:
        freezer = self.dirs.get("freezer")
        if freezer is None or not freezer.is_dir():
            return
        if self.host.version == "v1":
            (freezer / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
            for _attempt in range(200):
                if not frozen or (freezer / "freezer.state").read_text().strip() == "FROZEN":
                    return
                time.sleep(0.005)
        else:
            (freezer / "cgroup.freeze").write_text("1" if frozen else "0")

    @property
    def can_freeze(self) -> bool:
        """Whether :meth:`freeze` really stops the sandbox (a freezer controller exists)."""
        return "freezer" in self.dirs

    def freeze(self) -> None:
        """Stop every process of the sandbox at once (no-op without a freezer)."""
        self._set_frozen(True)

    def thaw(self) -> None:
        """Let every process of the sandbox run again."""
        self._set_frozen(False)

    def kill_all(self, bound: float = 5.0) -> bool:
        """SIGKILL every process of the sandbox until none is left (or ``bound`` seconds
        passed); whether the cgroups are empty."""
        self.thaw()
        deadline = time.monotonic() + bound
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Remove the (empty) cgroup directories."""
        for directory in self._unique_dirs():
            with contextlib.suppress(OSError):
                directory.rmdir()
