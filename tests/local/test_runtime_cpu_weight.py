"""One sandbox's CPU hog does not take the CPU from the others: a short CFS period for the
quota, and a sandbox that keeps its CPUs busy gets a lower CPU weight until it calms down.

The first tests run real sandboxes (on hosts whose cgroups give a ``cpu`` controller); the
last ones drive the governor over cgroup v2 files in a directory of their own, with a real
spinning process for a thread, so the v2 file names and formats are covered on any host.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxResources,
    SandboxRuntime,
    resolve_isolation,
)
from hopx_local._runtime.cgroups import (
    DEMOTED_WEIGHT,
    NORMAL_WEIGHT,
    CgroupHost,
    CgroupLimits,
    CpuGovernor,
    SandboxCgroup,
    governor,
)
from hopx_local._runtime.host import host_enforcement
from hopx_local._runtime.kernel import kernel_support

ENFORCED = host_enforcement(IsolationMode.BWRAP)
needs_cpu_cgroup = pytest.mark.skipif(
    resolve_isolation("auto") is not IsolationMode.BWRAP or not ENFORCED.vcpu,
    reason="no bubblewrap or no cpu cgroup here",
)

SPIN = (
    "import os, threading\n"
    "def spin():\n"
    "    while True:\n"
    "        pass\n"
    "for _ in range(2):\n"
    "    if os.fork() == 0:\n"
    "        break\n"
    "threading.Thread(target=spin, daemon=True).start()\n"
    "spin()\n"
)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, name: str, vcpu: float, *, kernel: bool = False
) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"{name}-{secrets.token_hex(4)}",
        tmp_path / name,
        isolation=IsolationMode.BWRAP,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
        resources=SandboxResources(vcpu=vcpu),
        kernel=kernel,
    )
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.shutdown()


def cpu_file(runtime: SandboxRuntime, name: str) -> str:
    assert runtime.cgroup is not None
    return (runtime.cgroup.dirs["cpu"] / name).read_text().strip()


def weight_name(runtime: SandboxRuntime) -> str:
    assert runtime.cgroup is not None
    return "cpu.shares" if runtime.cgroup.host.version == "v1" else "cpu.weight"


@needs_cpu_cgroup
@pytest.mark.anyio
async def test_the_quota_runs_over_a_short_period(tmp_path: Path) -> None:
    # A sandbox at its quota waits every 10 ms, not for half of every 100 ms.
    async with (
        running(tmp_path, "one", 1.0) as one,
        running(tmp_path, "small", 0.05) as small,
    ):
        assert one.cgroup is not None
        if one.cgroup.host.version == "v1":
            periods = [(cpu_file(one, "cpu.cfs_period_us"), cpu_file(one, "cpu.cfs_quota_us"))]
            periods.append(
                (cpu_file(small, "cpu.cfs_period_us"), cpu_file(small, "cpu.cfs_quota_us"))
            )
            weight = cpu_file(one, "cpu.shares")
            if (one.cgroup.dirs["cpu"] / "cpu.cfs_burst_us").exists():
                assert cpu_file(one, "cpu.cfs_burst_us") == "10000"
        else:
            periods = [
                tuple(reversed(cpu_file(runtime, "cpu.max").split())) for runtime in (one, small)
            ]
            weight = cpu_file(one, "cpu.weight")
        version = one.cgroup.host.version
    assert periods[0] == ("10000", "10000")
    # The kernel takes no quota under 1 ms: a twentieth of a CPU gets a longer period.
    period, quota = map(int, periods[1])
    assert quota == 1000
    assert abs(quota / period - 0.05) < 0.001
    assert weight == str(NORMAL_WEIGHT[version])


@needs_cpu_cgroup
@pytest.mark.anyio
async def test_a_cpu_hog_loses_weight_and_gets_it_back(tmp_path: Path) -> None:
    async with (
        running(tmp_path, "hog", 1.0) as hog,
        running(tmp_path, "other", 1.0) as other,
    ):
        assert hog.cgroup is not None
        version = hog.cgroup.host.version
        name = weight_name(hog)
        spinning = await hog.start_background(SPIN, "python")
        other_weights = set()
        with anyio.fail_after(90):
            # The other sandbox keeps running short executions all the while.
            while cpu_file(hog, name) != str(DEMOTED_WEIGHT[version]):
                outcome = await other.execute("print(1)", "python")
                assert outcome.stdout == "1\n", outcome
                other_weights.add(cpu_file(other, name))
        assert hog.cgroup.cpu_stat()["nr_periods"] > 0  # the quota is in force
        await hog.kill(spinning.process_id)
        with anyio.fail_after(90):
            while cpu_file(hog, name) != str(NORMAL_WEIGHT[version]):
                await other.execute("print(1)", "python")
                other_weights.add(cpu_file(other, name))
    assert other_weights == {str(NORMAL_WEIGHT[version])}


@needs_cpu_cgroup
@pytest.mark.skipif(not kernel_support().available, reason=kernel_support().reason)
@pytest.mark.anyio
async def test_a_kernel_serving_short_cells_keeps_its_weight(tmp_path: Path) -> None:
    # A long-lived Jupyter kernel that runs one short cell after another is busy in bursts,
    # never for seconds on end: it keeps its weight all the while a spinning sandbox is
    # demoted and for a whole window after.
    async with (
        running(tmp_path, "hog", 1.0) as hog,
        running(tmp_path, "cells", 1.0, kernel=True) as cells,
    ):
        assert hog.cgroup is not None
        version = hog.cgroup.host.version
        name = weight_name(hog)
        first = await cells.execute("n = 0", "python")
        assert first.exit_code == 0, first
        await hog.start_background(SPIN, "python")
        weights = set()
        count = 0
        with anyio.fail_after(120):
            while cpu_file(hog, name) != str(DEMOTED_WEIGHT[version]):
                outcome = await cells.execute("n += 1\nprint(n)", "python")
                count += 1
                assert outcome.stdout == f"{count}\n", outcome
                weights.add(cpu_file(cells, name))
            # Past the hog's demotion, for longer than the window the governor judges by.
            until = time.monotonic() + governor().window + 2.0
            while time.monotonic() < until:
                outcome = await cells.execute("n += 1\nprint(n)", "python")
                count += 1
                assert outcome.stdout == f"{count}\n", outcome
                weights.add(cpu_file(cells, name))
        assert cells.kernel is not None, "the cells ran in the kernel"
    assert count >= 10
    assert weights == {str(NORMAL_WEIGHT[version])}


# -- the governor over cgroup v2 files -----------------------------------------------------


@pytest.fixture
def spinner() -> Iterator[int]:
    """The pid of a process of ours that spins (its only thread is always runnable)."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield process.pid
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)


