"""Sandbox paths (``/workspace/...``, ``/tmp/...``) resolved safely to host paths."""

from __future__ import annotations

import datetime
import errno
import os
import posixpath
import stat
from pathlib import Path

import attrs

from .errors import fault
from .isolation import SandboxLayout

__all__ = ["MOUNTS", "SandboxPaths", "is_symlink_at", "open_beneath", "rfc3339"]

#: Sandbox directories backed by host directories of the sandbox root.
MOUNTS = ("/workspace", "/tmp")
_MAX_SYMLINK_HOPS = 40


def rfc3339(timestamp: float) -> str:
    """An RFC 3339 UTC timestamp with second precision, e.g. ``2025-01-01T00:00:00Z``."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class SandboxPaths:
    """Maps sandbox paths to host paths without ever leaving the sandbox root.

    Symlinks are followed the way the sandbox itself would see them: absolute targets are
    sandbox paths, so a link to ``/etc/passwd`` (or anything outside ``/workspace`` and
    ``/tmp``) is refused instead of being followed on the host.
    """

    layout: SandboxLayout

    def _host_of_mount(self, mount: str) -> Path:
        return self.layout.workspace if mount == "/workspace" else self.layout.tmp

    def normalize(self, path: object) -> str:
        """The normalized absolute sandbox path; relative paths are taken from /workspace."""
        if not isinstance(path, str) or not path.strip():
            raise fault("INVALID_PATH", "path must be a non-empty string", path=str(path))
        if "\x00" in path:
            raise fault("PATH_NOT_ALLOWED", "path contains a NUL byte", path=path)
        absolute = path if path.startswith("/") else "/workspace/" + path
        normalized = posixpath.normpath("/" + absolute.lstrip("/"))
        self._split(normalized, original=path)
        return normalized

    def _split(self, sandbox: str, *, original: str) -> tuple[str, list[str]]:
        for mount in MOUNTS:
            if sandbox == mount or sandbox.startswith(mount + "/"):
                return mount, [part for part in sandbox[len(mount) :].split("/") if part]
        raise fault(
            "PATH_NOT_ALLOWED",
            "only paths under /workspace and /tmp are accessible",
            path=original,
        )

    def resolve(self, path: object, *, follow_final: bool = True) -> tuple[Path, str]:
        """(host path, normalized sandbox path) of an API path, symlinks resolved in-sandbox.

        Raises PATH_NOT_ALLOWED (403) for escapes, NUL bytes and symlinks leading outside,
        INVALID_PATH (400) for empty paths and symlink loops.
        """
        original = str(path)
        sandbox = self.normalize(path)
        hops = 0
        while True:
            mount, parts = self._split(sandbox, original=original)
            host = self._host_of_mount(mount)
            for index, part in enumerate(parts):
                candidate = host / part
                is_last = index == len(parts) - 1
                if (follow_final or not is_last) and candidate.is_symlink():
                    hops += 1
                    if hops > _MAX_SYMLINK_HOPS:
                        raise fault(
                            "INVALID_PATH", "too many levels of symbolic links", path=original
                        )
                    target = os.readlink(candidate)
                    here = posixpath.join(mount, *parts[:index])
                    joined = posixpath.join(here, target, *parts[index + 1 :])
                    sandbox = posixpath.normpath("/" + joined.lstrip("/"))
                    break
                host = candidate
            else:
                return host, sandbox

    def to_sandbox(self, host: Path) -> str:
        """The sandbox path of a host path inside the sandbox root."""
        for mount in MOUNTS:
            base = self._host_of_mount(mount)
            if host == base:
                return mount
            if host.is_relative_to(base):
                return posixpath.join(mount, host.relative_to(base).as_posix())
        raise fault("PATH_NOT_ALLOWED", "path is outside the sandbox", path=str(host))

    def split_host(self, host: Path) -> tuple[Path, list[str]]:
        """(mount directory, components below it) of a resolved host path."""
        for mount in MOUNTS:
            base = self._host_of_mount(mount)
            if host == base or host.is_relative_to(base):
                return base, list(host.relative_to(base).parts)
        raise fault("PATH_NOT_ALLOWED", "path is outside the sandbox", path=str(host))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def open_beneath(base: Path, parts: list[str], *, sandbox: str) -> int:
    """A directory fd for ``base/parts...``, refusing any symlink on the way (O_NOFOLLOW).

    Paths are resolved (symlinks included) before use; if a directory was swapped for a
    symlink since, the walk fails instead of following it: PATH_NOT_ALLOWED.
    """
    fd = os.open(base, _DIR_FLAGS)
    part = ""
    try:
        for part in parts:
            following = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = following
    except FileNotFoundError:
        os.close(fd)
        raise fault("FILE_NOT_FOUND", f"no such file or directory: {sandbox}", path=sandbox)
    except OSError as exc:
        swapped = exc.errno in (errno.ELOOP, errno.ENOTDIR) and is_symlink_at(fd, part)
        os.close(fd)
        if swapped:
            raise fault("PATH_NOT_ALLOWED", f"{sandbox} changed while in use", path=sandbox)
        if exc.errno == errno.ENOTDIR:
            raise fault("FILE_NOT_FOUND", f"no such file or directory: {sandbox}", path=sandbox)
        raise
    return fd


def is_symlink_at(directory: int, name: str) -> bool:
    """Whether ``name`` in the directory open as ``directory`` is a symlink."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False
