"""A built template's start command in a sandbox: run at create and at every start, until its
ready check passes.

The command runs as a background process of the sandbox named :data:`START_NAME` (it shows in
the process list and its output is kept like any background process's), in the template's
``WORKDIR``, with the sandbox's environment (which holds the template's ``ENV``). Its ready
check is honoured *inside the sandbox*:

``port``
    a connection to the port on the sandbox's loopback (in its own network namespace, or, when
    it shares the host's, only to a socket a process of the sandbox listens on);
``url``
    an HTTP ``GET`` of the URL (on the sandbox's loopback) answered ``200``;
``file``
    the path exists in the sandbox's filesystem;
``process``
    a process of the sandbox has that name (or runs a program of that name);
``command``
    the command exits 0 in the sandbox.

The check is repeated every ``interval`` until ``timeout``. If the start command exits before
its check passes, or the timeout passes, :class:`StartFailure` carries why and the command's output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import posixpath
import shlex
import stat
import time
import urllib.parse
from typing import Any

import anyio
import anyio.to_thread

from hopx_local._runtime.errors import SandboxFault
from hopx_local._runtime.ports import PortUnreachable, connect_port
from hopx_local._runtime.records import ProcessRecord
from hopx_local._runtime.sandbox import SandboxRuntime

from .builder import BuildFailure, ReadyCheck
from .store import BuiltTemplate

__all__ = [
    "LOG_TAIL",
    "START_NAME",
    "StartFailure",
    "ready",
    "run_start",
    "seed_workspace",
    "start_script",
]

#: The name of the start command's process in the sandbox's process list.
START_NAME = "template-start"
#: Characters of each of the start command's streams a failure carries (the last ones).
LOG_TAIL = 8000
#: Seconds one probe of a ready check may take.
PROBE_TIMEOUT = 2.0
#: Seconds a ``command`` or ``file`` check may run, at least.
CHECK_TIMEOUT = 5.0
#: How deep the directories of a template's ``/workspace`` may be nested.
MAX_SEED_DEPTH = 200


class StartFailure(Exception):
    """The start command exited or did not become ready in time.

    Attributes:
        message: why, in words.
        stdout: the last :data:`LOG_TAIL` characters of its standard output.
        stderr: the same of its standard error.
        exit_code: its exit status, if it exited.
    """

    def __init__(
        self, message: str, *, stdout: str = "", stderr: str = "", exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code

    def details(self) -> dict[str, Any]:
        """The failure as the ``details`` of an error reply."""
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "logs": (self.stdout + self.stderr).splitlines()[-200:],
        }


_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def seed_workspace(
    layers: list[pathlib.Path], workspace: pathlib.Path, owner: tuple[int, int] | None
) -> int:
    """Copy what a template's build left in ``/workspace`` (``workspace/`` of its layers, the
    topmost first) into a new sandbox's own ``/workspace``, owned by the sandbox's user
    (``owner``); how many entries were copied. Directories, regular files and symbolic links
    (as links) are copied, each opened without following links; anything else is left out.
    Blocking; OSError (ENOSPC past the sandbox's disk) if it cannot be written."""
    copied = 0

    def own(fd: int | None, path: pathlib.Path) -> None:
        if owner is None:
            return
        if fd is not None:
            os.fchown(fd, *owner)
        else:
            os.chown(path, *owner, follow_symlinks=False)

    def copy_dir(source_fd: int, dest: pathlib.Path, depth: int) -> None:
        nonlocal copied
        if depth > MAX_SEED_DEPTH:
            raise OSError(errno.ELOOP, f"directories nested over {MAX_SEED_DEPTH} deep")
        for name in sorted(os.listdir(source_fd)):
            info = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
            target = dest / name
            if os.path.lexists(target):
                continue  # an upper layer had it
            if stat.S_ISDIR(info.st_mode):
                child = os.open(name, _OPEN_DIR, dir_fd=source_fd)
                try:
                    target.mkdir(mode=(stat.S_IMODE(info.st_mode) & 0o777) | 0o700)
                    own(None, target)
                    copied += 1
                    copy_dir(child, target, depth + 1)
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                source = os.open(name, _OPEN_FILE, dir_fd=source_fd)
                try:
                    mode = stat.S_IMODE(info.st_mode) & 0o777
                    out = os.open(
                        target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode
                    )
                    try:
                        while chunk := os.read(source, 1 << 20):
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(out, view) :]
                        own(out, target)
                    finally:
                        os.close(out)
                    copied += 1
                finally:
                    os.close(source)
            elif stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(name, dir_fd=source_fd), target)
                own(None, target)
                copied += 1

    for layer in layers:
        try:
            top = os.open(layer / "workspace", _OPEN_DIR)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a link, not a directory
                continue
            raise
        try:
            copy_dir(top, workspace, 0)
        finally:
            os.close(top)
    return copied


def start_script(template: BuiltTemplate) -> str:
    """The shell script that runs ``template``'s start command in its working directory."""
    assert template.start_cmd is not None
    workdir = posixpath.normpath(template.workdir or "/")
    return f"cd {shlex.quote(workdir)} || exit 1\n{template.start_cmd}\n"


def _record(runtime: SandboxRuntime, process_id: str) -> ProcessRecord | None:
    for record in runtime.list_processes():
        if record.process_id == process_id:
            return record
    return None