def fake_v2(tmp_path: Path, governor: CpuGovernor) -> SandboxCgroup:
    base = tmp_path / "hopx-local-parent"
    base.mkdir()
    host = CgroupHost("v2", {"cpu": base, "memory": base, "pids": base})
    cgroup = SandboxCgroup(host, "sbx", cpu_governor=governor)
    directory = cgroup.dirs["cpu"]
    directory.mkdir()
    for name in ("memory.max", "memory.swap.max"):
        (directory / name).write_text("max\n")
    (directory / "cpu.max.burst").write_text("0\n")
    write_stat(cgroup, periods=0, throttled=0)
    (directory / "cgroup.threads").write_text("")
    return cgroup


def write_stat(cgroup: SandboxCgroup, *, periods: int, throttled: int) -> None:
    (cgroup.dirs["cpu"] / "cpu.stat").write_text(
        "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n"
        f"nr_periods {periods}\nnr_throttled {throttled}\nthrottled_usec {throttled * 900}\n"
    )


def test_v2_limits_use_the_v2_files(tmp_path: Path) -> None:
    governor = CpuGovernor(interval=0)
    cgroup = fake_v2(tmp_path, governor)
    cgroup.create(CgroupLimits(memory_bytes=256 << 20, cpus=1.5, max_tasks=40))
    directory = cgroup.dirs["cpu"]
    assert (directory / "cpu.max").read_text() == "15000 10000"
    assert (directory / "cpu.max.burst").read_text() == "15000"
    assert (directory / "cpu.weight").read_text() == str(NORMAL_WEIGHT["v2"])
    assert (directory / "memory.max").read_text() == str(256 << 20)
    assert (directory / "memory.swap.max").read_text() == "0"
    assert (directory / "pids.max").read_text() == "40"
    assert cgroup.cpu_stat()["nr_throttled"] == 0
    assert cgroup.cpu_stat()["usage_usec"] == 5000


