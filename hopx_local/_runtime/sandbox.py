"""One sandbox: really runs code, commands, shells and file operations, isolated."""

from __future__ import annotations

import codecs
import contextlib
import functools
import json
import logging
import math
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any

import anyio
import attrs

from .cgroups import CgroupLimits, SandboxCgroup, cgroup_host
from .env import EnvStore, check_env
from .errors import SandboxFault, fault
from .file_api import SandboxFileAPI
from .files import SandboxFiles
from .host import Enforcement, host_enforcement
from .instance import InstanceSpec, SandboxInstance
from .isolation import BOOT_DIR, BOOT_MOUNT, IsolationMode, SandboxLayout, isolation_warning
from .kernel import KERNEL_SITE_MOUNT, SandboxKernel, kernel_site, kernel_support, start_kernel
from .languages import LANGUAGE_ALIASES, interpreter_for, python_executable
from .launches import (
    BASE_PATH,
    Launch,
    base_env,
    init_owner,
    make_exec_dir,
    merge_env,
    new_id,
    python_hooks,
    read_rich_outputs,
    remove_exec_dir,
    sandbox_owner,
)
from .limits import Limits, SandboxResources
from .mounts import EXEC_MOUNT
from .paths import SandboxPaths, rfc3339
from .process import OutputCapture, OutputPump, SandboxProcess, open_pipe, terminate
from .procfs import pids_owned_by
from .records import ExecOutcome, ProcessRecord
from .seccomp import filter_program
from .terminal import TerminalSession, set_window_size
from .volume import SandboxVolume, volumes_supported
from .workers import BackgroundJob, BackgroundTable, SandboxProcesses

log = logging.getLogger("hopx.local.runtime")

__all__ = ["SandboxRuntime"]


