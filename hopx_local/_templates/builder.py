"""One template build: its steps run in a build sandbox, its log, its status.

Steps run in order over the template's tree (see :mod:`.sandbox`). ``ENV``, ``WORKDIR`` and
``USER`` change what later steps see; ``RUN`` and ``COPY`` make a new layer, unless the layer
of the same base and steps exists and neither the step nor the build says ``skipCache``. After
the steps the start command runs over a scratch copy of the result until its ready check
passes (or its timeout ends the build with an error). Any failure ends the build ``failed``
with the reason as the log's last line, and leaves no layer or template half made.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pathlib
import posixpath
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import attrs

from .archive import ArchiveError, unpack
from .images import ImageError, resolve_image, system_program
from .sandbox import BASE_PATH, build_argv, inside_path
from .store import BuiltTemplate, TemplateStore

__all__ = ["READY_TYPES", "STEP_TYPES", "Build", "BuildFailure", "ReadyCheck", "run_build"]

#: Step types and their argument counts.
STEP_TYPES = {"RUN": 1, "COPY": 2, "ENV": 2, "WORKDIR": 1, "USER": 1}
READY_TYPES = ("port", "url", "file", "process", "command")
#: Seconds a RUN step may take.
STEP_TIMEOUT = 900.0
#: Log lines a build keeps (the first ones and the last ones past it are dropped in between).
MAX_LOG_CHARS = 4 * 1024 * 1024
HOME = "/home/user"


class BuildFailure(Exception):
    """A build step failed; the message is the log's last line."""


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@attrs.define
class Build:
    """A build and its log (``text``; an offset into it is a character count)."""

    build_id: str
    template_id: str
    name: str
    status: str = "building"
    progress: int = 0
    current_step: str | None = None
    started_at: str = attrs.field(factory=_now_text)
    completed_at: str | None = None
    error_message: str | None = None
    started: float = attrs.field(factory=time.monotonic)
    duration_ms: int | None = None
    text: str = ""
    changed: anyio.Event = attrs.field(factory=anyio.Event)

    def log(self, line: str) -> None:
        if len(self.text) < MAX_LOG_CHARS:
            self.text += line.rstrip("\n") + "\n"
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def finish(self, status: str, error: str | None = None) -> None:
        self.status = status
        self.error_message = error
        self.progress = 100 if status == "active" else self.progress
        self.completed_at = _now_text()
        self.duration_ms = int((time.monotonic() - self.started) * 1000)
        self.current_step = None
        self._wake()

    @property
    def done(self) -> bool:
        return self.status in ("active", "failed")

    #: The fields a build's record on disk keeps.
    RECORD_FIELDS = (
        "build_id",
        "template_id",
        "name",
        "status",
        "progress",
        "current_step",
        "started_at",
        "completed_at",
        "error_message",
        "duration_ms",
        "text",
    )

    def to_record(self) -> dict[str, Any]:
        """The build as its record on disk (see :meth:`from_record`)."""
        return {name: getattr(self, name) for name in self.RECORD_FIELDS}

    @classmethod
    def from_record(cls, doc: Any) -> Build | None:
        """A build from its record on disk (``None`` if it is not one), as it was recorded: one
        recorded as still running is the caller's to end (see :meth:`interrupted`)."""
        if not isinstance(doc, dict):
            return None
        texts = ("build_id", "template_id", "name", "status", "started_at", "text")
        if not all(isinstance(doc.get(name), str) for name in texts):
            return None
        optional = ("current_step", "completed_at", "error_message")
        if not all(doc.get(name) is None or isinstance(doc[name], str) for name in optional):
            return None
        numbers = ("progress", "duration_ms")
        if not all(
            doc.get(name) is None
            or (isinstance(doc[name], int) and not isinstance(doc[name], bool))
            for name in numbers
        ):
            return None
        build = cls(
            build_id=doc["build_id"],
            template_id=doc["template_id"],
            name=doc["name"],
            status=doc["status"],
            progress=doc.get("progress") or 0,
            current_step=doc.get("current_step"),
            started_at=doc["started_at"],
            completed_at=doc.get("completed_at"),
            error_message=doc.get("error_message"),
            duration_ms=doc.get("duration_ms"),
            text=doc["text"][:MAX_LOG_CHARS],
        )
        return build

    def interrupted(self) -> None:
        """End a build the server stopped during (it does not go on in a new server)."""
        reason = "the server stopped during the build; build the template again"
        self.log(f"❌ ERROR: {reason}")
        self.status, self.error_message = "failed", reason
        self.completed_at = self.completed_at or _now_text()
        self.current_step = None
        self._wake()

    def status_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "build_id": self.build_id,
            "template_id": self.template_id,
            "status": self.status,
            "progress": self.progress,
            "started_at": self.started_at,
        }
        optional = {
            "current_step": self.current_step,
            "completed_at": self.completed_at,
            "error_message": self.error_message,
            "build_duration_ms": self.duration_ms,
        }
        doc.update({key: value for key, value in optional.items() if value is not None})
        return doc


