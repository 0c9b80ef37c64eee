"""hopx-init: the first process of a sandbox, which starts every process the sandbox runs.

Run by the runtime as ``python -I -S init.py FD`` (FD: its end of a SOCK_SEQPACKET socketpair).
Inside bubblewrap it is pid 1 of the sandbox's pid namespace; it first re-executes itself as
``hopx-init`` so that ``/proc/1/cmdline`` names no host path. Only the standard library is used.

Messages are JSON objects, one per datagram; file descriptors travel with SCM_RIGHTS.

* ``config`` (first message, answered ``{"ok": true, ...}``): ``mounts`` (destinations for the
  detached mount trees passed as fds, attached in order), ``uid``/``gid`` (who code runs as, or
  null to keep ours), ``pidns`` (one pid namespace per process started), ``block_userns``,
  ``code_userns`` (code runs as root of a user namespace of its own, made here before new
  ones are forbidden, in which ``uid``/``gid`` are root).
* ``spawn`` (fds: stdin, stdout, stderr, status pipe; a fifth fd holds the request body when
  the message says ``"body": "fd"``): ``argv``, ``env``, ``cwd``, ``rlimits`` ([[name, soft,
  hard]...]), ``terminal``, ``timeout``. Answered ``{"ok": true, "pid": N}`` with a pidfd of the
  new process's reaper, or ``{"ok": false, "error": "..."}``.

Each spawned program runs below a reaper: with ``pidns`` the reaper is pid 1 of a fresh pid
namespace, so when the program exits the reaper exits and the kernel kills and reaps everything
else the program left before the reaper's exit becomes visible. The reaper writes the program's
status (``e<code>`` or ``s<signal>``) to the status pipe just before exiting. An end of file on
the socket ends the init, and with it the sandbox. A program killed at its ``timeout`` is
reported as ``t9`` instead, so that the runtime can say it timed out.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import sys
from typing import Any

_NAME = "hopx-init"
_CLONE_NEWPID = 0x20000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
_SYS_MOVE_MOUNT = 429
_MAX_MESSAGE = 1 << 16
#: The most descriptors one message carries (the config: every mount to attach).
_MAX_FDS = 32
_MAX_BODY = 64 << 20
_CPU_GRACE_SECONDS = 5
_RESET_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGCHLD", "SIGALRM", "SIGINT", "SIGTERM", "SIGHUP")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _set_name(name: bytes) -> None:
    _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _reexec_as_init() -> None:
    """Run again as ``hopx-init`` (argv shows no path) when we are a namespace's pid 1."""
    with open("/proc/self/cmdline", "rb") as handle:
        argv0 = handle.read().split(b"\0", 1)[0]
    if os.getpid() != 1 or argv0 == _NAME.encode():
        return
    env = {"PYTHONHOME": f"{sys.prefix}:{sys.exec_prefix}", "LANG": "C.UTF-8"}
    os.execve(sys.executable, [_NAME, "-S", "-s", "-B", sys.argv[0], sys.argv[1]], env)


