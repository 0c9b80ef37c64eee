"""Connections to a TCP port inside a sandbox, made from the host.

A sandbox without internet access has its own network namespace: its ``127.0.0.1`` is not the
host's, so the server cannot simply connect to it. The socket is instead created inside that
namespace: a short-lived thread joins it with ``setns(2)`` (the server is root there), creates
the socket and ends, so no thread of the server is ever left in a sandbox's namespace and the
namespace of the socket, fixed when it is created, is the sandbox's. The connect itself then
happens on the socket as usual. In the sandbox's namespace only the sandbox's own programs
listen, so nothing but its own ports can be reached.

A sandbox with internet access (or one run without bubblewrap) shares the host's network
namespace; there a port is connected to only when a process of the sandbox holds a listening
socket on it, so a preview URL never leads to a service of the host or of another sandbox.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import threading
from collections.abc import Callable

__all__ = ["PortUnreachable", "connect_port", "valid_port"]

_CLONE_NEWNET = 0x40000000
_LISTEN = "0A"
_LOOPBACKS = (
    (socket.AF_INET, "127.0.0.1"),
    (socket.AF_INET6, "::1"),
)


class PortUnreachable(Exception):
    """Nothing of the sandbox accepts connections on the port.

    Attributes:
        port: the port.
        reason: why, in words.
    """

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(reason)
        self.port = port
        self.reason = reason


def valid_port(port: object) -> bool:
    """Whether ``port`` is a TCP port number (an int from 1 to 65535)."""
    return isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535


def _libc_setns() -> Callable[[int, int], int]:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    setns = libc.setns
    setns.argtypes = (ctypes.c_int, ctypes.c_int)
    setns.restype = ctypes.c_int
    return setns


def _netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def _socket_in(netns_fd: int, family: int) -> socket.socket:
    """A TCP socket created in the network namespace ``netns_fd`` refers to."""
    result: list[socket.socket | OSError] = []

    def joiner() -> None:
        # This thread ends right after: it is never reused in the sandbox's namespace.
        try:
            if _libc_setns()(netns_fd, _CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"setns: {os.strerror(code)}")
            result.append(socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC))
        except OSError as exc:  # handed to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=joiner, name="hopx-netns", daemon=True)
    thread.start()
    thread.join()
    found = result[0] if result else OSError(errno.EIO, "setns thread gave nothing")
    if isinstance(found, OSError):
        raise found
    return found


#: Listening addresses (as /proc/net/tcp{,6} spell them) that take a connection to each
#: loopback: the address itself, the wildcard, and for IPv4 a dual-stack IPv6 socket.
_RECEIVERS = {
    "127.0.0.1": {
        ("tcp", "0100007F"),
        ("tcp", "00000000"),
        ("tcp6", "0" * 32),
        ("tcp6", "0000000000000000FFFF00000100007F"),
    },
    "::1": {("tcp6", "00000000000000000000000001000000"), ("tcp6", "0" * 32)},
}


def _receivers(port: int, address: str) -> set[str]:
    """Inodes of the sockets in the server's namespace that would accept a connection to
    ``address``:``port``."""
    found: set[str] = set()
    wanted = _RECEIVERS[address]
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{table}", encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            local, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and (table, local.upper()) in wanted:
                found.add(fields[9])
    return found


def _held_inodes(pids: set[int]) -> set[str]:
    """Inodes of the sockets the processes ``pids`` hold."""
    held: set[str] = set()
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                held.add(target[8:-1])
    return held


def connect_port(
    init_pid: int | None,
    port: int,
    sandbox_pids: Callable[[], set[int]],
    *,
    timeout: float,
) -> socket.socket:
    """A connected, non-blocking socket to ``port`` on the sandbox's loopback (blocking: run
    it in a worker thread).

    Args:
        init_pid: the host pid of the sandbox's init (its network namespace is the
            sandbox's); ``None`` when the sandbox is not running.
        port: the TCP port inside the sandbox.
        sandbox_pids: the host pids of the sandbox's processes (asked only when the sandbox
            shares the host's network namespace).
        timeout: how long the connect may take, in seconds.

    Returns:
        The connected socket, set non-blocking.

    Raises:
        PortUnreachable: the sandbox is not running, nothing of it listens on ``port``, or
            the connection was refused or timed out.
    """
    if init_pid is None:
        raise PortUnreachable(port, "the sandbox is not running")
    try:
        netns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        raise PortUnreachable(port, "the sandbox is not running") from None
    try:
        shared = os.fstat(netns_fd).st_ino == _netns_inode("/proc/self/ns/net")
        addresses = list(_LOOPBACKS)
        if shared:
            # Only where every socket that could take the connection is the sandbox's own.
            held = _held_inodes(sandbox_pids())
            addresses = [
                (family, address)
                for family, address in addresses
                if (receivers := _receivers(port, address)) and receivers <= held
            ]
            if not addresses:
                raise PortUnreachable(port, f"nothing in the sandbox listens on port {port}")
        refused: list[str] = []
        for family, address in addresses:
            try:
                sock = (
                    socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                    if shared
                    else _socket_in(netns_fd, family)
                )
            except OSError as exc:
                refused.append(f"{address}: {exc.strerror or exc}")
                continue
            try:
                sock.settimeout(timeout)
                sock.connect((address, port))
                sock.setblocking(False)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                refused.append(f"{address}: {getattr(exc, 'strerror', None) or exc}")
        tried = "; ".join(refused)
        raise PortUnreachable(
            port, f"nothing in the sandbox accepts connections on port {port} ({tried})"
        )
    finally:
        os.close(netns_fd)
