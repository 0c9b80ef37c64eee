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

Making a filesystem costs a process and tens of milliseconds, so it is done once per size:
the first sandbox of a size makes an empty image (``.volume-<size>m.img`` beside the sandbox
directories) and every sandbox's image is a sparse copy of it (its few hundred KiB of
metadata, without the holes). The images have no blocks reserved for growing the filesystem
(``resize_inode``): they never grow, and those blocks were most of what a new image held.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import secrets
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
_TEMPLATE_PREFIX = ".volume-"
#: Directories whose half-made templates this server has removed already.
_CLEANED: set[Path] = set()


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


def _sparse_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to a new ``target`` of the same size, its holes left holes."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(src).st_size
            os.ftruncate(dst, size)
            offset = 0
            while offset < size:
                try:
                    start = os.lseek(src, offset, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # only a hole is left
                        break
                    raise
                end = os.lseek(src, start, os.SEEK_HOLE)
                _copy_range(src, dst, start, end)
                offset = end
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    position = start
    while position < end:
        try:
            done = os.copy_file_range(src, dst, end - position, position, position)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            data = os.pread(src, min(end - position, 1 << 20), position)
            done = os.pwrite(dst, data, position) if data else 0
        if done <= 0:
            raise OSError(errno.EIO, "the volume template ended early")
        position += done


async def _template(directory: Path, size_mb: int) -> Path:
    """The empty image of ``size_mb`` MiB sandbox images are copied from (made if missing)."""
    template = directory / f"{_TEMPLATE_PREFIX}{size_mb}m.img"
    if directory not in _CLEANED:
        _CLEANED.add(directory)
        await anyio.to_thread.run_sync(_remove_stale_parts, directory)
    with contextlib.suppress(OSError):
        if template.stat().st_size == size_mb << 20:
            return template
    # Each maker writes its own file and renames it into place: two at once both succeed.
    part = directory / f"{_TEMPLATE_PREFIX}{size_mb}m.{os.getpid()}-{secrets.token_hex(4)}.part"
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, size_mb << 20)
        finally:
            os.close(fd)
        options = "lazy_itable_init=1,lazy_journal_init=1"
        command = ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^resize_inode", "-E", options]
        done = await anyio.run_process([*command, str(part)], check=False)
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise fault("INTERNAL_ERROR", f"cannot create the sandbox's volume: {detail}")
        os.replace(part, template)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    return template


def _remove_stale_parts(directory: Path) -> None:
    """Remove templates half made by servers that are gone."""
    with contextlib.suppress(OSError):
        for entry in directory.glob(f"{_TEMPLATE_PREFIX}*.part"):
            pid = entry.name.rsplit(".", 2)[-2].split("-", 1)[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                with contextlib.suppress(OSError):
                    entry.unlink()


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
            template = await _template(self.image.parent.parent, size_mb)
            part = self.image.with_name(self.image.name + ".part")
            try:
                await anyio.to_thread.run_sync(_sparse_copy, template, part)
            except OSError as exc:
                raise fault("INTERNAL_ERROR", f"cannot create the sandbox's volume: {exc}") from exc
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
