"""A seccomp filter for sandboxes, compiled by libseccomp (the system's library, through ctypes).

The filter makes a list of system calls fail with EPERM: kernel attack surface that code in a
sandbox has no business with (eBPF, perf events, io_uring, userfaultfd, keyrings, module and
kexec loading, mounting and the new mount API's constructors, handle-based opens, clock and
swap changes, ...). libseccomp resolves each name for the machine's architecture and emits
the BPF program that bubblewrap installs (``--seccomp FD``) before the sandbox's first process
starts; system calls of another ABI (32-bit x86 on x86_64) kill the process. New user
namespaces are not in the list: the sandbox's init forbids them through the kernel's
per-namespace limit, which also covers ``clone3`` (whose flags a filter cannot read).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os

__all__ = ["DENIED_SYSCALLS", "filter_program"]

log = logging.getLogger("hopx.local.runtime")

#: System calls a sandboxed process gets EPERM for.
DENIED_SYSCALLS = (
    "acct",
    "add_key",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
)

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_ACT_ERRNO = 0x00050000


@functools.cache
def filter_program() -> bytes | None:
    """The compiled filter (BPF instructions), or ``None`` when libseccomp is not installed."""
    name = ctypes.util.find_library("seccomp")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        log.info("libseccomp cannot be loaded: %s", exc)
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not context:
        return None
    memfd = os.memfd_create("hopx-seccomp")
    try:
        deny = _SCMP_ACT_ERRNO | errno.EPERM
        for syscall in DENIED_SYSCALLS:
            number = lib.seccomp_syscall_resolve_name(syscall.encode())
            if number < 0:
                continue
            if lib.seccomp_rule_add(context, deny, number, 0) != 0:
                log.warning("seccomp: cannot add a rule for %s", syscall)
                return None
        if lib.seccomp_export_bpf(context, memfd) != 0:
            return None
        size = os.lseek(memfd, 0, os.SEEK_END)
        return os.pread(memfd, size, 0)
    finally:
        os.close(memfd)
        lib.seccomp_release(context)