def _key(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _shim(path: pathlib.Path, target: str) -> None:
    path.write_text(f'#!/bin/sh\nexec {target} "$@"\n', encoding="utf-8")
    path.chmod(0o755)


def _base_tree(tree: pathlib.Path, image_name: str) -> None:
    """The tree a build starts from: the sandbox user's home, ``/workspace``, ``/usr/local``
    with ``pip3``/``npm`` where the official images have them."""
    for sub in ("home/user", "workspace", "usr/local/bin", "usr/local/lib"):
        (tree / sub).mkdir(parents=True, exist_ok=True)
    python = system_program("python3")
    if python is not None:
        for name in ("pip3", "pip"):
            _shim(tree / "usr/local/bin" / name, f"{python} -m pip")
        _shim(tree / "usr/local/bin/python3", python)
        _shim(tree / "usr/local/bin/python", python)
    npm = system_program("npm")
    if npm is not None:
        _shim(tree / "usr/local/bin/npm", npm)


def _copy_tree(source: pathlib.Path, dest: pathlib.Path) -> None:
    shutil.copytree(source, dest, symlinks=True)


def _copy_into(
    context: pathlib.Path, sources: list[str], tree: pathlib.Path, dest: str, workdir: str
) -> list[str]:
    """Docker's ``COPY``: a directory's contents into ``dest``, a file to ``dest`` (or into it
    when it ends with ``/`` or is a directory). Returns what was copied."""
    where = dest if dest.startswith("/") else posixpath.join(workdir, dest)
    target = inside_path(tree, where)
    if target is None:
        raise BuildFailure(
            f"COPY destination {dest!r} is in the host's read-only system; copy to /app, "
            "/opt, /home/user, /workspace or /usr/local instead"
        )
    done: list[str] = []
    for source in sources:
        if source.startswith("/") or ".." in source.split("/"):
            raise BuildFailure(f"COPY source {source!r} leads out of the uploaded context")
        matches = sorted(glob.glob(str(context / source), recursive=True))
        if not matches:
            raise BuildFailure(f"COPY source {source!r} is not in the uploaded context")
        for match in matches:
            path = pathlib.Path(match)
            if path.is_dir() and not path.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True)
            else:
                into = target / path.name if (dest.endswith("/") or target.is_dir()) else target
                into.parent.mkdir(parents=True, exist_ok=True)
                if into.is_symlink() or into.is_file():
                    into.unlink()
                shutil.copy2(path, into, follow_symlinks=False)
            done.append(source)
    return done


