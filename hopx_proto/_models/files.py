"""Agent file models: directory entries, file contents, and the replies of file operations."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .._codec import wire
from .._value import Value

__all__ = ["FileChange", "FileContent", "FileExists", "FileInfo", "FileList", "FileResult"]


@attrs.frozen(repr=False, eq=False, slots=False)
class FileInfo(Value):
    """One directory entry of ``GET /files/list``.

    The agent writes ``is_directory``, ``modified_time`` and ``permissions``; older agents
    wrote ``is_dir``, ``modified`` and ``mode``, which are read as the same fields.
    """

    name: str = wire(default="")
    path: str = wire(default="")
    size: int = wire(default=0)
    is_directory: bool = wire(aliases=("is_dir",), default=False)
    modified_time: _dt.datetime | None = wire(aliases=("modified",), default=None)
    permissions: str | None = wire(aliases=("mode",), default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_file(self) -> bool:
        """Whether the entry is not a directory."""
        return not self.is_directory

    @property
    def is_dir(self) -> bool:
        """Alias of :attr:`is_directory`."""
        return self.is_directory

    @property
    def modified(self) -> _dt.datetime | None:
        """Alias of :attr:`modified_time`."""
        return self.modified_time

    @property
    def mode(self) -> str | None:
        """Alias of :attr:`permissions`."""
        return self.permissions

    @property
    def size_kb(self) -> float:
        """Size in KiB."""
        return self.size / 1024

    @property
    def size_mb(self) -> float:
        """Size in MiB."""
        return self.size / (1024 * 1024)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileList(Value):
    """The reply of ``GET /files/list``."""

    files: list[FileInfo] = wire(factory=list)
    path: str | None = wire(default=None)
    count: int | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileContent(Value):
    """The reply of ``GET /files/read``: the file as text."""

    content: str = wire(default="")
    path: str | None = wire(default=None)
    size: int | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileResult(Value):
    """The reply of a file change (write, upload, mkdir, remove).

    ``size`` is the written size for writes and uploads. ``success`` is whatever the agent
    said; an error status raises instead of arriving here.
    """

    success: bool | None = wire(default=None)
    path: str | None = wire(default=None)
    size: int | None = wire(default=None)
    message: str | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileExists(Value):
    """The reply of ``GET /files/exists``; a reply without ``exists`` is malformed."""

    exists: bool = wire()
    path: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def __bool__(self) -> bool:
        return self.exists


@attrs.frozen(repr=False, eq=False, slots=False)
class FileChange(Value):
    """One event of the ``/files/watch`` stream: ``event`` is created, modified, deleted or
    renamed."""

    path: str = wire()
    event: str = wire()
    type: str = wire(default="change")
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
