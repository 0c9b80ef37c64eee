"""The file operations of one sandbox: read, atomic write, upload, list, mkdir, remove.

These are blocking calls, run in worker threads by :class:`~.file_api.SandboxFileAPI`. Every
operation first resolves the sandbox path the way the sandbox sees it (a
:class:`~.paths.PathView`: the host directories of ``/workspace`` and ``/tmp``, or the running
sandbox's whole root, see :mod:`.sysroot`), then works relative to directory descriptors
opened with ``O_NOFOLLOW``: if sandboxed code swaps a directory for a symlink in between, the
operation fails instead of following the link out of the sandbox with the emulator's
privileges. Files are opened without blocking and refused unless regular, so a FIFO or a
device planted by sandboxed code cannot hold a worker.

New content is put in place whole: written to a staging directory beside the sandbox's tree
(never visible in the sandbox, emptied whenever the sandbox starts) and renamed over its path,
or, in the sandbox's root, written as a nameless file (``O_TMPFILE``) in the directory of its
path and linked in once complete. A crash leaves no half-written file in the sandbox.
"""

from __future__ import annotations

import builtins
import codecs
import contextlib
import errno
import heapq
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import SandboxFault, fault
from .paths import (
    MOUNTS,
    Base,
    PathView,
    SandboxPaths,
    is_symlink_at,
    kind_of,
    open_base,
    open_beneath,
    open_regular,
    rfc3339,
    stat_at,
    wire_text,
)
from .sharing import let_others_run, sharing
from .walk import TreeChanged, remove_tree
from .watch import Snapshot, snapshot

__all__ = [
    "CHUNK",
    "MAX_WHOLE_READ",
    "Download",
    "SandboxFiles",
    "Staged",
    "StagedBeside",
    "parse_mode",
]

#: The size of each piece of a download or an upload written to disk.
CHUNK = 256 * 1024
_DEFAULT_FILE_MODE = 0o644
#: Whole-file reads (``/files/read``) are refused above this size; downloads stream instead.
MAX_WHOLE_READ = 64 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NAMELESS = os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC
#: What a filesystem without nameless files answers to O_TMPFILE.
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: Entries are sorted in runs of this many, then merged: no single call holds the interpreter
#: for the whole of a huge directory.
_SORT_RUN = 4096


def parse_mode(mode: str | int | None) -> int | None:
    """An octal permission string (``"0644"``, ``"755"``, ``"0o600"``) as an int."""
    if mode is None or isinstance(mode, int):
        return mode
    text = mode.strip().lower().removeprefix("0o")
    try:
        value = int(text, 8)
    except ValueError:
        raise fault("INVALID_REQUEST", f"mode must be an octal string like '0644', not {mode!r}")
    if not 0 <= value <= 0o7777:
        raise fault("INVALID_REQUEST", f"mode {mode!r} is out of range")
    return value


def _missing(path: str) -> SandboxFault:
    return fault("FILE_NOT_FOUND", f"no such file or directory: {path}", path=path)


def _is_a_directory(path: str) -> SandboxFault:
    return fault("INVALID_PATH", f"{path} is a directory", path=path)


def _changed(path: str) -> SandboxFault:
    return SandboxFault("CONFLICT", f"{path} kept changing while in use; try again", 409, path=path)


