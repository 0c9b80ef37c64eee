"""A sandbox's writable tree on a volume of its own: a sparse ext4 image on a loop device.

Writing past the sandbox's ``disk_mb`` then fails with ENOSPC inside the sandbox, and nothing
else on the host fills up. The image (``disk.img`` in the sandbox directory, sparse: it takes
the space really used) is attached to a loop device that clears itself and mounted *detached*
(``fsopen``/``fsmount``): it appears in no mount table of the host. The server reaches it
through its own descriptor (``/proc/<pid>/fd/<n>``), the sandbox through copies of its
subdirectories that its init attaches; when both are gone (the sandbox stopped, or the server
died) the kernel unmounts it and frees the loop device, so nothing is left mounted, whatever
happened. It needs root, ``mkfs.ext4`` and the ext4 driver; where any is missing the writable
tree is a plain directory and the limit is not enforced (the runtime says so).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import shutil
import struct
from pathlib import Path

import anyio

from .errors import fault

__all__ = ["SandboxVolume", "volumes_supported"]

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 430, 431, 432
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_CLOEXEC = 1
_MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV, _MOUNT_ATTR_NOATIME = 0x2, 0x4, 0x10
_LOOP_CTL_GET_FREE, _LOOP_CONFIGURE = 0x4C82, 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4
#: struct loop_info64 with only lo_flags set, then 64 reserved bytes (struct loop_config).
_LOOP_INFO = "<QQQQQIIII64s64s32sQQ"


@functools.cache
def volumes_supported() -> bool:
    """Whether this host can give sandboxes a size-limited volume."""
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
        return False
    if shutil.which("mkfs.ext4") is None:
        return False
    try:
        return "ext4" in Path("/proc/filesystems").read_text()
    except OSError:
        return False


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _loop_device(image: Path) -> tuple[int, str]:
    """A free loop device backed by ``image``, cleared when its last user goes: (fd, name)."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _attempt in range(20):
            number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
            name = f"/dev/loop{number}"
            device = os.open(name, os.O_RDWR | os.O_CLOEXEC)
            info = struct.pack(
                _LOOP_INFO, 0, 0, 0, 0, 0, 0, 0, 0, _LO_FLAGS_AUTOCLEAR, b"", b"", b"", 0, 0
            )
            config = struct.pack("<II", backing, 0) + info + bytes(64)
            try:
                fcntl.ioctl(device, _LOOP_CONFIGURE, config)
            except OSError as exc:
                os.close(device)
                if exc.errno == errno.EBUSY:
                    continue  # taken by someone else in between
                raise
            return device, name
        raise OSError(errno.EBUSY, "no free loop device")
    finally:
        os.close(backing)
        os.close(control)


def _mount_detached(image: Path) -> int:
    device, name = _loop_device(image)
    try:
        fs = _check(_libc.syscall(_SYS_FSOPEN, b"ext4", _CLOEXEC), "fsopen")
        try:
            source = name.encode()
            _check(
                _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_STRING, b"source", source, 0),
                "source",
            )
            # No background zeroing of inode tables: it would fill the sparse image.
            _check(
                _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_SET_FLAG, b"noinit_itable", None, 0),
                "options",
            )
            _check(_libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0), "mount")
            attrs = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV | _MOUNT_ATTR_NOATIME
            return _check(_libc.syscall(_SYS_FSMOUNT, fs, _CLOEXEC, attrs), "fsmount")
        finally:
            os.close(fs)
    finally:
        os.close(device)


class SandboxVolume:
    """The image of one sandbox and, while attached, the server's handle on its filesystem."""

    def __init__(self, root: Path) -> None:
        self.image = root / "disk.img"
        self._mount: int | None = None

    @property
    def exists(self) -> bool:
        """Whether the sandbox has an image (created earlier)."""
        return self.image.exists()

    @property
    def path(self) -> Path | None:
        """The filesystem's root as a path the server can use, while attached."""
        return Path(f"/proc/{os.getpid()}/fd/{self._mount}") if self._mount is not None else None

    async def attach(self, size_mb: int) -> Path:
        """Create the image on first use (``size_mb`` MiB), mount it detached; its root path."""
        if self._mount is not None:
            return Path(f"/proc/{os.getpid()}/fd/{self._mount}")
        if not self.exists:
            part = self.image.with_name(self.image.name + ".part")
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, size_mb << 20)
            finally:
                os.close(fd)
            options = "lazy_itable_init=1,lazy_journal_init=1"
            done = await anyio.run_process(
                ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", options, str(part)], check=False
            )
            if done.returncode != 0:
                detail = done.stderr.decode(errors="replace").strip()
                raise fault("INTERNAL_ERROR", f"cannot create the sandbox's volume: {detail}")
            os.replace(part, self.image)
        try:
            self._mount = await anyio.to_thread.run_sync(_mount_detached, self.image)
        except OSError as exc:
            raise fault("INTERNAL_ERROR", f"cannot mount the sandbox's volume: {exc}") from exc
        return Path(f"/proc/{os.getpid()}/fd/{self._mount}")

    def detach(self) -> None:
        """Let go of the filesystem (unmounted once the sandbox's copies are gone too)."""
        if self._mount is not None:
            fd, self._mount = self._mount, None
            with contextlib.suppress(OSError):
                os.close(fd)
