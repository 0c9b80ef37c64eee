"""Tracking a sandbox's processes: the live set, background jobs, /proc views, signals."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import attrs

from .errors import fault
from .paths import rfc3339
from .process import SandboxProcess, exit_status
from .procfs import ProcStat, instance_pids, read_stat, signal_all, uptime_seconds
from .records import ProcessRecord

__all__ = ["BackgroundJob", "BackgroundTable", "SandboxProcesses"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class SandboxProcesses:
    """Every process of a sandbox, found through /proc below the sandbox's init.

    ``init_pid`` is the init's host pid while the sandbox runs. The init and the reapers it
    starts are the runtime's helpers, not the sandbox's processes, and are never listed,
    signalled or counted. ``ns_level`` is the pid namespace level whose pids are shown (1: the
    sandbox's own under bubblewrap, 0: the host's).
    """

    def __init__(self, ns_level: int = 0) -> None:
        self.init_pid: int | None = None
        self._ns_level = ns_level
        self._live: dict[int, SandboxProcess] = {}
        self._cpu_samples: dict[int, tuple[float, float]] = {}

    def add(self, process: SandboxProcess) -> None:
        """Track a process the sandbox started."""
        self._live[id(process)] = process

    def discard(self, process: SandboxProcess) -> None:
        """Stop tracking a finished process."""
        self._live.pop(id(process), None)

    @property
    def leaders(self) -> list[SandboxProcess]:
        """The processes the sandbox started that are still tracked."""
        return list(self._live.values())

    def pids(self) -> set[int]:
        """Host pids of every live process of the sandbox."""
        return instance_pids(self.init_pid) if self.init_pid is not None else set()

    def stats(self) -> list[ProcStat]:
        """/proc snapshots of the sandbox's processes."""
        found = (read_stat(pid, self._ns_level) for pid in sorted(self.pids()))
        return [stat for stat in found if stat is not None]

    def signal(self, signum: int) -> int:
        """Send a signal to every process of the sandbox; how many were signalled."""
        pids = self.pids()
        signal_all(pids, signum)
        return len(pids)

    def _cpu_percent(self, stat: ProcStat, now: float, booted: float) -> float:
        previous = self._cpu_samples.get(stat.pid)
        self._cpu_samples[stat.pid] = (stat.cpu_seconds, now)
        if previous is not None and now > previous[1]:
            return 100.0 * (stat.cpu_seconds - previous[0]) / (now - previous[1])
        lifetime = booted - stat.start_ticks / _CLOCK_TICKS
        return 100.0 * stat.cpu_seconds / lifetime if lifetime > 0 else 0.0

    def system_processes(self) -> list[dict[str, Any]]:
        """The sandbox's processes as the agent lists them (pids as seen inside the sandbox)."""
        now, booted = time.monotonic(), uptime_seconds()
        stats = self.stats()
        listed = [
            {
                "pid": stat.ns_pid,
                "name": stat.name,
                "status": stat.state,
                "cpu_percent": round(self._cpu_percent(stat, now, booted), 2),
                "memory_mb": round(stat.rss_bytes / (1 << 20), 3),
                "command": stat.command,
            }
            for stat in stats
        ]
        alive = {stat.pid for stat in stats}
        for pid in set(self._cpu_samples) - alive:
            del self._cpu_samples[pid]
        return listed


@attrs.define
class BackgroundJob:
    """A background process and what is known about it."""

    record: ProcessRecord
    process: SandboxProcess
    exec_dir: Path | None
    started: float
    killed: bool = False
    reaped: bool = False
    #: Seconds after which the process is killed (``None``: never).
    timeout: float | None = None


def _timed_out_error(limit: float | None) -> str:
    """What a process record says of a run killed at its timeout."""
    return f"Execution timed out after {limit:g} s" if limit else "Execution timed out"


class BackgroundTable:
    """Background processes by process id, with statuses updated as they finish."""

    def __init__(self, processes: SandboxProcesses) -> None:
        self._processes = processes
        self._jobs: dict[str, BackgroundJob] = {}

    def add(self, job: BackgroundJob) -> None:
        """Register a job that has just started."""
        self._jobs[job.record.process_id] = job
        self._processes.add(job.process)

    def _refresh(self, job: BackgroundJob) -> ProcessRecord:
        record = job.record
        returncode = job.process.returncode
        if record.status == "running":
            duration = round(time.monotonic() - job.started, 6)
            if returncode is None:
                return attrs.evolve(record, duration=duration)
            code = exit_status(returncode)
            status = "killed" if job.killed else ("completed" if code == 0 else "failed")
            timed_out = job.process.timed_out and not job.killed
            job.record = attrs.evolve(
                record,
                status=status,
                exit_code=code,
                end_time=rfc3339(time.time()),
                duration=duration,
                timed_out=True if timed_out else None,
                error=_timed_out_error(job.timeout) if timed_out else None,
            )
            self._processes.discard(job.process)
        return job.record

    def records(self) -> list[ProcessRecord]:
        """Every known background process, oldest first."""
        return [self._refresh(job) for job in self._jobs.values()]

    def job(self, process_id: str) -> BackgroundJob:
        """The job with this id; PROCESS_NOT_FOUND otherwise."""
        job = self._jobs.get(process_id)
        if job is None:
            raise fault("PROCESS_NOT_FOUND", f"no process {process_id!r}")
        return job

    def record(self, process_id: str) -> ProcessRecord:
        """The current record of one job."""
        return self._refresh(self.job(process_id))

    def finished(self) -> list[BackgroundJob]:
        """Jobs whose process ended but was not released yet."""
        self.records()
        return [
            job for job in self._jobs.values() if job.record.status != "running" and not job.reaped
        ]

    def all(self) -> list[BackgroundJob]:
        """Every job."""
        return list(self._jobs.values())
