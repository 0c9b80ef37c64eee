"""Facts about host processes read from /proc: trees, owners, CPU time, memory, mounts."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

import attrs

__all__ = [
    "Mount",
    "ProcStat",
    "descendants",
    "instance_pids",
    "kill_all",
    "open_process",
    "process_mounts",
    "pids_owned_by",
    "read_stat",
    "signal_all",
    "start_ticks",
    "uptime_seconds",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

#: One-letter /proc states -> the words the agent reports.
_STATES: dict[str, str] = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "T": "stopped",
    "t": "tracing-stop",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
}


@attrs.frozen
class ProcStat:
    """A snapshot of one process."""

    pid: int
    ppid: int
    name: str
    state: str
    cpu_seconds: float
    rss_bytes: int
    start_ticks: int
    uid: int
    ns_pid: int
    command: str


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[1])


def read_stat(pid: int, ns_level: int = -1) -> ProcStat | None:
    """The process's current numbers, or ``None`` if it is gone.

    ``ns_pid`` is its pid in the pid namespace ``ns_level`` levels below the host's (the
    innermost by default).
    """
    raw = _read(f"/proc/{pid}/stat")
    status = _read(f"/proc/{pid}/status")
    if raw is None or status is None:
        return None
    name = raw[raw.find(b"(") + 1 : raw.rfind(b")")].decode(errors="replace")
    fields = raw[raw.rfind(b")") + 2 :].split()
    uid, ns_pid = -1, pid
    for line in status.splitlines():
        if line.startswith(b"Uid:"):
            uid = int(line.split()[1])
        elif line.startswith(b"NSpid:"):
            levels = line.split()[1:]
            ns_pid = int(levels[min(ns_level, len(levels) - 1)] if ns_level >= 0 else levels[-1])
    cmdline = _read(f"/proc/{pid}/cmdline") or b""
    command = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    state = fields[0].decode()
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        name=name,
        state=_STATES.get(state, state),
        cpu_seconds=(int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
        rss_bytes=int(fields[21]) * _PAGE_SIZE,
        start_ticks=int(fields[19]),
        uid=uid,
        ns_pid=ns_pid,
        command=command or f"[{name}]",
    )


def uptime_seconds() -> float:
    """Seconds since boot, in the clock of /proc start times."""
    raw = _read("/proc/uptime") or b"0 0"
    return float(raw.split()[0])


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        parent = _ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    return children


def _is_zombie(pid: int) -> bool:
    raw = _read(f"/proc/{pid}/stat")
    return raw is None or raw[raw.rfind(b")") + 2 :].split()[0] in (b"Z", b"X")


def instance_pids(init: int) -> set[int]:
    """The live processes a sandbox's init started: everything below it except the init
    itself and its own children (the helpers and reapers that start and watch programs)."""
    children = _children()
    helpers = {init, *children.get(init, ())}
    found: set[int] = set()
    pending = [child for helper in helpers - {init} for child in children.get(helper, ())]
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(children.get(pid, ()))
    return {pid for pid in found if not _is_zombie(pid)}


def descendants(roots: Iterable[int]) -> set[int]:
    """Every live process below the given ones (the roots included if alive)."""
    children = _children()
    found: set[int] = set()
    pending = [pid for pid in roots if os.path.exists(f"/proc/{pid}")]
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(children.get(pid, ()))
    return found


def pids_owned_by(uid: int) -> set[int]:
    """Live processes (zombies excluded) whose real user id is ``uid``."""
    owned: set[int] = set()
    for pid in _all_pids():
        status = _read(f"/proc/{pid}/status")
        lines = (status or b"").splitlines()
        zombie = any(line.startswith(b"State:") and b"Z" in line.split()[1:2] for line in lines)
        for line in lines:
            if line.startswith(b"Uid:"):
                if int(line.split()[1]) == uid and not zombie:
                    owned.add(pid)
                break
    return owned


def signal_all(pids: Iterable[int], signum: int) -> None:
    """Send a signal to each process, ignoring those already gone."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            continue


def kill_all(leader: int) -> None:
    """SIGKILL a process group leader, its group and every descendant."""
    tree = descendants([leader])
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    signal_all(tree, signal.SIGKILL)


@attrs.frozen
class Mount:
    """One line of a process's mount table (``/proc/<pid>/mountinfo``)."""

    mount_id: int
    point: str
    fstype: str
    writable: bool


def open_process(pid: int) -> int:
    """A descriptor of ``/proc/<pid>``: what is opened through it is that very process's (or
    fails once it is gone), even if the pid is reused meanwhile."""
    return os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _unescape(field: bytes) -> str:
    """A mountinfo path field, its ``\\ooo`` escapes (spaces, tabs, newlines) undone."""
    out = bytearray()
    index = 0
    while index < len(field):
        if field[index : index + 1] == b"\\" and field[index + 1 : index + 4].isdigit():
            out.append(int(field[index + 1 : index + 4], 8) & 0xFF)
            index += 4
        else:
            out += field[index : index + 1]
            index += 1
    return os.fsdecode(bytes(out))


def process_mounts(process: int) -> list[Mount]:
    """The mount table of the process open as ``process`` (see :func:`open_process`), mount
    points as that process sees them. Lines the kernel would not write are skipped."""
    fd = os.open("mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=process)
    with os.fdopen(fd, "rb") as handle:
        text = handle.read()
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(b" ")
        try:
            separator = fields.index(b"-", 6)
            mounts.append(
                Mount(
                    mount_id=int(fields[0]),
                    point=_unescape(fields[4]),
                    fstype=fields[separator + 1].decode(errors="replace"),
                    writable=b"rw" in fields[5].split(b","),
                )
            )
        except (ValueError, IndexError):
            continue
    return mounts


def start_ticks(process: int) -> int:
    """When the process open as ``process`` started, in clock ticks since boot (with its pid,
    it names the process for as long as the machine runs)."""
    fd = os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=process)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read()
    return int(raw[raw.rfind(b")") + 2 :].split()[19])