class Download:
    """An open regular file and the length declared for it: reading stops at that length,
    however much the file grows meanwhile."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self.size = size
        self.sent = 0

    def read(self) -> bytes:
        """The next piece (at most :data:`CHUNK` bytes); ``b""`` at the declared end, or
        earlier if the file shrank."""
        wanted = min(CHUNK, self.size - self.sent)
        if wanted <= 0:
            return b""
        data = os.read(self._fd, wanted)
        self.sent += len(data)
        return data

    def close(self) -> None:
        """Release the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Staged:
    """New content being written to the staging directory, renamed over its path on
    :meth:`commit` (or thrown away by :meth:`discard`). Owns ``parent`` from then on."""

    def __init__(
        self,
        files: SandboxFiles,
        parent: int,
        name: str,
        sandbox: str,
        mode: int,
        overwrite: bool,
    ) -> None:
        self._files = files
        self._parent = parent
        self._name = name
        self.sandbox = sandbox
        self._mode = mode
        self._overwrite = overwrite
        self._temp = f"{secrets.token_hex(8)}.part"
        self.size = 0
        self._fd = self._open()

    def _open(self) -> int:
        self._staging = os.open(self._files.staging, _DIR_FLAGS)
        try:
            return os.open(self._temp, _NEW_FILE, 0o600, dir_fd=self._staging)
        except BaseException:
            os.close(self._staging)
            raise

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def commit(self) -> int:
        """Put the content in place atomically; its size."""
        try:
            os.fchmod(self._fd, self._mode)
            self._files.chown(self._fd)
            try:
                self._place()
            except FileExistsError:
                raise fault(
                    "FILE_ALREADY_EXISTS", f"{self.sandbox} already exists", path=self.sandbox
                ) from None
            except IsADirectoryError:
                raise _is_a_directory(self.sandbox) from None
            except OSError as exc:
                if exc.errno == errno.ENOTEMPTY:
                    raise _is_a_directory(self.sandbox) from None
                raise
        finally:
            self.discard()
        return self.size

    def _place(self) -> None:
        if self._overwrite:
            os.rename(self._temp, self._name, src_dir_fd=self._staging, dst_dir_fd=self._parent)
        else:  # a link fails if the name exists, whatever appeared there meanwhile
            os.link(self._temp, self._name, src_dir_fd=self._staging, dst_dir_fd=self._parent)

    def _release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp, dir_fd=self._staging)
        os.close(self._staging)

    def discard(self) -> None:
        """Throw the staged content away (nothing happens after :meth:`commit`)."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        try:
            self._release()
        finally:
            os.close(self._parent)


class StagedBeside(Staged):
    """New content written in the directory of its path, as a file without a name
    (``O_TMPFILE``) linked in whole on :meth:`commit`; a replacement is linked under a hidden
    name first and renamed over the old file. Where the filesystem has no nameless files, the
    content is written under the hidden name from the start."""

    _named = False

    def _open(self) -> int:
        self._temp = f".hopx-{secrets.token_hex(8)}.part"
        try:
            return os.open(".", _NAMELESS, 0o600, dir_fd=self._parent)
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                raise
        fd = os.open(self._temp, _NEW_FILE, 0o600, dir_fd=self._parent)
        self._named = True
        return fd

    def _place(self) -> None:
        if not self._named:
            name = self._temp if self._overwrite else self._name
            os.link(f"/proc/self/fd/{self._fd}", name, dst_dir_fd=self._parent)
            if not self._overwrite:
                return
            self._named = True
        if self._overwrite:
            os.rename(self._temp, self._name, src_dir_fd=self._parent, dst_dir_fd=self._parent)
            self._named = False
        else:
            os.link(self._temp, self._name, src_dir_fd=self._parent, dst_dir_fd=self._parent)

    def _release(self) -> None:
        if self._named:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp, dir_fd=self._parent)


class SandboxFiles:
    """File operations on sandbox paths (blocking; run them in a worker thread).

    ``owner`` is the (uid, gid) sandboxed code runs as: files and directories the API creates
    are given to it so code can change them. ``staging`` is where new content is written before
    it is renamed into place; it must be on the filesystem of the sandbox's tree and out of the
    sandbox's sight (by default ``staging/`` beside ``workspace/`` and ``tmp/``, on the
    sandbox's volume when it has one).
    """

    def __init__(
        self,
        paths: SandboxPaths,
        owner: tuple[int, int] | None,
        staging: Path | None = None,
        *,
        view: PathView | None = None,
    ) -> None:
        self.paths = paths
        self._owner = owner
        self.staging = staging if staging is not None else paths.layout.volume_root / "staging"
        #: How paths are seen: the host directories of ``paths``, or another view.
        self.view: PathView = view if view is not None else paths

    def seen_through(self, view: PathView) -> SandboxFiles:
        """The same operations on the sandbox's tree as ``view`` sees it."""
        return SandboxFiles(self.paths, self._owner, self.staging, view=view)

    def chown(self, fd: int) -> None:
        """Give the file open as ``fd`` to the sandbox user (when there is one)."""
        if self._owner is not None:
            os.fchown(fd, *self._owner)

    @contextlib.contextmanager
    def _parent(
        self, path: str, *, follow_final: bool = True, operation: str = "read"
    ) -> Iterator[tuple[int, str, str]]:
        """(parent directory fd, final name, sandbox path); the fd is closed afterwards."""
        fd, name, sandbox = self._open_parent(path, follow_final=follow_final, operation=operation)
        try:
            yield fd, name, sandbox
        finally:
            os.close(fd)

    def _open_parent(
        self, path: str, *, follow_final: bool = True, operation: str = "read"
    ) -> tuple[int, str, str]:
        base, parts, sandbox = self.view.locate(path, follow_final=follow_final)
        if not parts:
            raise self.view.top_refusal(sandbox, operation=operation)
        return open_beneath(base, parts[:-1], sandbox=sandbox), parts[-1], wire_text(sandbox)

    def _open_file(self, path: str) -> tuple[int, os.stat_result, str]:
        with self._parent(path) as (parent, name, sandbox):
            fd, info = open_regular(parent, name, sandbox=sandbox)
        return fd, info, sandbox

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a regular file (refused above :data:`MAX_WHOLE_READ` bytes)."""
        limit = MAX_WHOLE_READ
        fd, _info, sandbox = self._open_file(path)
        try:
            parts: list[bytes] = []
            total = 0
            while total <= limit and (piece := os.read(fd, min(CHUNK, limit + 1 - total))):
                parts.append(piece)
                total += len(piece)
        finally:
            os.close(fd)
        if total > limit:
            raise fault(
                "INVALID_REQUEST",
                f"{sandbox} is larger than {limit} bytes; download it instead",
                path=sandbox,
            )
        return b"".join(parts)

    def read_text(self, path: str) -> str:
        """The content of a file as text (UTF-8; undecodable bytes become U+FFFD)."""
        data = self.read_bytes(path)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces = [
            decoder.decode(data[start : start + CHUNK])
            for start in sharing(range(0, len(data), CHUNK), 4)
        ]
        pieces.append(decoder.decode(b"", final=True))
        return "".join(pieces)

    def open_download(self, path: str) -> Download:
        """A regular file opened for a download, its length fixed now."""
        fd, info, _sandbox = self._open_file(path)
        return Download(fd, info.st_size)

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at the path."""
        _base, parts, _sandbox = self.view.locate(path)
        if not parts:
            return True
        try:
            with self._parent(path) as (parent, name, _sandbox):
                return stat_at(parent, name) is not None
        except SandboxFault as exc:
            if exc.code == "FILE_NOT_FOUND":
                return False
            raise

    def _make_dirs(
        self, base: Base, parts: builtins.list[str], sandbox: str, *, target: bool = False
    ) -> None:
        """mkdir -p through directory fds; ``target``: the last part is the requested dir.
        Directories are made only where the view lets the sandbox's files change."""
        sandbox = wire_text(sandbox)
        fd = open_base(base)
        try:
            for index, part in enumerate(parts):
                created = False
                if stat_at(fd, part) is None:
                    self.view.check_writable(fd, sandbox)
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                    else:
                        created = True
                try:
                    following = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if is_symlink_at(fd, part):
                        raise fault(
                            "PATH_NOT_ALLOWED", f"{sandbox} changed while in use", path=sandbox
                        ) from None
                    if not isinstance(exc, NotADirectoryError):
                        raise
                    if target and index == len(parts) - 1:
                        raise fault(
                            "FILE_ALREADY_EXISTS", f"{sandbox} exists and is a file", path=sandbox
                        ) from None
                    raise fault(
                        "INVALID_PATH", f"a part of {sandbox} is a file", path=sandbox
                    ) from None
                os.close(fd)
                fd = following
                if created:
                    self.chown(fd)
        finally:
            os.close(fd)

    def _make_parents(self, path: str) -> None:
        base, parts, sandbox = self.view.locate(path)
        if not parts:
            raise self.view.top_refusal(sandbox, operation="write")
        self._make_dirs(base, parts[:-1], sandbox)

    def stage(self, path: str, mode: str | None = None, overwrite: bool = True) -> Staged:
        """Start new content for ``path`` (parents created); see :class:`Staged`."""
        wanted = parse_mode(mode)
        self._make_parents(path)
        parent, name, sandbox = self._open_parent(path, operation="write")
        try:
            self.view.check_replaceable(parent, name, sandbox)
            previous = stat_at(parent, name)
            if previous is not None and stat.S_ISDIR(previous.st_mode):
                raise _is_a_directory(sandbox)
            if previous is not None and not overwrite:
                raise fault("FILE_ALREADY_EXISTS", f"{sandbox} already exists", path=sandbox)
            self.view.check_writable(parent, sandbox)
            keep = stat.S_IMODE(previous.st_mode) if previous is not None else None
            kind = StagedBeside if self.view.in_place else Staged
            return kind(
                self, parent, name, sandbox, wanted or keep or _DEFAULT_FILE_MODE, overwrite
            )
        except BaseException:
            os.close(parent)
            raise

    def write(self, path: str, data: bytes, mode: str | None = None, overwrite: bool = True) -> int:
        """Create or replace a file atomically (staged, then renamed); returns its size."""
        staged = self.stage(path, mode, overwrite)
        try:
            staged.write(data)
            return staged.commit()
        finally:
            staged.discard()

    def _entry(self, name: str, sandbox: str, info: os.stat_result) -> dict[str, Any]:
        return {
            "name": wire_text(name),
            "path": wire_text(sandbox),
            "size": info.st_size,
            "is_directory": stat.S_ISDIR(info.st_mode),
            "modified_time": rfc3339(info.st_mtime),
            "permissions": stat.filemode(info.st_mode),
        }

    def _listing(self, path: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """``(name, sandbox path, lstat)`` of each entry of a directory, sorted by name (or of
        the one file when ``path`` is not a directory)."""
        base, parts, sandbox = self.view.locate(path)
        if parts:
            with self._parent(path) as (parent, name, shown):
                info = stat_at(parent, name)
                if info is None:
                    raise _missing(shown)
                if not stat.S_ISDIR(info.st_mode):
                    yield name, sandbox, info
                    return
        fd = open_beneath(base, parts, sandbox=sandbox)
        prefix = sandbox.rstrip("/") + "/"
        try:
            for name in _sorted_names(os.listdir(fd)):
                try:
                    item_info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield name, prefix + name, item_info
        finally:
            os.close(fd)

    def list(self, path: str = "/workspace") -> builtins.list[dict[str, Any]]:
        """Entries of a directory (symlinks reported as links), sorted by name."""
        return [self._entry(*found) for found in self._listing(path)]

    def list_encoded(self, path: str = "/workspace") -> tuple[int, bytes]:
        """``(count, JSON)``: the entries of :meth:`list`, encoded as the items of a JSON array
        (comma-separated, no brackets), without holding them all as objects at once."""
        out = bytearray()
        count = 0
        for name, sandbox, info in self._listing(path):
            if count:
                out += b","
            out += _entry_json(name, sandbox, info)
            count += 1
        return count, bytes(out)

    def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents (no error if it exists)."""
        base, parts, sandbox = self.view.locate(path)
        self._make_dirs(base, parts, sandbox, target=True)

    def remove(self, path: str) -> None:
        """Remove a file, a symlink (not its target) or a whole directory tree."""
        with self._parent(path, follow_final=False, operation="remove") as (parent, name, sandbox):
            info = stat_at(parent, name)
            if info is None:
                raise _missing(sandbox)
            self.view.check_replaceable(parent, name, sandbox)
            self.view.check_writable(parent, sandbox)
            try:
                remove_tree(parent, name)  # a file, a link or a whole tree, never followed
            except TreeChanged:
                raise _changed(sandbox) from None

    def watch_root(self, path: str) -> str:
        """The sandbox path of a directory to watch (its symlinks resolved)."""
        base, parts, sandbox = self.view.locate(path)
        try:
            fd = open_beneath(base, parts, sandbox=sandbox)
        except SandboxFault as exc:
            if exc.code != "FILE_NOT_FOUND":
                raise
            shown = wire_text(sandbox)
            raise fault("DIRECTORY_NOT_FOUND", f"no such directory: {shown}", path=shown) from None
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if not stat.S_ISDIR(mode):
            raise fault(
                "DIRECTORY_NOT_FOUND",
                f"{wire_text(sandbox)} is a {kind_of(mode)}, not a directory",
                path=wire_text(sandbox),
            )
        return sandbox

    def snapshot(self, sandbox: str) -> Snapshot:
        """Every entry below the directory at ``sandbox`` (see :func:`~.watch.snapshot`);
        empty when it is gone or cannot be reached."""
        try:
            base, parts, resolved = self.view.locate(sandbox)
        except SandboxFault:
            return {}
        return snapshot(base, parts, resolved)

    def make_root_dirs(self) -> None:
        """Create the sandbox's /workspace and /tmp if missing, owned by the sandbox user, and
        an empty staging directory beside them (what a crash left there is thrown away)."""
        for mount in MOUNTS:
            host, _sandbox = self.paths.resolve(mount)
            host.mkdir(parents=True, mode=0o755, exist_ok=True)
            fd = os.open(host, _DIR_FLAGS)
            try:
                self.chown(fd)
            finally:
                os.close(fd)
        if self.staging.is_dir() and not self.staging.is_symlink():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True, mode=0o700)
        devices = {Path(p).stat().st_dev for p in (self.staging, *self._mount_dirs())}
        if len(devices) != 1:
            raise RuntimeError(
                f"the staging directory {self.staging} must be on the filesystem of the "
                "sandbox's /workspace and /tmp (files are renamed from it into place)"
            )

    def _mount_dirs(self) -> builtins.list[Path]:
        return [self.paths.layout.workspace, self.paths.layout.tmp]


def _json_text(text: str) -> str:
    return json.dumps(wire_text(text), ensure_ascii=False)


def _entry_json(name: str, sandbox: str, info: os.stat_result) -> bytes:
    """The JSON of :meth:`SandboxFiles._entry`, written without building the dictionary (a
    listing of 100,000 entries then leaves no 100,000 objects for the collector)."""
    directory = "true" if stat.S_ISDIR(info.st_mode) else "false"
    return (
        f'{{"name":{_json_text(name)},"path":{_json_text(sandbox)},"size":{info.st_size},'
        f'"is_directory":{directory},"modified_time":"{rfc3339(info.st_mtime)}",'
        f'"permissions":"{stat.filemode(info.st_mode)}"}}'
    ).encode()


def _sorted_names(names: builtins.list[str]) -> Iterator[str]:
    """``names`` in order, sorted in runs merged lazily (each C-level sort stays short), handing
    the interpreter to other threads as it goes."""
    if len(names) <= _SORT_RUN:
        yield from sharing(sorted(names))
        return
    runs = []
    for start in range(0, len(names), _SORT_RUN):
        runs.append(sorted(names[start : start + _SORT_RUN]))
        let_others_run()
    yield from sharing(heapq.merge(*runs))