async def _kill(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with anyio.CancelScope(shield=True):
        await process.wait()


async def _run_logged(
    argv: list[str],
    build: Build,
    timeout: float,  # noqa: ASYNC109  (the step's own bound, not a call's)
    *,
    prefix: str = "  ",
) -> int | None:
    """Run ``argv``, each output line into the log; its exit status, ``None`` on timeout."""
    process = await anyio.open_process(
        argv, stdin=None, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        assert process.stdout is not None
        with anyio.move_on_after(timeout):
            pending = b""
            async for chunk in process.stdout:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    build.log(prefix + line.decode("utf-8", "replace"))
            if pending:
                build.log(prefix + pending.decode("utf-8", "replace"))
            return await process.wait()
        return None
    finally:
        await _kill(process)
        await process.aclose()


def _descendants(root_pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    out, stack = [], [root_pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _process_running(root_pid: int, name: str) -> bool:
    for pid in _descendants(root_pid):
        try:
            comm = pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm == name or any(
            pathlib.Path(a.decode(errors="replace")).name == name for a in cmdline if a
        ):
            return True
    return False


def _url_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return int(reply.status) == 200
    except (OSError, ValueError):
        return False


class _Runner:
    """The steps of one build."""

    def __init__(
        self,
        build: Build,
        request: Any,
        store: TemplateStore,
        bwrap: str | None,
        step_timeout: float,
    ) -> None:
        self.build = build
        self.request = request
        self.store = store
        self.bwrap = bwrap
        self.step_timeout = step_timeout
        self.env: dict[str, str] = {}
        self.workdir = HOME
        self.user = "user"

    def sandbox_env(self) -> dict[str, str]:
        env = {
            "PATH": BASE_PATH,
            "HOME": HOME,
            "USER": "user",
            "LANG": "C.UTF-8",
            "PIP_BREAK_SYSTEM_PACKAGES": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "NPM_CONFIG_PREFIX": "/usr/local",
        }
        env.update(self.env)
        return env

    def argv(self, tree: pathlib.Path, command: str) -> list[str]:
        if self.bwrap is None:
            raise BuildFailure(
                "RUN steps and start commands need bubblewrap (bwrap), which this server does "
                "not use (isolation is off)"
            )
        return build_argv(self.bwrap, tree, command, workdir=self.workdir, env=self.sandbox_env())

    async def run(self) -> BuiltTemplate:
        request, build = self.request, self.build
        steps: list[dict[str, Any]] = list(request.steps)
        try:
            image = await anyio.to_thread.run_sync(resolve_image, request.from_image)
        except ImageError as exc:
            raise BuildFailure(str(exc)) from None
        build.log(f"Base image {request.from_image}: {image.provided_by}")
        key = _key("base", request.from_image, image.provided_by)
        tree_key = key
        if not self.store.has_layer(key):
            scratch = self.store.new_scratch(".base-")
            await anyio.to_thread.run_sync(_base_tree, scratch, request.from_image)
            await anyio.to_thread.run_sync(self.store.commit_layer, key, scratch)
        total = len(steps) + (1 if request.start_cmd else 0)
        for index, step in enumerate(steps, 1):
            kind, args = self.check_step(index, step)
            label = f"Step {index}/{len(steps)}: {kind} {' '.join(args)}"
            build.current_step = label
            build.progress = int(100 * (index - 1) / max(1, total + 1))
            build.log(label)
            key = _key(key, kind, args, step.get("filesHash"))
            if kind == "ENV":
                self.env[args[0]] = args[1]
                continue
            if kind == "WORKDIR":
                self.workdir = posixpath.normpath(posixpath.join(self.workdir, args[0]))
                continue
            if kind == "USER":
                self.user = args[0]
                build.log(
                    f"  steps and sandboxes run as the sandbox user (uid 1000), not {args[0]!r}"
                )
                continue
            skip = bool(step.get("skipCache")) or bool(request.skip_cache)
            if self.store.has_layer(key) and not skip:
                build.log("  ---> using cache")
                tree_key = key
                continue
            scratch_root = self.store.new_scratch(".step-")
            tree = scratch_root / "tree"
            try:
                await anyio.to_thread.run_sync(_copy_tree, self.store.layer_tree(tree_key), tree)
                here = inside_path(tree, self.workdir)
                if here is not None:
                    here.mkdir(parents=True, exist_ok=True)
                if kind == "RUN":
                    await self.run_step(tree, args[0])
                else:
                    await self.copy_step(tree, step, args)
                await anyio.to_thread.run_sync(self.store.commit_layer, key, tree)
            finally:
                await anyio.to_thread.run_sync(_remove, scratch_root)
            tree_key = key
        if request.start_cmd:
            build.current_step = f"Start command: {request.start_cmd}"
            build.progress = int(100 * total / (total + 1))
            build.log(build.current_step)
            await self.check_start(self.store.layer_tree(tree_key))
        now = _now_text()
        return BuiltTemplate(
            id=build.template_id,
            name=build.name,
            layer=tree_key,
            from_image=request.from_image,
            build_id=build.build_id,
            created_at=now,
            updated_at=now,
            env=dict(self.env),
            workdir=self.workdir,
            user=self.user,
            start_cmd=request.start_cmd,
            ready_cmd=request.ready_cmd,
            cpu=request.cpu,
            memory_mb=request.memory,
            disk_gb=request.disk_gb,
        )

    def check_step(self, index: int, step: Any) -> tuple[str, list[str]]:
        if not isinstance(step, dict):
            raise BuildFailure(f"step {index} is not an object: {step!r}")
        kind = step.get("type")
        if not isinstance(kind, str) or kind.upper() not in STEP_TYPES:
            raise BuildFailure(
                f"step {index} has an unknown type {kind!r}; known: {', '.join(STEP_TYPES)}"
            )
        kind = kind.upper()
        args = step.get("args")
        if (
            not isinstance(args, list)
            or len(args) != STEP_TYPES[kind]
            or not all(isinstance(a, str) and a for a in args)
        ):
            raise BuildFailure(
                f"step {index} ({kind}) takes {STEP_TYPES[kind]} non-empty string argument(s), "
                f"got {args!r}"
            )
        if kind == "COPY" and not isinstance(step.get("filesHash"), str):
            raise BuildFailure(f"step {index} (COPY) has no filesHash")
        return kind, args

    async def run_step(self, tree: pathlib.Path, command: str) -> None:
        status = await _run_logged(self.argv(tree, command), self.build, self.step_timeout)
        if status is None:
            raise BuildFailure(f"RUN {command!r} did not finish within {self.step_timeout:g} s")
        if status != 0:
            if "apt-get" in command or "apt " in command:
                self.build.log(
                    "  ⚠ WARN: apt needs a writable system: build steps see the host's system "
                    "read-only and run without root"
                )
            raise BuildFailure(f"RUN {command!r} failed with exit code {status}")

    async def copy_step(self, tree: pathlib.Path, step: dict[str, Any], args: list[str]) -> None:
        files_hash = step["filesHash"]
        if not self.store.has_blob(files_hash):
            raise BuildFailure(f"COPY: no uploaded context has the hash {files_hash}")
        context = self.store.new_scratch(".context-")
        shutil.rmtree(context)
        try:
            try:
                await anyio.to_thread.run_sync(unpack, self.store.blob_path(files_hash), context)
            except ArchiveError as exc:
                raise BuildFailure(f"COPY: {exc}") from None
            copied = await anyio.to_thread.run_sync(
                _copy_into, context, args[0].split(","), tree, args[1], self.workdir
            )
            self.build.log(f"  copied {', '.join(copied)} to {args[1]}")
        finally:
            await anyio.to_thread.run_sync(_remove, context)

    async def check_start(self, final: pathlib.Path) -> None:
        ready = self.request.ready_cmd
        check = ReadyCheck.parse(ready)
        scratch_root = self.store.new_scratch(".start-")
        scratch = scratch_root / "tree"
        await anyio.to_thread.run_sync(_copy_tree, final, scratch)
        process = await anyio.open_process(
            self.argv(scratch, self.request.start_cmd),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output: list[str] = []

        async def drain() -> None:
            assert process.stdout is not None
            async for chunk in process.stdout:
                output.append(chunk.decode("utf-8", "replace"))
                del output[:-50]

        try:
            failure: BuildFailure | None = None
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                try:
                    await self.wait_ready(check, process, scratch)
                except BuildFailure as exc:
                    failure = exc  # raised below, not wrapped in the task group's error
                finally:
                    tg.cancel_scope.cancel()
            if failure is not None:
                raise failure
        finally:
            await _kill(process)
            await process.aclose()
            tail = "".join(output).strip().splitlines()[-20:]
            for line in tail:
                self.build.log("  " + line)
            await anyio.to_thread.run_sync(_remove, scratch_root)

    async def wait_ready(
        self, check: ReadyCheck | None, process: anyio.abc.Process, scratch: pathlib.Path
    ) -> None:
        if check is None:
            self.build.log("  no ready check: the start command is not waited for")
            return
        end = time.monotonic() + check.timeout
        while True:
            if process.returncode is not None:
                raise BuildFailure(
                    f"the start command exited with status {process.returncode} before its "
                    f"ready check ({check.describe()}) passed"
                )
            if await self.ready(check, process, scratch):
                self.build.log(f"✅ ready: {check.describe()}")
                return
            if time.monotonic() + check.interval > end:
                raise BuildFailure(
                    f"the start command was not ready within {check.timeout * 1000:.0f} ms "
                    f"(ready check: {check.describe()})"
                )
            with anyio.move_on_after(check.interval):
                await process.wait()

    async def ready(
        self, check: ReadyCheck, process: anyio.abc.Process, scratch: pathlib.Path
    ) -> bool:
        if check.type == "port":
            try:
                with anyio.fail_after(min(2.0, check.interval + 1)):
                    stream = await anyio.connect_tcp("127.0.0.1", int(check.value))
            except (OSError, TimeoutError):
                return False
            await stream.aclose()
            return True
        if check.type == "file":
            path = inside_path(scratch, check.value)
            return path is not None and await anyio.to_thread.run_sync(path.exists)
        if check.type == "process":
            return await anyio.to_thread.run_sync(_process_running, process.pid, check.value)
        if check.type == "url":
            return await anyio.to_thread.run_sync(_url_ok, check.value, 2.0)
        status = await _run_logged(
            self.argv(scratch, check.value),
            self.build,
            max(5.0, check.interval * 5),
            prefix="  check: ",
        )
        return status == 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _remove(path: pathlib.Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@attrs.frozen
class ReadyCheck:
    """A start command's ready check (``readyCmd`` on the wire), its times in seconds."""

    type: str
    value: str
    timeout: float
    interval: float

    @classmethod
    def parse(cls, doc: Any) -> ReadyCheck | None:
        if doc is None:
            return None
        if not isinstance(doc, dict) or doc.get("type") not in READY_TYPES:
            raise BuildFailure(
                f"readyCmd must be an object whose type is one of {', '.join(READY_TYPES)}: {doc!r}"
            )
        kind = doc["type"]
        field = {"port": "port", "url": "url", "file": "path", "process": "processName"}.get(
            kind, "command"
        )
        value = doc.get(field)
        if kind == "process" and value is None:
            value = doc.get("name")
        if kind == "port" and not (isinstance(value, int) and 0 < value < 65536):
            raise BuildFailure(f"readyCmd of type port needs a port in 1..65535, got {value!r}")
        if kind != "port" and not (isinstance(value, str) and value):
            raise BuildFailure(f"readyCmd of type {kind} needs a non-empty {field}")
        if kind == "url" and not str(value).startswith(
            ("http://127.0.0.1", "http://localhost", "http://[::1]")
        ):
            raise BuildFailure(f"readyCmd url must be http on this machine's loopback: {value!r}")
        timeout, interval = doc.get("timeout", 30000), doc.get("interval", 2000)
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (timeout, interval)
        ):
            raise BuildFailure("readyCmd timeout and interval must be positive milliseconds")
        return cls(kind, str(value), timeout / 1000, min(interval, timeout) / 1000)

    def describe(self) -> str:
        return f"{self.type} {self.value}"


async def run_build(
    build: Build,
    request: Any,
    store: TemplateStore,
    *,
    bwrap: str | None,
    on_success: Callable[[BuiltTemplate], None],
    step_timeout: float = STEP_TIMEOUT,
) -> None:
    """Run ``build`` to its end; ``on_success`` records the template."""
    try:
        built = await _Runner(build, request, store, bwrap, step_timeout).run()
        on_success(built)
    except BuildFailure as exc:
        build.log(f"❌ ERROR: {exc}")
        build.finish("failed", str(exc))
        return
    except Exception as exc:  # noqa: BLE001  (a build never takes the server down)
        build.log(f"❌ ERROR: the build stopped: {type(exc).__name__}: {exc}")
        build.finish("failed", f"{type(exc).__name__}: {exc}")
        return
    build.log(f"✅ Template {build.name} built (id {build.template_id})")
    build.finish("active")