class _Init:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.uid: int | None = None
        self.gid: int | None = None
        self.pidns = False
        self.code_userns: int | None = None
        self.reapers: set[int] = set()
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_w = wake_w
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    # -- messages ---------------------------------------------------------------------------

    def send(self, doc: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(doc).encode()
        try:
            socket.send_fds(self.sock, [data], fds or [])
        except OSError:
            os._exit(0)

    def receive(self) -> tuple[dict[str, Any], list[int]] | None:
        data, fds, flags, _addr = socket.recv_fds(self.sock, _MAX_MESSAGE, _MAX_FDS)
        if not data:
            return None
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            return {}, []
        doc = json.loads(data)
        if doc.get("body") == "fd" and fds:
            body_fd = fds.pop()
            with os.fdopen(body_fd, "rb") as handle:
                doc = json.loads(handle.read(_MAX_BODY))
        return doc, fds

    # -- configuration ----------------------------------------------------------------------

    def configure(self, doc: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        destinations = doc.get("mounts") or []
        if not isinstance(destinations, list) or len(destinations) != len(fds):
            raise OSError(errno.EINVAL, "mounts and descriptors do not match")
        for index, fd in enumerate(fds):
            dest = destinations[index]
            target = str(dest).encode()
            flags = _MOVE_MOUNT_F_EMPTY_PATH
            _check(_libc.syscall(_SYS_MOVE_MOUNT, fd, b"", _AT_FDCWD, target, flags), "mount")
            os.close(fd)
        self.uid = doc.get("uid")
        self.gid = doc.get("gid")
        self.pidns = bool(doc.get("pidns"))
        if doc.get("subreaper"):
            _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if doc.get("code_userns") and self.uid is not None and self.gid is not None:
            self.code_userns = _code_user_namespace(int(self.uid), int(self.gid))
        blocked = False
        if doc.get("block_userns"):
            blocked = _block_user_namespaces()
        os.chdir("/")
        return {"ok": True, "userns_blocked": blocked}

    # -- spawning ---------------------------------------------------------------------------

    def spawn(self, doc: dict[str, Any], fds: list[int]) -> None:
        if len(fds) != 4:
            for fd in fds:
                os.close(fd)
            self.send({"ok": False, "error": "spawn needs 4 file descriptors"})
            return
        read_end, write_end = os.pipe()
        try:
            helper = os.fork()
        except OSError as exc:
            for fd in (*fds, read_end, write_end):
                os.close(fd)
            self.send({"ok": False, "error": f"cannot fork: {exc.strerror}"})
            return
        if helper == 0:
            self._helper(doc, fds, read_end, write_end)
        os.close(write_end)
        for fd in fds:
            os.close(fd)
        answer = _read_all(read_end)
        os.close(read_end)
        _wait_quietly(helper)
        if not answer.isdigit():
            message = answer.decode(errors="replace") or "the sandbox could not start a process"
            self.send({"ok": False, "error": message})
            return
        pid = int(answer)
        self.reapers.add(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            self.send({"ok": False, "error": f"cannot follow the process: {exc.strerror}"})
            return
        self.send({"ok": True, "pid": pid}, [pidfd])
        os.close(pidfd)

    def _helper(self, doc: dict[str, Any], fds: list[int], read_end: int, write_end: int) -> None:
        """The short-lived child that puts the reaper into a new pid namespace."""
        try:
            os.close(read_end)
            if self.pidns:
                _check(_libc.unshare(_CLONE_NEWPID), "new pid namespace")
            reaper = os.fork()
            if reaper == 0:
                os.close(write_end)
                _Reaper(self, doc, fds).run()
            os.write(write_end, str(reaper).encode())
        except BaseException as exc:  # noqa: BLE001  (reported to the init, then gone)
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            os.write(write_end, f"cannot start the process: {message}".encode()[:4000])
        os._exit(0)

    def reap(self) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reapers.discard(pid)

    # -- main loop --------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            self._serve()
        finally:
            if not self.pidns:
                # Plain processes: nothing else kills what we started when the server is gone.
                _kill_descendants()

    def _serve(self) -> None:
        first = self.receive()
        if first is None:
            return
        doc, fds = first
        if doc.get("op") != "config":
            for fd in fds:
                os.close(fd)
            self.send({"ok": False, "error": "the first message must be a whole config"})
            return
        try:
            self.send(self.configure(doc, fds))
        except OSError as exc:
            self.send({"ok": False, "error": str(exc)})
            return
        while True:
            try:
                ready, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [])
            except InterruptedError:
                continue
            if self.wake_r in ready:
                _drain(self.wake_r)
            self.reap()
            if self.sock.fileno() not in ready:
                continue
            message = self.receive()
            if message is None:
                return
            doc, fds = message
            if doc.get("op") == "spawn":
                self.spawn(doc, fds)
            else:
                for fd in fds:
                    os.close(fd)
                self.send({"ok": False, "error": f"unknown operation {doc.get('op')!r}"})


class _Reaper:
    """Parent of one program: starts it (unprivileged), waits, reports its status, exits.

    The reaper keeps the init's identity, so the program cannot signal or trace it.
    """

    def __init__(self, init: _Init, doc: dict[str, Any], fds: list[int]) -> None:
        self.init = init
        self.doc = doc
        self.stdio = fds[:3]
        self.status = fds[3]

    def run(self) -> None:
        try:
            code = self._run()
        except BaseException as exc:  # noqa: BLE001  (a reaper never returns into the init)
            os.write(2, f"{_NAME}: {exc}\n".encode(errors="replace"))
            code = 125
        os._exit(code)

    def _run(self) -> int:
        _set_name(b"hopx-reaper")
        signal.set_wakeup_fd(-1)
        for name in _RESET_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        init = self.init
        for fd in (init.sock.fileno(), init.wake_r, init.wake_w):
            os.close(fd)
        if init.code_userns is not None:
            os.set_inheritable(init.code_userns, False)
        if not init.pidns:
            _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        program = os.fork()
        if program == 0:
            self._exec()
        for fd in self.stdio:
            os.close(fd)
        timeout = self.doc.get("timeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, float(timeout))
        status = _wait_for(program)
        report = (
            f"s{os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"e{os.WEXITSTATUS(status)}"
        )
        if not init.pidns:
            _kill_descendants()
        os.write(self.status, report.encode())
        return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    def _expired(self, *_args: object) -> None:
        if not self.init.pidns:
            _kill_descendants()
        os.write(self.status, b"t9")
        os._exit(128 + signal.SIGKILL)

    def _exec(self) -> None:
        try:
            # When the sandbox runs out of memory, its programs go before the init.
            try:
                with open("/proc/self/oom_score_adj", "w") as handle:
                    handle.write("500")
            except OSError:
                pass
            for target, fd in enumerate(self.stdio):
                os.dup2(fd, target)
            for fd in (*self.stdio, self.status):
                if fd > 2:
                    os.close(fd)
            os.setsid()
            if self.init.code_userns is not None:
                _become_code_root(self.init.code_userns)
            else:
                _drop_privileges(self.init.uid, self.init.gid)
            _apply_rlimits(self.doc.get("rlimits") or [])
            if self.doc.get("terminal"):
                import fcntl
                import termios

                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            argv = [str(arg) for arg in self.doc["argv"]]
            env = {str(k): str(v) for k, v in dict(self.doc.get("env") or {}).items()}
            os.chdir(str(self.doc.get("cwd") or "/"))
        except BaseException as exc:  # noqa: BLE001
            os.write(2, f"cannot prepare the process: {exc}\n".encode(errors="replace"))
            os._exit(126)
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            os.write(2, f"cannot execute {argv[0]}: {exc.strerror}\n".encode(errors="replace"))
            os._exit(126 if isinstance(exc, PermissionError) else 127)


def _drop_privileges(uid: int | None, gid: int | None) -> None:
    if gid is not None and os.getgid() != gid:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None and os.getuid() != uid:
        os.setresuid(uid, uid, uid)
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "drop capabilities")


def _code_user_namespace(uid: int, gid: int) -> int:
    """A user namespace (its fd) whose root is ``uid``/``gid`` of ours, for code to run in.

    Its owner is our root: the reapers may enter it; code in it has capabilities over its own
    files and nothing of ours (this namespace's processes, mounts and network belong to ours).
    """
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.close(done_w)
        status = 0 if _libc.unshare(_CLONE_NEWUSER) == 0 else 1
        os.write(ready_w, b"k" if status == 0 else b"e")
        os.read(done_r, 1)
        os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"k":
            raise OSError(errno.EPERM, "cannot create the code's user namespace")
        with open(f"/proc/{child}/uid_map", "w", encoding="ascii") as handle:
            handle.write(f"0 {uid} 1\n")
        with open(f"/proc/{child}/gid_map", "w", encoding="ascii") as handle:
            handle.write(f"0 {gid} 1\n")
        return os.open(f"/proc/{child}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        _wait_quietly(child)


def _become_code_root(userns: int) -> None:
    """Enter the code's user namespace as its root (capabilities there only), ambient and
    inheritable capabilities cleared."""
    _check(_libc.setns(userns, _CLONE_NEWUSER), "enter the code's user namespace")
    os.close(userns)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def _apply_rlimits(rlimits: object) -> None:
    for entry in rlimits if isinstance(rlimits, list) else []:
        name, value = str(entry[0]), int(entry[1])
        which = getattr(resource, name, None)
        if which is None:
            continue
        _soft, hard = resource.getrlimit(which)
        ceiling = value + _CPU_GRACE_SECONDS if name == "RLIMIT_CPU" else value
        if hard != resource.RLIM_INFINITY:
            ceiling = min(ceiling, hard)
        resource.setrlimit(which, (min(value, ceiling), ceiling))


def _block_user_namespaces() -> bool:
    """Forbid new user namespaces for everything below this one (what ``--disable-userns``
    of bubblewrap does, without its extra namespace): the per-namespace limit becomes 0."""
    path = "/proc/sys/user/max_user_namespaces"
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write("0\n")
        with open(path, encoding="ascii") as handle:
            return handle.read().strip() == "0"
    except OSError:
        return False


def _wait_for(program: int) -> int:
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        if pid == program:
            return status


def _kill_descendants() -> None:
    """SIGKILL and reap every process below this one (a subreaper: orphans come back here)."""
    me = os.getpid()
    for _round in range(100):
        children = _children_of(me)
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _pid in children:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if int(raw[raw.rfind(b")") + 2 :].split()[1]) == parent:
            found.append(int(entry))
    return found


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _wait_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    except OSError as exc:
        if exc.errno != errno.EINTR:
            raise


def main() -> None:
    """Serve the runtime on the socket given as the only argument."""
    _reexec_as_init()
    sock_fd = int(sys.argv[1])
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, 1 << 16)
    _set_name(_NAME.encode())
    sock = socket.socket(fileno=sock_fd)
    _Init(sock).serve()


if __name__ == "__main__":
    main()