def _tail(text: str) -> str:
    return text[-LOG_TAIL:]


async def _output(runtime: SandboxRuntime, process_id: str) -> tuple[str, str]:
    try:
        stdout, stderr = await anyio.to_thread.run_sync(runtime.process_output, process_id)
    except (SandboxFault, OSError):
        return "", ""
    return _tail(stdout), _tail(stderr)


def _port_open(runtime: SandboxRuntime, port: int) -> bool:
    processes = runtime.processes
    try:
        sock = connect_port(processes.init_pid, port, processes.pids, timeout=PROBE_TIMEOUT)
    except (PortUnreachable, OSError):
        return False
    sock.close()
    return True


def _url_ok(runtime: SandboxRuntime, url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        return False
    processes = runtime.processes
    try:
        sock = connect_port(processes.init_pid, port, processes.pids, timeout=PROBE_TIMEOUT)
    except (PortUnreachable, OSError):
        return False
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    request = f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    with sock:
        try:
            sock.setblocking(True)
            sock.settimeout(PROBE_TIMEOUT)
            sock.sendall(request.encode("ascii", "replace"))
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        except (OSError, TimeoutError):
            return False
    status = head.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[0].startswith(b"HTTP/") and status[1] == b"200"


def _argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read(1 << 16)
    except OSError:
        return []
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]


def _process_running(runtime: SandboxRuntime, name: str) -> bool:
    """Whether a process of the sandbox is called ``name`` or runs a program (or script) of
    that name, as the build's check has it."""
    for proc in runtime.processes.stats():
        if proc.name == name or any(posixpath.basename(arg) == name for arg in _argv(proc.pid)):
            return True
    return False


async def _in_sandbox(runtime: SandboxRuntime, script: str, check: ReadyCheck, *args: str) -> bool:
    limit = max(CHECK_TIMEOUT, check.interval * 5)
    try:
        outcome = await runtime.run_command("/bin/sh", ["-c", script, "sh", *args], timeout=limit)
    except SandboxFault:
        return False
    return outcome.exit_code == 0 and not outcome.timed_out


async def ready(runtime: SandboxRuntime, check: ReadyCheck, workdir: str) -> bool:
    """Whether ``check`` passes in the sandbox now."""
    if check.type == "port":
        return await anyio.to_thread.run_sync(_port_open, runtime, int(check.value))
    if check.type == "url":
        return await anyio.to_thread.run_sync(_url_ok, runtime, check.value)
    if check.type == "process":
        return await anyio.to_thread.run_sync(_process_running, runtime, check.value)
    if check.type == "file":
        return await _in_sandbox(runtime, 'test -e "$1"', check, check.value)
    script = f"cd {shlex.quote(workdir)} || exit 1\n{check.value}\n"
    return await _in_sandbox(runtime, script, check)


async def _fail(runtime: SandboxRuntime, process_id: str, message: str) -> StartFailure:
    try:
        record = _record(runtime, process_id)
        if record is not None and record.status == "running":
            await runtime.kill(process_id)
            record = _record(runtime, process_id)
    except SandboxFault:
        record = None
    stdout, stderr = await _output(runtime, process_id)
    exit_code = record.exit_code if record is not None else None
    return StartFailure(message, stdout=stdout, stderr=stderr, exit_code=exit_code)


async def run_start(runtime: SandboxRuntime, template: BuiltTemplate) -> ProcessRecord | None:
    """Start ``template``'s start command in the running sandbox ``runtime`` and wait until
    its ready check passes (bounded by the check's timeout); its process record (``None``:
    the template has no start command).

    Raises:
        StartFailure: the command could not start, exited, or was not ready in time (it is
            killed then; the sandbox itself is the caller's to clean up).
    """
    if not template.start_cmd:
        return None
    try:
        check = ReadyCheck.parse(template.ready_cmd)
    except BuildFailure as exc:
        raise StartFailure(f"the template's ready check is not valid: {exc}") from None
    try:
        record = await runtime.start_background(
            None, argv=["/bin/sh", "-c", start_script(template)], name=START_NAME
        )
    except SandboxFault as exc:
        raise StartFailure(f"the start command could not start: {exc.message}") from None
    process_id = record.process_id
    if check is None:
        return record
    deadline = time.monotonic() + check.timeout
    workdir = template.workdir or "/"
    try:
        while True:
            if await ready(runtime, check, workdir):
                return _record(runtime, process_id) or record
            current = _record(runtime, process_id)
            if current is None or current.status != "running":
                status = current.exit_code if current is not None else None
                raise await _fail(
                    runtime,
                    process_id,
                    f"the start command exited (status {status}) before its ready check "
                    f"({check.describe()}) passed",
                )
            if time.monotonic() + check.interval > deadline:
                raise await _fail(
                    runtime,
                    process_id,
                    f"the start command was not ready within {check.timeout * 1000:.0f} ms "
                    f"(ready check: {check.describe()})",
                )
            await anyio.sleep(check.interval)
    except StartFailure:
        raise
    except SandboxFault as exc:  # the sandbox itself failed (or was removed) meanwhile
        raise await _fail(
            runtime, process_id, f"the sandbox failed while its start command ran: {exc.message}"
        ) from None
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(SandboxFault):
            await runtime.kill(process_id)
        raise
