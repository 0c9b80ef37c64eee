"""One cgroup per sandbox: memory, CPU and task limits for the sandbox as a whole, freezing,
and a reliable list of its processes (cgroup v1 controllers or the v2 unified hierarchy).

Sandbox cgroups are created next to the server's processes: directly in the server's own
cgroup of each v1 hierarchy, so that each sandbox weighs as much as one process of the host
when CPUs are contended (not all sandboxes together), or, on v2 (where a cgroup holding
processes cannot delegate controllers), in a ``hopx-local-<pid>`` directory beside the
server's cgroup. Each is named ``hopx-local-<server pid>-<sandbox id>``; those of servers
that are gone are removed at start-up. Where the kernel or the user's permissions do not
allow any of this, there is no cgroup and the runtime says so.

CPU: ``vcpu`` is a CFS quota over a short period (10 ms), so a sandbox at its quota holds the
host's cores for a few milliseconds at a time, never for a tenth of a second. A quota alone
does not keep one sandbox's CPU hog off another's latency: on a host with few cores the hog's
threads are queued on every core, beside the server and the other sandbox's short-lived
processes, and win their fair share of each. So the :class:`CpuGovernor` watches each
sandbox's cgroup and lowers its CPU weight once it has kept its CPUs busy for seconds on end
(its quota throttles it, or a thread of it stays runnable all along); its weight comes back
once it calms down. Short bursts, such as a Jupyter kernel running many short cells, are never
demoted. A demoted sandbox still gets every CPU cycle nobody else wants.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import signal
import threading
import time
import weakref
from pathlib import Path

import attrs

__all__ = ["CgroupHost", "CgroupLimits", "CpuGovernor", "SandboxCgroup", "cgroup_host", "governor"]

log = logging.getLogger("hopx.local.runtime")

_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
#: The CFS period: short, so that a sandbox at its quota waits often and briefly.
_CFS_PERIOD_US = 10_000
#: The smallest quota the kernel takes, in microseconds (a smaller vcpu gets a longer period).
_MIN_QUOTA_US = 1_000
#: A sandbox's CPU weight (v1 ``cpu.shares``, v2 ``cpu.weight``): as much as one host process;
#: a sandbox that keeps its CPUs busy gets a sixteenth of that.
NORMAL_WEIGHT = {"v1": 1024, "v2": 100}
DEMOTED_WEIGHT = {"v1": 64, "v2": 6}
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
    """The cgroup(s) of one sandbox: created with limits, joined by its init, removed last.

    ``host`` says where the cgroups go, ``name`` names them (with the server's pid), and
    ``cpu_governor`` watches the sandbox's CPU use (the server's one :func:`governor` when
    ``None``).
    """

    def __init__(
        self, host: CgroupHost, name: str, *, cpu_governor: CpuGovernor | None = None
    ) -> None:
        self.host = host
        self.cpu_governor = cpu_governor
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
            period = max(_CFS_PERIOD_US, int(_MIN_QUOTA_US / limits.cpus) + 1)
            quota = max(_MIN_QUOTA_US, int(limits.cpus * period))
            # Up to one period's quota left unused may be spent later: a single thread that
            # moves between cores (whose per-core share of the quota is left behind) is not
            # throttled below its quota; on average the sandbox still gets at most ``cpus``.
            # The kernel refuses a burst above the quota, so an old one is cleared first.
            burst = cpu / ("cpu.cfs_burst_us" if v1 else "cpu.max.burst")
            if v1:
                # The quota is dropped first: a period below the old quota is refused.
                (cpu / "cpu.cfs_quota_us").write_text("-1")
                if burst.exists():
                    burst.write_text("0")
                (cpu / "cpu.cfs_period_us").write_text(str(period))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                if burst.exists():
                    burst.write_text("0")
                (cpu / "cpu.max").write_text(f"{quota} {period}")
            if burst.exists():
                burst.write_text(str(quota))
        if cpu is not None:
            self.set_weight(NORMAL_WEIGHT[self.host.version])
        pids = self.dirs.get("pids")
        if pids is not None and limits.max_tasks is not None:
            (pids / "pids.max").write_text(str(limits.max_tasks))

    def watch_cpu(self) -> None:
        """Have the CPU governor watch the sandbox (once it runs; until :meth:`remove`)."""
        if "cpu" in self.dirs:
            (self.cpu_governor or governor()).watch(self)

    def set_weight(self, weight: int) -> None:
        """Write the sandbox's CPU weight (``cpu.shares`` on v1, ``cpu.weight`` on v2)."""
        cpu = self.dirs.get("cpu")
        if cpu is not None:
            name = "cpu.shares" if self.host.version == "v1" else "cpu.weight"
            (cpu / name).write_text(str(weight))

    def cpu_stat(self) -> dict[str, int]:
        """The sandbox's ``cpu.stat`` counters (``nr_periods``, ``nr_throttled``, ...)."""
        cpu = self.dirs.get("cpu")
        found: dict[str, int] = {}
        if cpu is None:
            return found
        with contextlib.suppress(OSError):
            for line in (cpu / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if value.strip().isdigit():
                    found[key] = int(value)
        return found

    def cfs_period(self) -> float:
        """The sandbox's CFS period in seconds, 0 when it has no quota (or no cpu cgroup)."""
        cpu = self.dirs.get("cpu")
        if cpu is None:
            return 0.0
        try:
            if self.host.version == "v1":
                quota = (cpu / "cpu.cfs_quota_us").read_text().strip()
                period = (cpu / "cpu.cfs_period_us").read_text().strip()
            else:
                quota, period = (cpu / "cpu.max").read_text().split()
        except (OSError, ValueError):
            return 0.0
        if quota in ("-1", "max") or not period.isdigit():
            return 0.0
        return int(period) / 1e6

    def threads(self, limit: int) -> list[int]:
        """Up to ``limit`` thread ids in the sandbox's ``cpu`` cgroup."""
        cpu = self.dirs.get("cpu")
        if cpu is None:
            return []
        name = "tasks" if self.host.version == "v1" else "cgroup.threads"
        try:
            with open(cpu / name) as handle:
                return [int(line) for line, _ in zip(handle, range(limit), strict=False)]
        except (OSError, ValueError):
            return []

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
        (self.cpu_governor or governor()).forget(self)
        for directory in self._unique_dirs():
            with contextlib.suppress(OSError):
                directory.rmdir()


def _runnable_ns(tid: int) -> int | None:
    """Nanoseconds thread ``tid`` has run or waited to run (``/proc/<tid>/schedstat``)."""
    try:
        with open(f"/proc/{tid}/schedstat", "rb") as handle:
            ran, waited, _slices = handle.read().split()
        return int(ran) + int(waited)
    except (OSError, ValueError):
        return None


@attrs.frozen
class _Look:
    """What the governor read of one sandbox at one moment."""

    at: float
    periods: int
    throttled: int
    #: The CFS period in seconds (0 when the sandbox has no quota).
    period: float
    #: thread id -> (when first seen, nanoseconds runnable so far, when read)
    runnable: dict[int, tuple[float, int, float]]


@attrs.define
class _Watched:
    """The governor's record of one sandbox: its recent looks, oldest first."""

    looks: collections.deque[_Look] = attrs.Factory(collections.deque)
    busy_looks: int = 0
    calm_looks: int = 0
    demoted: bool = False


class CpuGovernor:
    """Lowers the CPU weight of the sandboxes that keep their CPUs busy for seconds on end.

    Every ``interval`` seconds (in a thread of its own, while any sandbox is watched; with an
    ``interval`` of 0 there is no thread and the caller calls :meth:`look`) it reads each
    sandbox's ``cpu.stat`` and the scheduler statistics of up to ``max_threads`` of its
    threads, and judges the sandbox over the last ``window`` seconds (since the previous
    look when ``window`` is 0). The sandbox is busy over a span when one of its threads
    older than ``min_age`` seconds was runnable (running or waiting for a CPU) for at least
    ``spin_fraction`` of it, or such threads together for at least ``busy_threads`` threads'
    worth of it, or when its quota throttled it in at least half of the CFS periods it was
    active in while it was active for at least half of the span. Waiting counts so that a
    hog is still seen while others win the CPU from it (no see-saw; the time its quota holds
    it back is not counted, hence fractions below one). A thread that serves short requests
    (a Jupyter kernel running one short cell after another) sleeps between them and is
    runnable for about half of a window at most, however long a loaded machine makes each
    request wait. After ``demote_after`` looks busy over the whole window in a row the
    sandbox gets :data:`DEMOTED_WEIGHT`; after ``restore_after`` looks calm since the
    previous one, its normal weight again.
    """

    def __init__(
        self,
        *,
        interval: float = 0.25,
        window: float = 3.0,
        spin_fraction: float = 0.75,
        busy_threads: float = 2.5,
        min_age: float = 1.0,
        demote_after: int = 2,
        restore_after: int = 8,
        max_threads: int = 64,
    ) -> None:
        self.interval = interval
        self.window = window
        self.spin_fraction = spin_fraction
        self.busy_threads = busy_threads
        self.min_age = min_age
        self.demote_after = demote_after
        self.restore_after = restore_after
        self.max_threads = max_threads
        self._watched: weakref.WeakKeyDictionary[SandboxCgroup, _Watched] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, cgroup: SandboxCgroup) -> None:
        """Start watching ``cgroup`` (a thread runs while any cgroup is watched)."""
        with self._lock:
            self._watched[cgroup] = _Watched()
            if self._thread is None and self.interval > 0:
                self._thread = threading.Thread(
                    target=self._run, name="hopx-cpu-governor", daemon=True
                )
                self._thread.start()

    def forget(self, cgroup: SandboxCgroup) -> None:
        """Stop watching ``cgroup``."""
        with self._lock:
            self._watched.pop(cgroup, None)

    def demoted(self, cgroup: SandboxCgroup) -> bool:
        """Whether ``cgroup`` has the lowered weight now."""
        with self._lock:
            seen = self._watched.get(cgroup)
        return seen is not None and seen.demoted

    def _run(self) -> None:
        while True:
            with self._lock:
                cgroups = list(self._watched)
                if not cgroups:
                    self._thread = None
                    return
            for cgroup in cgroups:
                try:
                    self.look(cgroup)
                except Exception:  # a sandbox going away mid-look, a refused write
                    log.debug("CPU governor: %s", cgroup.dirs.get("cpu"), exc_info=True)
            time.sleep(self.interval)

    def _busy(self, before: _Look, now: _Look) -> bool:
        """Whether the sandbox was busy from look ``before`` to look ``now``."""
        elapsed_ns = max(1.0, (now.at - before.at) * 1e9)
        together = 0.0
        for tid, (first, value, read) in now.runnable.items():
            old = before.runnable.get(tid)
            if old is None or old[0] != first or now.at - first < self.min_age:
                continue  # born since ``before`` (or too young): not runnable all along
            # Over the time between the two reads of this thread, not of the looks: a look
            # that waited for a CPU itself does not make a spinning thread look calm.
            fraction = (value - old[1]) / max(1.0, (read - old[2]) * 1e9)
            together += fraction
            if fraction >= self.spin_fraction or together >= self.busy_threads:
                return True
        periods = now.periods - before.periods
        throttled = now.throttled - before.throttled
        active = periods * now.period * 1e9 * 2 >= elapsed_ns if now.period > 0 else True
        return periods > 0 and throttled * 2 >= periods and active

    def look(self, cgroup: SandboxCgroup) -> None:
        """One look at ``cgroup``: count it busy or calm, and demote or restore it."""
        now = time.monotonic()
        stat = cgroup.cpu_stat()
        with self._lock:
            watched = self._watched.get(cgroup)
        if watched is None:
            return
        last = watched.looks[-1] if watched.looks else None
        seen = last.runnable if last is not None else {}
        runnable: dict[int, tuple[float, int, float]] = {}
        for tid in cgroup.threads(self.max_threads):
            value = _runnable_ns(tid)
            if value is None:
                continue
            read = time.monotonic()
            first, before, _read = seen.get(tid, (now, value, read))
            if value < before:  # the id was reused by a new thread
                first = now
            runnable[tid] = (first, value, read)
        current = _Look(
            now,
            stat.get("nr_periods", 0),
            stat.get("nr_throttled", 0),
            cgroup.cfs_period(),
            runnable,
        )
        looks = watched.looks
        looks.append(current)
        if last is None:
            return
        # The newest look at least ``window`` old is where the window starts; older ones
        # are no longer needed.
        while len(looks) > 2 and now - looks[1].at >= self.window:
            looks.popleft()
        start = looks[0] if self.window > 0 else last
        sustained = now - start.at >= self.window and self._busy(start, current)
        watched.busy_looks = watched.busy_looks + 1 if sustained else 0
        watched.calm_looks = 0 if self._busy(last, current) else watched.calm_looks + 1
        with self._lock:
            if self._watched.get(cgroup) is not watched:
                return  # forgotten meanwhile: no more writes
            if not watched.demoted and watched.busy_looks >= self.demote_after:
                cgroup.set_weight(DEMOTED_WEIGHT[cgroup.host.version])
                watched.demoted = True
            elif watched.demoted and watched.calm_looks >= self.restore_after:
                cgroup.set_weight(NORMAL_WEIGHT[cgroup.host.version])
                watched.demoted = False


@functools.cache
def governor() -> CpuGovernor:
    """The server's one :class:`CpuGovernor`."""
    return CpuGovernor()
