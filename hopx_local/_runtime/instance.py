"""One long-lived instance per running sandbox: bubblewrap and the sandbox's init.

The instance is started when the sandbox starts and ended when it stops. Under bubblewrap it
has its own user, pid, ipc, uts, mount, cgroup and (without internet access) network
namespaces, is placed in the sandbox's cgroup before it runs anything, and its first process
is ``_boot/init.py``. The runtime asks that init, over a socketpair, to start every process of
the sandbox, passing the process's stdio with SCM_RIGHTS; what the init sends back is checked
as hostile input and never waited for without a deadline. Without bubblewrap the same init runs
as a plain host process.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs

from .cgroups import SandboxCgroup
from .errors import fault
from .isolation import BOOT_DIR, BOOT_MOUNT, CODE_ID, IsolationMode, SandboxLayout, bwrap_path
from .languages import python_executable
from .mounts import (
    detached_tree,
    interpreter_prefixes,
    parent_dirs,
    sandbox_mounts,
    system_args,
)
from .process import SandboxProcess
from .procfs import kill_all
from .rootfs import layer_trees, system_layers

__all__ = ["InstanceSpec", "SandboxInstance", "init_python"]

log = logging.getLogger("hopx.local.runtime")

#: Capabilities the init keeps inside the sandbox's user namespace (never on the host):
#: attaching mounts and creating pid namespaces, switching to the code's user, setting the
#: sandbox's user-namespace limit. Programs it starts get none in that namespace (with a
#: writable system, code is root of a user namespace of its own, with capabilities there only).
_INIT_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_RESOURCE")
#: How long the init may take to start, and to answer one request.
_START_TIMEOUT = 30.0
_REPLY_TIMEOUT = 15.0
_MAX_REPLY = 4096
_INLINE_REQUEST = 32 << 10
_BOOT_FILES = {
    f"{BOOT_MOUNT}/init.py": BOOT_DIR / "init.py",
    f"{BOOT_MOUNT}/pyhooks/sitecustomize.py": BOOT_DIR / "pyhooks" / "sitecustomize.py",
    f"{BOOT_MOUNT}/pyhooks/hopx_inline.py": BOOT_DIR / "pyhooks" / "hopx_inline.py",
}


@attrs.frozen
class InstanceSpec:
    """How to run one sandbox's instance.

    ``code_ids`` are the host (uid, gid) sandboxed code runs as and ``init_ids`` those of
    bubblewrap and the init (both ``None`` when the server is not root and everything runs as
    the server's user). ``seccomp`` is a compiled filter for bubblewrap, ``cgroup`` the
    sandbox's cgroup, ``kernel_site`` the host directory holding the Jupyter kernel's packages
    (shown read-only at ``KERNEL_SITE_MOUNT``) when the sandbox needs to see it.
    ``system_store`` is the directory of the sandbox's own top layers of its writable system
    (see :mod:`.rootfs`; ``None``: the system is read-only), ``layers`` the read-only layer
    directories between them and the emulator's base (the topmost first; their top-level
    trees besides the system's, such as ``/app``, are shown too).
    """

    layout: SandboxLayout
    mode: IsolationMode
    internet_access: bool
    code_ids: tuple[int, int] | None
    init_ids: tuple[int, int] | None
    cgroup: SandboxCgroup | None = None
    seccomp: bytes | None = None
    kernel_site: str | None = None
    system_store: Path | None = None
    layers: tuple[Path, ...] = ()


def _reachable_by_others(path: str) -> bool:
    try:
        for parent in Path(path).parents:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IXOTH and mode & stat.S_IROTH)


@functools.cache
def init_python(unprivileged: bool) -> str | None:
    """The interpreter the init runs on: the server's own, or (when bubblewrap runs as an
    unprivileged user that cannot reach it) the system's ``python3``; ``None`` if neither."""
    own = python_executable()
    if not unprivileged or _reachable_by_others(own):
        return own
    system = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    if system is None or not _reachable_by_others(os.path.realpath(system)):
        return None
    probe = [system, "-I", "-S", "-c", "import sys; sys.exit(sys.version_info < (3, 9))"]
    done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
    return system if done.returncode == 0 else None


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _identity_files() -> dict[str, bytes]:
    passwd = (
        "root:x:0:0:root:/root:/bin/bash\n"
        f"user:x:{CODE_ID}:{CODE_ID}:sandbox user:/workspace:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\nuser:x:{CODE_ID}:\nnogroup:x:65534:\n"
    return {"/etc/passwd": passwd.encode(), "/etc/group": group.encode()}


def _pidfd_host_pid(pidfd: int) -> int | None:
    """The host pid a pidfd refers to, -1 if that process is already gone (reaped), None if
    ``pidfd`` is not a pidfd."""
    try:
        text = Path(f"/proc/self/fdinfo/{pidfd}").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Pid" and value.strip().lstrip("-").isdigit():
            return int(value)
    return None


class SandboxInstance:
    """The running instance of one sandbox (see the module docstring)."""

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.init_pid: int | None = None
        self.userns_blocked = False
        self._popen: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = anyio.Lock()
        self._broken = False
        #: Whether the sandbox's system is writable (overlays attached), once started.
        self.writable_system = False

    @property
    def isolated(self) -> bool:
        """Whether the instance runs under bubblewrap."""
        return self.spec.mode is IsolationMode.BWRAP

    @property
    def alive(self) -> bool:
        """Whether the init is running and answering."""
        return (
            self._popen is not None
            and self._popen.poll() is None
            and self._sock is not None
            and not self._broken
        )

    # -- starting ---------------------------------------------------------------------------

    def _log_tail(self) -> str:
        try:
            with open(self.spec.layout.state / "instance.log", "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 2000))
                return handle.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def _bwrap_command(
        self, fds: dict[str, int], attach: bool, overlays: Sequence[str] = ()
    ) -> list[str]:
        spec = self.spec
        args = ["--unshare-user"]
        if "block" in fds:
            args += ["--userns-block-fd", str(fds["block"]), "--uid", "0", "--gid", "0"]
        else:
            args += ["--uid", str(CODE_ID), "--gid", str(CODE_ID)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--hostname", spec.layout.sandbox_id[:63]]
        if not spec.internet_access:
            args.append("--unshare-net")
        args += ["--die-with-parent", "--as-pid-1", "--new-session", "--clearenv"]
        for capability in _INIT_CAPS:
            args += ["--cap-add", capability]
        if "seccomp" in fds:
            args += ["--seccomp", str(fds["seccomp"])]
        mounts = sandbox_mounts(spec.layout, spec.kernel_site, prefixes=not overlays)
        destinations = [*(m.dest for m in mounts), *overlays]
        args += parent_dirs([*destinations, f"{BOOT_MOUNT}/pyhooks/x", "/etc/x"])
        args += [*system_args(), "--proc", "/proc", "--dev", "/dev"]
        for mount in mounts:
            if attach:
                args += ["--perms", "0755", "--dir", mount.dest]
            else:
                args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.dest]
        for dest in overlays:
            args += ["--perms", "0755", "--dir", dest]
        args += ["--perms", "0755", "--dir", BOOT_MOUNT, "--perms", "0755"]
        args += ["--dir", f"{BOOT_MOUNT}/pyhooks"]
        for dest, fd in fds.items():
            if dest.startswith("/"):
                args += ["--perms", "0444", "--file", str(fd), dest]
        return [*args, "--chdir", "/", "--info-fd", str(fds["info"])]

    def _init_command(self, sock_fd: int) -> list[str]:
        python = init_python(self.spec.init_ids is not None)
        if python is None:
            raise fault(
                "INTERNAL_ERROR",
                "no Python interpreter the sandbox's unprivileged user can run was found; "
                "install python3 (3.9 or later) from your distribution",
            )
        return [python, "-I", "-S", f"{BOOT_MOUNT}/init.py", str(sock_fd)]

    async def start(self) -> None:
        """Start the instance and configure its init; INTERNAL_ERROR if it does not come up."""
        spec = self.spec
        spec.layout.state.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        theirs.set_inheritable(True)
        child_fds: dict[str, int] = {"sock": theirs.fileno()}
        local_fds: list[int] = []
        attach = self.isolated and spec.init_ids is not None
        info_r = block_w = None
        mount_fds: list[int] = []
        overlays: list[tuple[str, int]] = []
        if attach and spec.system_store is not None and spec.code_ids is not None:
            overlays = await self._system_overlays()
        mounts = (
            sandbox_mounts(spec.layout, spec.kernel_site, prefixes=not overlays) if attach else []
        )
        try:
            log_fd = os.open(
                spec.layout.state / "instance.log",
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            local_fds.append(log_fd)
            if self.isolated:
                bwrap = bwrap_path()
                if bwrap is None:
                    raise fault("INTERNAL_ERROR", "bubblewrap is not installed")
                info_r, child_fds["info"] = os.pipe()
                if spec.init_ids is not None:
                    child_fds["block"], block_w = os.pipe()
                if spec.seccomp is not None:
                    child_fds["seccomp"] = _memfd("hopx-seccomp", spec.seccomp)
                for dest, source in _BOOT_FILES.items():
                    child_fds[dest] = _memfd("hopx-boot", source.read_bytes())
                for dest, data in _identity_files().items():
                    child_fds[dest] = _memfd("hopx-etc", data)
                mount_fds = [detached_tree(mount) for mount in mounts]
                command = self._bwrap_command(child_fds, attach, [d for d, _fd in overlays])
                args_fd = _memfd("hopx-args", b"".join(a.encode() + b"\0" for a in command))
                child_fds["args"] = args_fd
                argv = [bwrap, "--args", str(args_fd), "--", *self._init_command(theirs.fileno())]
            else:
                init = str(BOOT_DIR / "init.py")
                argv = [python_executable(), "-I", "-S", init, str(theirs.fileno())]
            ids: dict[str, Any] = {}
            if self.isolated and spec.init_ids is not None:
                ids = {"user": spec.init_ids[0], "group": spec.init_ids[1], "extra_groups": []}
            await anyio.lowlevel.checkpoint()
            # Forked from the event loop's thread: bubblewrap's --die-with-parent ties the
            # instance to the thread that forked it.
            self._popen = subprocess.Popen(  # noqa: ASYNC220
                argv,
                pass_fds=list(child_fds.values()),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                cwd="/",
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                **ids,
            )
            for fd in child_fds.values():
                if fd != theirs.fileno():
                    os.close(fd)
            theirs.close()
            child_fds = {}
            if info_r is not None:
                self.init_pid = await self._read_child_pid(info_r)
            else:
                self.init_pid = self._popen.pid
            if spec.cgroup is not None:
                spec.cgroup.add(self.init_pid)
            if block_w is not None:
                self._map_ids(self.init_pid)
                os.write(block_w, b"1")
            self._sock = ours
            reply, _fds = await self._request(
                {
                    "op": "config",
                    "mounts": [mount.dest for mount in mounts] + [d for d, _fd in overlays],
                    "uid": CODE_ID if self.isolated else (spec.code_ids or (None,))[0],
                    "gid": CODE_ID if self.isolated else (spec.code_ids or (None, None))[1],
                    "pidns": self.isolated,
                    "subreaper": not self.isolated,
                    "block_userns": self.isolated,
                    "code_userns": self.writable_system,
                },
                [*mount_fds, *(fd for _dest, fd in overlays)],
                deadline=_START_TIMEOUT,
            )
            if reply.get("ok") is not True:
                raise fault("INTERNAL_ERROR", f"the sandbox's init refused: {reply.get('error')}")
            self.userns_blocked = reply.get("userns_blocked") is True
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self.stop()
            if isinstance(exc, Exception) and not getattr(exc, "code", None):
                tail = self._log_tail()
                raise fault(
                    "INTERNAL_ERROR",
                    f"the sandbox could not start: {exc}" + (f" ({tail})" if tail else ""),
                ) from exc
            raise
        finally:
            # The socket objects close their own descriptors (a failed or cancelled start
            # must not leave them to the garbage collector); the rest are plain numbers.
            child_fds.pop("sock", None)
            theirs.close()
            if self._sock is not ours:
                ours.close()
            for fd in (*child_fds.values(), *mount_fds, *(fd for _d, fd in overlays), *local_fds):
                with contextlib.suppress(OSError):
                    os.close(fd)
            for maybe in (info_r, block_w):
                if maybe is not None:
                    with contextlib.suppress(OSError):
                        os.close(maybe)

    async def _system_overlays(self) -> list[tuple[str, int]]:
        """The detached overlays of the sandbox's writable system, as (destination, mount fd);
        none (a read-only system, with a warning) where the kernel refuses them."""
        spec = self.spec
        assert spec.system_store is not None
        assert spec.code_ids is not None
        prefixes = list(interpreter_prefixes())
        try:
            system = await anyio.to_thread.run_sync(
                functools.partial(
                    system_layers,
                    spec.system_store,
                    spec.code_ids,
                    python=python_executable(),
                    prefixes=prefixes,
                    layers=spec.layers,
                    trees=layer_trees(spec.layers, prefixes),
                )
            )
        except OSError as exc:
            log.warning("the sandbox's system stays read-only: %s", exc)
            return []
        mounts, system.mounts = system.mounts, []
        self.writable_system = True
        return mounts

    async def _read_child_pid(self, info_r: int) -> int:
        os.set_blocking(info_r, False)
        data = b""
        with anyio.fail_after(_START_TIMEOUT):
            while True:
                try:
                    chunk = os.read(info_r, 4096)
                except BlockingIOError:
                    await anyio.wait_readable(info_r)
                    continue
                data += chunk
                with contextlib.suppress(ValueError):
                    pid = json.loads(data)["child-pid"]
                    if isinstance(pid, int) and pid > 1:
                        return pid
                if not chunk or len(data) > 65536:
                    raise fault("INTERNAL_ERROR", f"bubblewrap did not start: {self._log_tail()}")

    def _map_ids(self, pid: int) -> None:
        """Two users in the sandbox: root (the init) and ``user`` (code), each mapped to a
        host user of its own; nobody inside maps to a host user the server knows."""
        init_ids, code_ids = self.spec.init_ids, self.spec.code_ids
        assert init_ids is not None
        assert code_ids is not None
        for name, index in (("uid_map", 0), ("gid_map", 1)):
            text = f"0 {init_ids[index]} 1\n{CODE_ID} {code_ids[index]} 1\n"
            Path(f"/proc/{pid}/{name}").write_text(text)

    # -- talking to the init ----------------------------------------------------------------

    async def _request(
        self, doc: Mapping[str, Any], fds: Sequence[int], *, deadline: float = _REPLY_TIMEOUT
    ) -> tuple[dict[str, Any], list[int]]:
        sock = self._sock
        if sock is None:
            raise fault("INTERNAL_ERROR", "the sandbox is not running")
        data = json.dumps(doc).encode()
        extra: list[int] = []
        if len(data) > _INLINE_REQUEST:
            extra = [_memfd("hopx-request", data)]
            data = b'{"body": "fd"}'
        try:
            with anyio.fail_after(deadline):
                while True:
                    try:
                        socket.send_fds(sock, [data], [*fds, *extra])
                        break
                    except BlockingIOError:
                        await anyio.wait_writable(sock)
                while True:
                    try:
                        reply, got, flags, _addr = socket.recv_fds(sock, _MAX_REPLY, 2)
                        break
                    except BlockingIOError:
                        await anyio.wait_readable(sock)
        except (TimeoutError, OSError) as exc:
            self._broken = True
            raise fault("INTERNAL_ERROR", f"the sandbox's init did not answer: {exc}") from exc
        finally:
            for fd in extra:
                os.close(fd)
        try:
            answer = json.loads(reply) if reply else None
        except ValueError:
            answer = None
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or not isinstance(answer, dict):
            for fd in got:
                os.close(fd)
            self._broken = True
            raise fault("INTERNAL_ERROR", "the sandbox's init sent a malformed answer")
        return answer, got

    async def spawn(
        self, request: Mapping[str, Any], stdin: int, stdout: int, stderr: int
    ) -> SandboxProcess:
        """Start a process in the sandbox; its handle once it runs.

        ``request`` holds ``argv``, ``env``, ``cwd``, ``rlimits``, ``terminal`` and
        ``timeout`` (see ``_boot/init.py``). Raises a fault if the init refuses or fails.
        """
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(status_r, False)
        try:
            async with self._lock:
                reply, got = await self._request(
                    {"op": "spawn", **request}, [stdin, stdout, stderr, status_w]
                )
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
        if reply.get("ok") is not True or len(got) != 1:
            for fd in got:
                os.close(fd)
            os.close(status_r)
            error = reply.get("error")
            message = error if isinstance(error, str) else "the sandbox refused to start it"
            if reply.get("ok") is True:
                self._broken = True
            raise fault("EXECUTION_FAILED", message[:500])
        pidfd = got[0]
        pid = reply.get("pid")
        host_pid = _pidfd_host_pid(pidfd)
        if not isinstance(pid, int) or isinstance(pid, bool) or host_pid is None:
            os.close(pidfd)
            os.close(status_r)
            self._broken = True
            raise fault("INTERNAL_ERROR", "the sandbox's init sent a malformed answer")
        return SandboxProcess(
            pidfd, status_r, host_pid=host_pid, pid=pid, tree_kill=not self.isolated
        )

    # -- stopping ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """End the instance and every process in it; returns once they are gone (bounded)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            anyio.notify_closing(sock)
            sock.close()
        popen, self._popen = self._popen, None
        cgroup = self.spec.cgroup
        with anyio.CancelScope(shield=True):
            if self.init_pid is not None and not self.isolated:
                kill_all(self.init_pid)
            if self.init_pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(self.init_pid, 9)
            if popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                await self._wait_gone(popen.pid)
                popen.poll()
            if cgroup is not None:
                await anyio.to_thread.run_sync(cgroup.kill_all)
            elif self.init_pid is not None:
                await self._wait_gone(self.init_pid)
        self.init_pid = None

    async def _wait_gone(self, pid: int) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return
            raise
        try:
            with anyio.move_on_after(10):
                await anyio.wait_readable(pidfd)
        finally:
            anyio.notify_closing(pidfd)
            os.close(pidfd)