class SandboxRuntime(SandboxFileAPI):
    """Runs everything of one sandbox below ``root`` (``workspace/``, ``tmp/``, ``state/``).

    Code runs in real processes isolated as ``isolation`` says, with ``limits`` applied to
    each process, ``resources`` to the sandbox as a whole (where the host allows it, see
    :attr:`enforcement`), and stdout/stderr each capped at ``output_cap`` bytes per execution.
    Every process is started by the sandbox's instance (:class:`SandboxInstance`), which
    :meth:`start` brings up and :meth:`shutdown` ends; a request that needs it starts it.
    With ``kernel`` (and ipykernel installed, see :func:`kernel_support`) Python runs in one
    Jupyter kernel per sandbox, started on the first Python execution, so state persists
    between executions; otherwise each execution is a fresh interpreter. Where the system is
    writable (see :attr:`writable_system`; ``writable_system=False`` keeps it read-only),
    ``layers`` are read-only directories of top-level trees (``usr/``, ``etc/``, ...) shown
    below the sandbox's own layer, the topmost first. ``spawn_task`` starts a task that may
    outlive the request (the server's task group): with it, Python background executions
    run in the kernel too, as cells whose result nobody waits for.
    """

    def __init__(
        self,
        sandbox_id: str,
        root: Path,
        *,
        isolation: IsolationMode,
        internet_access: bool,
        limits: Limits,
        output_cap: int,
        resources: SandboxResources | None = None,
        kernel: bool = False,
        layers: Sequence[Path] = (),
        writable_system: bool = True,
        spawn_task: Callable[[Callable[[], Coroutine[Any, Any, None]]], None] | None = None,
    ) -> None:
        if output_cap <= 0:
            raise ValueError("output_cap must be positive")
        self.sandbox_id = sandbox_id
        self.isolation = isolation
        self.internet_access = internet_access
        self.limits = limits
        self.resources = resources or SandboxResources()
        self.output_cap = output_cap
        self.layers = tuple(Path(layer) for layer in layers)
        self._wants_writable_system = writable_system
        root = Path(root).resolve()
        self.volume = SandboxVolume(root)
        isolated = isolation is IsolationMode.BWRAP
        wants_volume = self.resources.disk_mb is not None and volumes_supported()
        self._uses_volume = isolated and (wants_volume or self.volume.exists)
        self.layout = SandboxLayout(sandbox_id, root)
        for directory in (self.layout.root, self.layout.state):
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.owner = sandbox_owner(sandbox_id, isolation, self.layout, python_executable())
        self._use_layout(self.layout)
        if not self._uses_volume:
            self._make_writable_tree()
        nproc_base = 0
        if isolation is IsolationMode.NONE and self.owner is None and os.geteuid() != 0:
            nproc_base = 64 + len(pids_owned_by(os.geteuid()))
        self._rlimits = [
            [name, value] for name, value in limits.rlimits(nproc_base=nproc_base).items()
        ]
        host = cgroup_host()
        self.cgroup = SandboxCgroup(host, sandbox_id) if host is not None else None
        self._instance: SandboxInstance | None = None
        self._starting = anyio.Lock()
        self.uses_kernel = kernel and kernel_support().available
        self._kernel: SandboxKernel | None = None
        self._kernel_starting = anyio.Lock()
        self._spawn_task = spawn_task
        self._cells: dict[str, KernelCell] = {}
        self._env = EnvStore(self.layout.state / "env.json")
        level = 1 if isolation is IsolationMode.BWRAP else 0
        self.processes = SandboxProcesses(ns_level=level)
        self._background = BackgroundTable(self.processes)
        self._terminals: set[TerminalSession] = set()
        self._paused = False
        self._started = time.monotonic()
        self.counters: Counter[str] = Counter()

    def _use_layout(self, layout: SandboxLayout) -> None:
        """Point the file API at the writable tree (plain directories, or the volume)."""
        self.layout = layout
        self.paths = SandboxPaths(layout)
        self.files = SandboxFiles(self.paths, self.owner)

    def _make_writable_tree(self) -> None:
        layout = self.layout
        for directory in (layout.exec_root, layout.logs):
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        os.chmod(layout.logs, 0o700)
        for stale in layout.exec_root.iterdir():
            remove_exec_dir(stale)
        self.files.make_root_dirs()

    # -- facts ---------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Whether the sandbox's processes are stopped (new executions are refused)."""
        return self._paused

    @property
    def writable_system(self) -> bool:
        """Whether the running sandbox's system is writable (its own top layer, see
        :mod:`.rootfs`); code then runs as root of a user namespace of its own."""
        instance = self._instance
        return instance is not None and instance.writable_system

    @property
    def enforcement(self) -> Enforcement:
        """What this sandbox really gets on this host (limits, filters, its own user)."""
        found = host_enforcement(self.isolation)
        instance = self._instance
        blocked = found.no_new_userns if instance is None else instance.userns_blocked
        return Enforcement(
            isolation=found.isolation,
            cgroups=found.cgroups,
            memory=found.memory and self.resources.memory_mb is not None,
            vcpu=found.vcpu and self.resources.vcpu is not None,
            processes=found.processes,
            freeze=found.freeze,
            disk=self._uses_volume,
            seccomp=found.seccomp,
            no_new_userns=blocked,
            own_user=self.owner is not None,
        )

    @property
    def warnings(self) -> list[str]:
        """Honest notes about what this sandbox does not contain or enforce."""
        notes = [note for note in (isolation_warning(self.isolation),) if note]
        if self.owner is None and os.geteuid() == 0:
            notes.append("sandboxed code runs as root: the process-count limit is not enforced")
        started = self._instance is not None and self.owner is not None
        if (
            started
            and self._wants_writable_system
            and self.isolation is IsolationMode.BWRAP
            and not self.writable_system
        ):
            notes.append(
                "the sandbox's system is read-only: this kernel cannot give it a layer of "
                "its own (the log says why)"
            )
        if self.isolation is IsolationMode.BWRAP:
            wanted = {
                "memory": self.resources.memory_mb is not None,
                "vcpu": self.resources.vcpu is not None,
                "disk": self.resources.disk_mb is not None,
                "processes": True,
                "seccomp": True,
                "no_new_userns": True,
            }
            missing = self.enforcement.missing()
            notes += [note for name, note in missing.items() if wanted.get(name)]
        return notes

    # -- the instance --------------------------------------------------------------------

    async def start(self) -> None:
        """Bring the sandbox up: its volume, its cgroup and its instance (idempotent)."""
        async with self._starting:
            if self._instance is not None and self._instance.alive:
                return
            if self._instance is not None:
                log_dead = self._instance
                self._instance = None
                await log_dead.stop()
            if self._uses_volume and self.volume.path is None:
                data = await self.volume.attach(self.resources.disk_mb or 10 << 10)
                self._use_layout(attrs.evolve(self.layout, data=data))
                await anyio.to_thread.run_sync(self._make_writable_tree)
            if self.cgroup is not None:
                self.cgroup.create(self._cgroup_limits())
            instance = SandboxInstance(
                InstanceSpec(
                    layout=self.layout,
                    mode=self.isolation,
                    internet_access=self.internet_access,
                    code_ids=self.owner,
                    init_ids=init_owner(self.owner)
                    if self.isolation is IsolationMode.BWRAP
                    else None,
                    cgroup=self.cgroup,
                    seccomp=filter_program() if self.isolation is IsolationMode.BWRAP else None,
                    kernel_site=await anyio.to_thread.run_sync(kernel_site)
                    if self.uses_kernel and self.isolation is IsolationMode.BWRAP
                    else None,
                    system_store=self.layout.system
                    if self.isolation is IsolationMode.BWRAP
                    and self.owner is not None
                    and self._wants_writable_system
                    else None,
                    layers=self.layers,
                )
            )
            await instance.start()
            if self.cgroup is not None:
                self.cgroup.watch_cpu()
            self._instance = instance
            self.processes.init_pid = instance.init_pid

    def _cgroup_limits(self) -> CgroupLimits:
        memory, vcpu = self.resources.memory_mb, self.resources.vcpu
        # One CPU of the host is always left to everything else: a sandbox never takes the
        # whole machine (or the server that serves every other sandbox).
        cpus = min(vcpu, max(1.0, (os.cpu_count() or 1) - 1.0)) if vcpu is not None else None
        # The init, the reapers and the helper that starts each process count as tasks too.
        return CgroupLimits(
            memory_bytes=memory << 20 if memory is not None else None,
            cpus=cpus,
            max_tasks=self.limits.max_processes + 8,
        )

    async def _spawn(
        self,
        launch: Launch,
        stdin: int,
        stdout: int,
        stderr: int,
        rlimits: list[list[Any]] | None = None,
    ) -> SandboxProcess:
        await self.start()
        assert self._instance is not None
        request = {
            "argv": launch.argv,
            "env": launch.env,
            "cwd": launch.cwd,
            "rlimits": self._rlimits if rlimits is None else rlimits,
            "terminal": launch.terminal,
            "timeout": launch.timeout,
        }
        process = await self._instance.spawn(request, stdin, stdout, stderr)
        self.processes.add(process)
        return process

    # -- preparing runs ------------------------------------------------------------------

    @staticmethod
    def _check_timeout(timeout: object) -> float:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise fault("INVALID_REQUEST", "timeout must be a number of seconds")
        if not (math.isfinite(timeout) and timeout > 0):
            raise fault("INVALID_REQUEST", "timeout must be a positive number of seconds")
        return float(timeout)

    def _check_running(self) -> None:
        if self._paused:
            raise fault("SANDBOX_PAUSED", "the sandbox is paused; resume it first")

    def _workdir(self, workdir: str | None) -> tuple[Path, str]:
        """The directory a run starts in, made if missing: (host path, sandbox path).

        Under bubblewrap it is any directory of the sandbox's own system, seen as the files
        API sees it (the host path is then not used); without isolation, one under
        ``/workspace`` or ``/tmp``.
        """
        wanted = workdir or "/workspace"
        if self.isolation is IsolationMode.BWRAP:

            def make(files: SandboxFiles) -> str:
                files.mkdir(wanted)
                return files.view.locate(wanted)[2]

            return self.layout.workspace, self._in_view("mkdir", wanted, make)
        host, sandbox = self.paths.resolve(wanted)
        if host.exists() and not host.is_dir():
            raise fault("DIRECTORY_NOT_FOUND", f"{sandbox} is not a directory", path=sandbox)
        self.files.mkdir(sandbox)
        return host, sandbox

    def _check_started(self) -> None:
        if self._uses_volume and self.volume.path is None:
            raise fault("INTERNAL_ERROR", "the sandbox is not started; start it first")

    def _launch(
        self,
        *,
        code: str | None,
        language: str,
        argv: Sequence[str] | None,
        env: Mapping[str, str] | None,
        workdir: str | None,
        terminal: bool = False,
        prefix: str = "exec",
        kill_after: float | None = None,
    ) -> Launch:
        self._check_running()
        self._check_started()
        if code is not None and not isinstance(code, str):
            raise fault("INVALID_REQUEST", "code must be a string")
        request_env = check_env(env or {})
        host_workdir, sandbox_workdir = self._workdir(workdir)
        execution_id = new_id(prefix)
        merged = merge_env(
            base_env(self.layout, self.isolation, terminal=terminal, root=self.writable_system),
            self._env.get(),
            request_env,
        )
        isolated = self.isolation is IsolationMode.BWRAP
        shown_workdir = sandbox_workdir if isolated else str(host_workdir)
        exec_dir = None
        if code is not None:
            interpreter = interpreter_for(language)
            source = (f"{execution_id}{interpreter.suffix}", code)
            exec_dir, _view, source_path, rich = make_exec_dir(
                self.layout, self.isolation, self.owner, execution_id, source
            )
            assert source_path is not None
            command = [*interpreter.argv, source_path]
            if interpreter.language == "python":
                merged = python_hooks(merged, self.isolation, shown_workdir, rich)
            language = interpreter.language
        else:
            if not argv or not isinstance(argv[0], str) or not argv[0].strip():
                raise fault("INVALID_REQUEST", "command must be a non-empty string")
            if not all(isinstance(arg, str) and "\x00" not in arg for arg in argv):
                raise fault("INVALID_REQUEST", "command arguments must be strings without NUL")
            command = list(argv)
        timeout = kill_after if kill_after is not None and kill_after > 0 else None
        return Launch(
            execution_id=execution_id,
            argv=command,
            env=merged,
            cwd=shown_workdir,
            host_workdir=host_workdir,
            exec_dir=exec_dir,
            language=language,
            terminal=terminal,
            timeout=timeout,
        )

    @contextlib.asynccontextmanager
    async def _running(self, launch: Launch, limit: float) -> AsyncIterator[OutputPump]:
        out_r, out_w = open_pipe()
        err_r, err_w = open_pipe()
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            process = await self._spawn(launch, null, out_w, err_w)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            await self._remove_exec_dir(launch.exec_dir)
            raise
        finally:
            for fd in (null, out_w, err_w):
                os.close(fd)
        self.counters["executions_total"] += 1
        self.counters["executions_active"] += 1
        try:
            yield OutputPump(process, {out_r: "stdout", err_r: "stderr"}, limit)
        finally:
            self.counters["executions_active"] -= 1
            await terminate(process)
            self.processes.discard(process)
            await self._remove_exec_dir(launch.exec_dir)

    @staticmethod
    async def _remove_exec_dir(exec_dir: Path | None) -> None:
        if exec_dir is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(remove_exec_dir, exec_dir)

    @staticmethod
    async def _rich(exec_dir: Path | None) -> list[dict[str, Any]]:
        if exec_dir is None:
            return []
        return await anyio.to_thread.run_sync(read_rich_outputs, exec_dir)

    async def _collect(self, launch: Launch, limit: float) -> ExecOutcome:
        started = time.monotonic()
        out, err = OutputCapture(self.output_cap), OutputCapture(self.output_cap)
        async with (
            self._running(launch, limit) as pump,
            contextlib.aclosing(pump.chunks()) as chunks,
        ):
            async for kind, data in chunks:
                (out if kind == "stdout" else err).add(data)
            exit_code = await pump.finish()
            rich = await self._rich(launch.exec_dir)
            pid = pump.process.pid
        elapsed = time.monotonic() - started
        if pump.timed_out:
            self.counters["executions_timed_out"] += 1
        elif exit_code != 0:
            self.counters["executions_failed"] += 1
        return ExecOutcome(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=exit_code,
            execution_time=round(elapsed, 6),
            timed_out=pump.timed_out,
            truncated=out.truncated or err.truncated,
            rich=rich,
            pid=pid,
        )

    async def _stream(self, launch: Launch, limit: float) -> AsyncIterator[tuple[str, str]]:
        started = time.monotonic()
        captures = {
            "stdout": OutputCapture(self.output_cap),
            "stderr": OutputCapture(self.output_cap),
        }
        decoders = {
            kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in captures
        }
        async with (
            self._running(launch, limit) as pump,
            contextlib.aclosing(pump.chunks()) as chunks,
        ):
            async for kind, data in chunks:
                text = decoders[kind].decode(captures[kind].add(data))
                if text:
                    yield kind, text
            for kind, decoder in decoders.items():
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield kind, tail
            exit_code = await pump.finish()
            rich = await self._rich(launch.exec_dir)
        summary = {
            "exit_code": exit_code,
            "execution_time": round(time.monotonic() - started, 6),
            "timed_out": pump.timed_out,
            "truncated": any(capture.truncated for capture in captures.values()),
            "rich": rich,
        }
        yield "exit", json.dumps(summary)

    # -- the Jupyter kernel --------------------------------------------------------------

    @property
    def kernel(self) -> SandboxKernel | None:
        """The sandbox's Jupyter kernel while one runs."""
        kernel = self._kernel
        return kernel if kernel is not None and kernel.alive else None

    def _in_kernel(self, language: object) -> bool:
        return (
            self.uses_kernel
            and isinstance(language, str)
            and LANGUAGE_ALIASES.get(language.strip().lower()) == "python"
        )

    async def _kernel_ready(self) -> SandboxKernel:
        async with self._kernel_starting:
            kernel = self._kernel
            if kernel is not None and kernel.alive:
                return kernel
            self._kernel = None
            if kernel is not None:
                await kernel.shutdown()
                await self._remove_exec_dir(kernel.host_dir)
            await self.start()
            self._kernel = await self._start_kernel()
            return self._kernel

    def _kernel_cache(self) -> tuple[Path, str]:
        host = self.layout.exec_root / "kernel-cache"
        if not host.is_dir():
            host.mkdir(mode=0o700)
            if self.owner is not None:
                os.chown(host, *self.owner)
        isolated = self.isolation is IsolationMode.BWRAP
        return host, f"{EXEC_MOUNT}/kernel-cache" if isolated else str(host)

    async def _start_kernel(self) -> SandboxKernel:
        layout = self.layout
        isolated = self.isolation is IsolationMode.BWRAP
        name = new_id("kernel")
        host_dir = layout.exec_root / name
        kernel = SandboxKernel(
            host_dir, f"{EXEC_MOUNT}/{name}" if isolated else str(host_dir), self.owner
        )
        _cache_host, cache = self._kernel_cache()
        env = merge_env(
            base_env(layout, self.isolation, terminal=False, root=self.writable_system),
            self._env.get(),
        )
        # The kernel's packages, then the start-up hooks (their ``emit`` works in the kernel).
        site = await anyio.to_thread.run_sync(kernel_site)
        hooks = f"{BOOT_MOUNT}/pyhooks" if isolated else str(BOOT_DIR / "pyhooks")
        shown_site = None if site is None else KERNEL_SITE_MOUNT if isolated else site
        env["PYTHONPATH"] = os.pathsep.join(path for path in (shown_site, hooks) if path)
        env.update(
            MPLBACKEND="module://matplotlib_inline.backend_inline",
            IPYTHONDIR=f"{cache}/ipython",
            MPLCONFIGDIR=f"{cache}/matplotlib",
            XDG_CACHE_HOME=f"{cache}/xdg",
            JUPYTER_CONFIG_DIR=f"{cache}/jupyter",
            JUPYTER_DATA_DIR=f"{cache}/jupyter",
            JUPYTER_RUNTIME_DIR=f"{cache}/jupyter/runtime",
            JUPYTER_PLATFORM_DIRS="1",
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        host_workdir, sandbox_workdir = self._workdir(None)
        cwd = sandbox_workdir if isolated else str(host_workdir)
        # A long-lived kernel would reach a per-process CPU-time limit by the sum of many
        # cells: the cell timeout and the sandbox's cgroup bound it instead.
        rlimits = [entry for entry in self._rlimits if entry[0] != "RLIMIT_CPU"]

        async def spawn(argv: list[str]) -> SandboxProcess:
            launch = Launch(
                execution_id=name,
                argv=argv,
                env=env,
                cwd=cwd,
                host_workdir=host_workdir,
                exec_dir=None,
                language="python",
            )
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            log = os.open(layout.logs / f"{name}.log", flags, 0o600)
            try:
                return await self._spawn(launch, null, log, log, rlimits)
            finally:
                os.close(null)
                os.close(log)

        try:
            await start_kernel(kernel, spawn, [python_executable()])
        except SandboxFault as exc:
            await self._remove_exec_dir(host_dir)
            said = await anyio.to_thread.run_sync(_log_tail, layout.logs / f"{name}.log")
            if not said:
                raise
            log.warning("kernel of sandbox %s did not start; it said:\n%s", self.sandbox_id, said)
            last = said.strip().splitlines()[-1][-300:]
            raise fault(exc.code, f"{exc} (its last words: {last})") from None
        except BaseException:
            await self._remove_exec_dir(host_dir)
            raise
        kernel.settled(env, cwd)
        return kernel

    def _kernel_request(
        self, code: object, env: Mapping[str, str] | None, workdir: str | None
    ) -> tuple[str, dict[str, str], str]:
        """Check a kernel execution before anything runs: (code, env, working directory)."""
        self._check_running()
        self._check_started()
        if not isinstance(code, str):
            raise fault("INVALID_REQUEST", "code must be a string")
        merged = merge_env(self._env.get(), check_env(env or {}))
        host_workdir, sandbox_workdir = self._workdir(workdir)
        isolated = self.isolation is IsolationMode.BWRAP
        return code, merged, sandbox_workdir if isolated else str(host_workdir)

    async def _kernel_events(
        self, code: str, env: dict[str, str], cwd: str, limit: float
    ) -> AsyncGenerator[tuple[str, Any], None]:
        kernel = await self._kernel_ready()
        self.counters["executions_total"] += 1
        self.counters["executions_active"] += 1
        try:
            cell = kernel.run(code, env=env, cwd=cwd, timeout=limit, output_cap=self.output_cap)
            async with contextlib.aclosing(cell) as events:
                async for kind, value in events:
                    if kind == "exit":
                        if value.get("timed_out"):
                            self.counters["executions_timed_out"] += 1
                        elif value.get("exit_code"):
                            self.counters["executions_failed"] += 1
                    yield kind, value
        finally:
            self.counters["executions_active"] -= 1

    async def _kernel_execute(
        self, code: str, env: dict[str, str], cwd: str, limit: float
    ) -> ExecOutcome:
        started = time.monotonic()
        out: list[str] = []
        err: list[str] = []
        summary: dict[str, Any] = {}
        async with contextlib.aclosing(self._kernel_events(code, env, cwd, limit)) as events:
            async for kind, value in events:
                if kind == "stdout":
                    out.append(value)
                elif kind == "stderr":
                    err.append(value)
                elif kind == "exit":
                    summary = value
        return ExecOutcome(
            stdout="".join(out),
            stderr="".join(err),
            exit_code=int(summary.get("exit_code", 1)),
            execution_time=round(time.monotonic() - started, 6),
            timed_out=bool(summary.get("timed_out")),
            truncated=bool(summary.get("truncated")),
            rich=list(summary.get("rich", [])),
            result=summary.get("result"),
            error=summary.get("error"),
            kernel_restarted=bool(summary.get("kernel_restarted")),
        )

    async def _kernel_stream(
        self, code: str, env: dict[str, str], cwd: str, limit: float
    ) -> AsyncIterator[tuple[str, str]]:
        started = time.monotonic()
        async with contextlib.aclosing(self._kernel_events(code, env, cwd, limit)) as events:
            async for kind, value in events:
                if kind in ("stdout", "stderr"):
                    yield kind, value
                elif kind == "display":
                    yield "display", json.dumps(value)
                elif kind == "exit":
                    # Rich outputs went out as they came; the summary does not repeat them.
                    summary = {**value, "rich": []}
                    summary["execution_time"] = round(time.monotonic() - started, 6)
                    yield "exit", json.dumps(summary)

    def kernel_sessions(self) -> list[dict[str, Any]]:
        """The running kernel as ``/jupyter/sessions`` lists it (none before the first
        Python execution, or after the kernel died)."""
        kernel = self.kernel
        if kernel is None:
            return []
        return [
            {
                "id": kernel.kernel_id,
                "kernel_id": kernel.kernel_id,
                "name": "python3",
                "execution_state": kernel.execution_state,
                "execution_count": kernel.execution_count,
                "connections": 1,
                "last_activity": rfc3339(kernel.last_activity),
                "pid": kernel.process.pid if kernel.process is not None else None,
            }
        ]

    # -- executions ----------------------------------------------------------------------

    async def execute(
        self,
        code: str,
        language: str,
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout: float = 60,  # noqa: ASYNC109
    ) -> ExecOutcome:
        """Run source code to completion (or until ``timeout`` seconds)."""
        self.counters["requests_execute"] += 1
        limit = self._check_timeout(timeout)
        await self.start()
        if self._in_kernel(language):
            return await self._kernel_execute(*self._kernel_request(code, env, workdir), limit)
        launch = self._launch(code=code, language=language, argv=None, env=env, workdir=workdir)
        return await self._collect(launch, limit)

    def stream_execute(
        self,
        code: str,
        language: str,
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout: float = 60,
    ) -> AsyncIterator[tuple[str, str]]:
        """Run source code, yielding ("stdout"|"stderr", text) as it comes, then ("exit", JSON).

        The JSON holds ``exit_code``, ``execution_time``, ``timed_out``, ``truncated`` and
        ``rich`` (the display outputs a Python run recorded, as in :meth:`execute`). In the
        kernel, each rich output comes as it is displayed, as ("display", JSON of the output),
        and the summary may add ``error`` and ``kernel_restarted``.
        Bad requests raise here, before anything starts; closing the iterator early kills
        the process.
        """
        self.counters["requests_execute_stream"] += 1
        limit = self._check_timeout(timeout)
        if self._in_kernel(language):
            return self._kernel_stream(*self._kernel_request(code, env, workdir), limit)
        launch = self._launch(code=code, language=language, argv=None, env=env, workdir=workdir)
        return self._stream(launch, limit)

    async def run_command(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout: float = 60,  # noqa: ASYNC109
    ) -> ExecOutcome:
        """Run a program (looked up on PATH inside the sandbox) with arguments."""
        self.counters["requests_command"] += 1
        limit = self._check_timeout(timeout)
        await self.start()
        launch = self._launch(
            code=None,
            language="command",
            argv=[command, *args],
            env=env,
            workdir=workdir,
            prefix="cmd",
        )
        return await self._collect(launch, limit)

    def stream_command(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout: float = 60,
    ) -> AsyncIterator[tuple[str, str]]:
        """Like :meth:`stream_execute`, for a program with arguments."""
        self.counters["requests_command_stream"] += 1
        limit = self._check_timeout(timeout)
        launch = self._launch(
            code=None,
            language="command",
            argv=[command, *args],
            env=env,
            workdir=workdir,
            prefix="cmd",
        )
        return self._stream(launch, limit)

    # -- background processes ------------------------------------------------------------

    async def start_background(
        self,
        code: str | None,
        language: str = "python",
        *,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout: float | None = None,  # noqa: ASYNC109
        name: str | None = None,
    ) -> ProcessRecord:
        """Start code (``proc_<hex>``) or a program ``argv`` (``cmd_<hex>``) without waiting.

        Its output goes to log files outside the sandbox's view; ``timeout`` (seconds) kills
        it and everything it started.
        """
        self.counters["requests_background"] += 1
        await self._release_finished()
        await self.start()
        if code is not None and self._spawn_task is not None and self._in_kernel(language):
            return await self._start_cell(code, env, workdir, timeout, name)
        is_code = code is not None
        launch = self._launch(
            code=code,
            language=language if is_code else "command",
            argv=None if is_code else argv,
            env=env,
            workdir=workdir,
            kill_after=timeout,
        )
        process_id = new_id("proc" if is_code else "cmd")
        logs = self.layout.logs
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out = os.open(logs / f"{process_id}.stdout", flags, 0o600)
        err = os.open(logs / f"{process_id}.stderr", flags, 0o600)
        try:
            process = await self._spawn(launch, null, out, err)
        except BaseException:
            await self._remove_exec_dir(launch.exec_dir)
            raise
        finally:
            for fd in (null, out, err):
                os.close(fd)
        record = ProcessRecord(
            process_id=process_id,
            execution_id=launch.execution_id,
            name=name or process_id,
            status="running",
            language=launch.language,
            pid=process.pid,
            start_time=rfc3339(time.time()),
            duration=0.0,
        )
        self._background.add(
            BackgroundJob(
                record, process, launch.exec_dir, time.monotonic(), timeout=launch.timeout
            )
        )
        self.counters["executions_total"] += 1
        return record

    async def _start_cell(
        self,
        code: str,
        env: Mapping[str, str] | None,
        workdir: str,
        timeout: float | None,  # noqa: ASYNC109
        name: str | None,
    ) -> ProcessRecord:
        """A background execution in the kernel: started now, its record kept."""
        assert self._spawn_task is not None
        limit = self._check_timeout(timeout) if timeout else _CELL_TIMEOUT
        checked = self._kernel_request(code, env, workdir)
        kernel = await self._kernel_ready()
        process_id = new_id("proc")
        cell = KernelCell(
            ProcessRecord(
                process_id=process_id,
                execution_id=new_id("exec"),
                name=name or process_id,
                status="running",
                language="python",
                pid=kernel.process.pid if kernel.process is not None else 0,
                start_time=rfc3339(time.time()),
                duration=0.0,
            ),
            started=time.monotonic(),
            timeout=limit,
            stdout=OutputCapture(self.output_cap),
            stderr=OutputCapture(self.output_cap),
        )
        finished = [key for key, old in self._cells.items() if old.done.is_set()]
        for key in finished[: max(0, len(self._cells) - _KEPT_CELLS)]:
            del self._cells[key]  # the oldest finished ones go, with their output
        self._cells[process_id] = cell
        self.counters["executions_total"] += 1
        self._spawn_task(functools.partial(self._run_cell, cell, *checked, limit))
        return cell.current()

    async def _run_cell(
        self, cell: KernelCell, code: str, env: dict[str, str], cwd: str, limit: float
    ) -> None:
        summary: dict[str, Any] = {}
        error: str | None = None
        try:
            with anyio.CancelScope() as cell.scope:
                if cell.killed:
                    cell.scope.cancel()
                events = self._kernel_events(code, env, cwd, limit)
                async with contextlib.aclosing(events) as running:
                    async for kind, value in running:
                        if kind in ("stdout", "stderr"):
                            cell.capture(kind).add(value.encode("utf-8", "surrogatepass"))
                        elif kind == "display":
                            cell.rich.append(value)
                        elif kind == "exit":
                            summary = value
        except Exception as exc:  # noqa: BLE001  (the record says what went wrong)
            error = f"the background execution failed: {exc}"
        finally:
            cell.finish(summary, error)

    def _cell_records(self) -> list[ProcessRecord]:
        return [cell.current() for cell in self._cells.values()]

    async def _kill_cell(self, cell: KernelCell) -> ProcessRecord:
        if cell.done.is_set():
            return cell.current()
        cell.killed = True
        if cell.scope is not None:
            cell.scope.cancel()
        kernel = self._kernel
        if kernel is not None:
            await anyio.to_thread.run_sync(kernel.kill_children)
        with anyio.move_on_after(_CELL_KILL_WAIT):
            await cell.done.wait()
        if kernel is not None and kernel.alive:
            # The cell was interrupted: the kernel goes on only once it takes a new request.
            await kernel.settle()
            await anyio.to_thread.run_sync(kernel.kill_children)
        return cell.current()

    async def _release_finished(self) -> None:
        for job in self._background.finished():
            job.reaped = True
            await terminate(job.process)
            await self._remove_exec_dir(job.exec_dir)

    def list_processes(self) -> list[ProcessRecord]:
        """Every background process this sandbox started, with current status."""
        self.counters["requests_processes"] += 1
        return self._background.records() + self._cell_records()

    def process_output(self, process_id: str) -> tuple[str, str]:
        """(stdout, stderr) a background process wrote so far (the first ``output_cap`` bytes)."""
        cell = self._cells.get(process_id)
        if cell is not None:
            return cell.stdout.text(), cell.stderr.text()
        self._background.job(process_id)
        texts = []
        for stream in ("stdout", "stderr"):
            path = self.layout.logs / f"{process_id}.{stream}"
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                texts.append(handle.read(self.output_cap).decode("utf-8", errors="replace"))
        return texts[0], texts[1]

    async def process_output_from(
        self, process_id: str, offsets: tuple[int, int], max_bytes: int | None = None
    ) -> tuple[ProcessRecord, list[tuple[bytes, int, int]]]:
        """What a background process wrote from byte ``offsets`` (stdout, stderr) on.

        Its output is kept in the sandbox's log files for as long as the sandbox exists
        (each bounded by the per-process file size limit and the sandbox's disk).

        Args:
            process_id: the process.
            offsets: where to start in its stdout and its stderr, in bytes.
            max_bytes: the most bytes of each stream returned (``output_cap`` when ``None``,
                never more).

        Returns:
            Its record and, for stdout then stderr, ``(data, next offset, size so far)``;
            ``data`` never ends inside a UTF-8 character unless the process has ended.

        Raises:
            SandboxFault: no background process has that id (404).
        """
        self.counters["requests_process_output"] += 1
        limit = min(max_bytes or self.output_cap, self.output_cap)
        cell = self._cells.get(process_id)
        if cell is not None:  # Python run in the kernel: its output is kept in memory
            record = cell.current()
            captured = (cell.stdout.data(), cell.stderr.data())
            return record, [
                _log_piece(data, offset, limit, record.status != "running")
                for data, offset in zip(captured, offsets, strict=True)
            ]
        self._background.job(process_id)
        record = self._background.record(process_id)
        found = await self.run_blocking(
            self._read_logs, process_id, offsets, limit, record.status != "running"
        )
        return record, found

    def _read_logs(
        self, process_id: str, offsets: tuple[int, int], limit: int, ended: bool
    ) -> list[tuple[bytes, int, int]]:
        found: list[tuple[bytes, int, int]] = []
        for stream, offset in zip(("stdout", "stderr"), offsets, strict=True):
            path = self.layout.logs / f"{process_id}.{stream}"
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                start = min(offset, size)
                handle.seek(start)
                data = handle.read(limit)
            found.append(_trimmed(data, start, size, ended))
        return found

    async def kill(self, process_id: str) -> ProcessRecord:
        """SIGKILL a background process and everything it started; its final record."""
        self.counters["requests_kill"] += 1
        cell = self._cells.get(process_id)
        if cell is not None:
            return await self._kill_cell(cell)
        job = self._background.job(process_id)
        if job.process.returncode is None:
            job.killed = True
            job.process.kill()
            with anyio.move_on_after(5):
                await job.process.wait()
        record = self._background.record(process_id)
        await self._release_finished()
        return record

    def system_processes(self) -> list[dict[str, Any]]:
        """The sandbox's own OS processes: pid, name, status, cpu_percent, memory_mb, command."""
        self.counters["requests_system_processes"] += 1
        return self.processes.system_processes()

    # -- terminal ------------------------------------------------------------------------

    async def open_terminal(
        self, cols: int = 80, rows: int = 24, env: Mapping[str, str] | None = None
    ) -> TerminalSession:
        """Start an interactive shell (bash, or sh) on a new pseudo-terminal."""
        self.counters["requests_terminal"] += 1
        await self.start()
        launch = self._launch(
            code=None,
            language="terminal",
            argv=[_shell(), "-i"],
            env=env,
            workdir="/workspace",
            terminal=True,
            prefix="term",
        )
        launch.env.update(COLUMNS=str(cols), LINES=str(rows))
        master, slave = os.openpty()
        try:
            set_window_size(slave, cols, rows)
            process = await self._spawn(launch, slave, slave, slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        session = TerminalSession(process, master, self._terminal_closed)
        self._terminals.add(session)
        return session

    def _terminal_closed(self, session: TerminalSession) -> None:
        self._terminals.discard(session)
        self.processes.discard(session.process)

    # -- environment ---------------------------------------------------------------------

    def env_get(self) -> dict[str, str]:
        """The global environment variables (those set through the API)."""
        return self._env.get()

    def environment(self) -> dict[str, str]:
        """The environment a process of the sandbox starts with: the sandbox's own (``PATH``,
        ``HOME``, ...; see :data:`~.launches.BASE_ENV_NAMES`) and the global variables over it."""
        base = base_env(self.layout, self.isolation, terminal=False, root=self.writable_system)
        return merge_env(base, self._env.get())

    def env_set(self, env: Mapping[str, str]) -> dict[str, str]:
        """Replace all global environment variables."""
        return self._env.set(env)

    def env_update(self, env: Mapping[str, str]) -> dict[str, str]:
        """Add or change global environment variables."""
        return self._env.update(env)

    def env_clear(self) -> None:
        """Remove every global environment variable."""
        self._env.clear()

    # -- lifecycle -----------------------------------------------------------------------

    def pause(self) -> None:
        """Stop every process of the sandbox and refuse new executions.

        With a freezer cgroup the sandbox is frozen while every process is sent SIGSTOP, so
        none can run, fork or continue another in between; when it thaws each one stops
        before running any more of its code. Without one, SIGSTOP goes out in two rounds.
        """
        self._paused = True
        if self._kernel is not None:
            self._kernel.paused = True
        cgroup = self.cgroup
        if cgroup is not None and cgroup.can_freeze and self._instance is not None:
            cgroup.freeze()
            try:
                self.processes.signal(signal.SIGSTOP)
            finally:
                cgroup.thaw()
            return
        for _round in range(2):
            self.processes.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue every process of the sandbox."""
        self.processes.signal(signal.SIGCONT)
        self._paused = False
        if self._kernel is not None:
            self._kernel.paused = False

    async def shutdown(self) -> None:
        """End the sandbox's instance: every process is gone when this returns (bounded)."""
        self._paused = False
        for job in self._background.all():
            if job.process.returncode is None:
                job.killed = True
        for cell in self._cells.values():
            if not cell.done.is_set():
                cell.killed = True
                if cell.scope is not None:
                    cell.scope.cancel()
        with anyio.CancelScope(shield=True):
            kernel, self._kernel = self._kernel, None
            if kernel is not None:
                await kernel.shutdown()
                await self._remove_exec_dir(kernel.host_dir)
            instance, self._instance = self._instance, None
            if instance is not None:
                await instance.stop()
            self.processes.init_pid = None
            for session in list(self._terminals):
                await session.aclose()
            self._terminals.clear()
            self._background.records()
            for job in self._background.all():
                if not job.reaped:
                    job.reaped = True
                    await terminate(job.process)
                    await self._remove_exec_dir(job.exec_dir)
            for process in self.processes.leaders:
                await terminate(process)
                self.processes.discard(process)
            if self.cgroup is not None:
                await anyio.to_thread.run_sync(self.cgroup.kill_all)
                self.cgroup.remove()
            if self._uses_volume:
                # The last close unmounts the filesystem (its journal written out): tens of
                # milliseconds the event loop does not wait for.
                await anyio.to_thread.run_sync(self.volume.detach)
                self._use_layout(attrs.evolve(self.layout, data=None))

    def metrics(self) -> dict[str, Any]:
        """Live numbers from /proc plus the runtime's counters."""
        stats = self.processes.stats()
        requests = {
            key.removeprefix("requests_"): value
            for key, value in self.counters.items()
            if key.startswith("requests_")
        }
        return {
            "uptime_seconds": round(time.monotonic() - self._started, 3),
            "cpu_seconds": round(float(sum(stat.cpu_seconds for stat in stats)), 3),
            "rss_bytes": sum(stat.rss_bytes for stat in stats),
            "process_count": len(stats),
            "running_background": sum(
                1 for record in self.list_processes() if record.status == "running"
            ),
            "total_executions": self.counters["executions_total"],
            "active_executions": self.counters["executions_active"],
            "failed_executions": self.counters["executions_failed"],
            "timed_out_executions": self.counters["executions_timed_out"],
            "total_requests": sum(requests.values()),
            "requests": requests,
            "paused": self._paused,
        }


@functools.cache
def _trimmed(data: bytes, start: int, size: int, ended: bool) -> tuple[bytes, int, int]:
    """``(data, next offset, size)`` of a piece read at ``start`` of a stream of ``size``
    bytes; while the writer runs, a piece never ends inside a UTF-8 character."""
    if not (ended and start + len(data) >= size):
        data = data[: len(data) - _partial_utf8(data)]
    return data, start + len(data), size


def _log_piece(whole: bytes, offset: int, limit: int, ended: bool) -> tuple[bytes, int, int]:
    """The piece of an output kept in memory (``whole``) from ``offset``, as
    :func:`_trimmed` gives it."""
    start = min(offset, len(whole))
    return _trimmed(whole[start : start + limit], start, len(whole), ended)


def _log_tail(path: Path, size: int = 4096) -> str:
    """The last ``size`` bytes of a log file of the runtime's, as text ("" if unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, end - size))
        return handle.read(size).decode("utf-8", errors="replace")


def _partial_utf8(data: bytes) -> int:
    """How many bytes at the end of ``data`` begin a UTF-8 character that is not whole."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): does its character fit?
            need = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if need > back else 0
    return 0


def _shell() -> str:
    """The interactive shell, looked up in the system directories every sandbox sees."""
    return "bash" if shutil.which("bash", path=BASE_PATH) else "sh"


#: A background execution in the kernel without a timeout still ends some day.
_CELL_TIMEOUT = 7 * 86400.0
#: How long a kill waits for an interrupted background cell to end.
_CELL_KILL_WAIT = 10.0
#: Finished background cells whose records (and output) are kept.
_KEPT_CELLS = 256


@attrs.define(eq=False)
class KernelCell:
    """A background execution in the sandbox's kernel and what is known of it."""

    record: ProcessRecord
    started: float
    timeout: float
    stdout: OutputCapture
    stderr: OutputCapture
    rich: list[dict[str, Any]] = attrs.Factory(list)
    scope: anyio.CancelScope | None = None
    killed: bool = False
    done: anyio.Event = attrs.Factory(anyio.Event)

    def capture(self, stream: str) -> OutputCapture:
        """The capture of ``stream`` (``stdout`` or ``stderr``)."""
        return self.stdout if stream == "stdout" else self.stderr

    def current(self) -> ProcessRecord:
        """The record now (its duration so far while it runs)."""
        if self.record.status == "running":
            return attrs.evolve(self.record, duration=round(time.monotonic() - self.started, 6))
        return self.record

    def finish(self, summary: Mapping[str, Any], error: str | None) -> None:
        """Record how the cell ended: its ``summary`` from the kernel, or an ``error``."""
        if self.killed:
            status, code = "killed", 130
        elif error is not None or not summary:
            status, code = "failed", 1
        else:
            code = int(summary.get("exit_code", 1))
            status = "completed" if code == 0 and not summary.get("timed_out") else "failed"
        timed_out = bool(summary.get("timed_out")) and not self.killed
        reason = error or summary.get("error")
        self.record = attrs.evolve(
            self.record,
            status=status,
            exit_code=code,
            end_time=rfc3339(time.time()),
            duration=round(time.monotonic() - self.started, 6),
            timed_out=True if timed_out else None,
            error=str(reason) if reason and not self.killed else None,
        )
        self.done.set()