def test_runnable_threads_demote_and_calm_restores(tmp_path: Path, spinner: int) -> None:
    governor = CpuGovernor(interval=0, window=0, min_age=0.0, demote_after=2, restore_after=2)
    cgroup = fake_v2(tmp_path, governor)
    cgroup.create(CgroupLimits(cpus=1.0))
    cgroup.watch_cpu()
    weight = cgroup.dirs["cpu"] / "cpu.weight"
    (cgroup.dirs["cpu"] / "cgroup.threads").write_text(f"{spinner}\n")
    assert cgroup.threads(64) == [spinner]
    seen = []
    for _look in range(4):
        governor.look(cgroup)
        seen.append(weight.read_text())
        time.sleep(0.3)
    assert governor.demoted(cgroup)
    assert seen[-1] == str(DEMOTED_WEIGHT["v2"])
    assert seen[0] == str(NORMAL_WEIGHT["v2"])  # one busy look is not enough
    (cgroup.dirs["cpu"] / "cgroup.threads").write_text("")
    for _look in range(2):
        time.sleep(0.05)
        governor.look(cgroup)
    assert weight.read_text() == str(NORMAL_WEIGHT["v2"])
    assert not governor.demoted(cgroup)


def test_young_threads_do_not_count(tmp_path: Path, spinner: int) -> None:
    # A process that has not lived min_age yet (a run_code's) is no hog, however busy.
    governor = CpuGovernor(interval=0, window=0, min_age=3600.0, demote_after=1, restore_after=1)
    cgroup = fake_v2(tmp_path, governor)
    cgroup.create(CgroupLimits(cpus=1.0))
    cgroup.watch_cpu()
    (cgroup.dirs["cpu"] / "cgroup.threads").write_text(f"{spinner}\n")
    for _look in range(4):
        governor.look(cgroup)
        time.sleep(0.2)
    assert not governor.demoted(cgroup)
    assert (cgroup.dirs["cpu"] / "cpu.weight").read_text() == str(NORMAL_WEIGHT["v2"])


def test_throttled_periods_demote(tmp_path: Path) -> None:
    # Short-lived processes that together run the sandbox into its quota count as well.
    governor = CpuGovernor(interval=0, window=0, demote_after=2, restore_after=1)
    cgroup = fake_v2(tmp_path, governor)
    cgroup.create(CgroupLimits(cpus=1.0))
    cgroup.watch_cpu()
    weight = cgroup.dirs["cpu"] / "cpu.weight"
    governor.look(cgroup)
    write_stat(cgroup, periods=10, throttled=2)
    governor.look(cgroup)
    assert weight.read_text() == str(NORMAL_WEIGHT["v2"])  # 2 of 10 periods: not busy
    for periods, throttled in ((20, 8), (30, 14)):
        write_stat(cgroup, periods=periods, throttled=throttled)
        governor.look(cgroup)
    assert weight.read_text() == str(DEMOTED_WEIGHT["v2"])
    cgroup.remove()
    write_stat(cgroup, periods=40, throttled=24)
    governor.look(cgroup)  # forgotten: no more looks, no more writes
    assert not governor.demoted(cgroup)


BURSTS = (
    "import time\n"
    "while True:\n"
    "    started = time.monotonic()\n"
    "    while time.monotonic() - started < 0.3:\n"
    "        pass\n"
    "    time.sleep(0.3)\n"
)


def test_bursts_keep_the_weight_and_spinning_loses_it(tmp_path: Path, spinner: int) -> None:
    # Runnable for 0.3 s of every 0.6 s (whatever the machine's load: the bursts are timed
    # by the clock) is busy at every short look, and never over a whole window.
    governor = CpuGovernor(interval=0, window=1.0, min_age=0.0, demote_after=2)
    bursty_dir, spinning_dir = tmp_path / "bursty", tmp_path / "spinning"
    bursty_dir.mkdir()
    spinning_dir.mkdir()
    bursty_cgroup = fake_v2(bursty_dir, governor)
    spinning_cgroup = fake_v2(spinning_dir, governor)
    bursts = subprocess.Popen([sys.executable, "-c", BURSTS])
    try:
        for cgroup, pid in ((bursty_cgroup, bursts.pid), (spinning_cgroup, spinner)):
            cgroup.create(CgroupLimits(cpus=1.0))
            cgroup.watch_cpu()
            (cgroup.dirs["cpu"] / "cgroup.threads").write_text(f"{pid}\n")
        started = time.monotonic()
        looks = 0
        while time.monotonic() - started < 4.0 or not governor.demoted(spinning_cgroup):
            assert time.monotonic() - started < 60, "the spinning one was never demoted"
            for cgroup in (bursty_cgroup, spinning_cgroup):
                governor.look(cgroup)
            looks += 1
            assert not governor.demoted(bursty_cgroup), f"demoted at look {looks}"
            time.sleep(0.05)
    finally:
        bursts.kill()
        bursts.wait(30)
    weight = bursty_cgroup.dirs["cpu"] / "cpu.weight"
    assert weight.read_text() == str(NORMAL_WEIGHT["v2"])
    assert (spinning_cgroup.dirs["cpu"] / "cpu.weight").read_text() == str(DEMOTED_WEIGHT["v2"])
