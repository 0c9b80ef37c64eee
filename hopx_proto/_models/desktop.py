"""Agent desktop models: VNC, windows, recordings, displays and JSON screenshots.

The agent's description gives every desktop reply as a free-form object; these models read the
keys the service's own clients read, keep everything else in ``extra``, and default what may be
missing to ``None``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from typing import Any

import attrs

from .._codec import wire
from .._errors import RemoteProtocolError
from .._value import Value

__all__ = [
    "Display",
    "DisplayInfo",
    "DisplayResolutions",
    "RecordingInfo",
    "ScreenshotResponse",
    "VNCInfo",
    "WindowInfo",
    "WindowList",
]


@attrs.frozen(repr=False, eq=False, slots=False)
class VNCInfo(Value):
    """A VNC server: ``url`` (``vnc://host:5901``), ``display`` (1 for ``:1``), ``port``."""

    url: str | None = wire(default=None)
    password: str | None = wire(default=None, secret=True)
    display: int | None = wire(default=None)
    port: int | None = wire(default=None)
    websocket_url: str | None = wire(default=None)
    running: bool | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class WindowInfo(Value):
    """One window. ``id`` is the X11 window id, as a number or as text such as ``0x1a00003``."""

    id: int | str | None = wire(default=None)
    title: str | None = wire(default=None)
    x: int | None = wire(default=None)
    y: int | None = wire(default=None)
    width: int | None = wire(default=None)
    height: int | None = wire(default=None)
    is_active: bool | None = wire(default=None)
    is_minimized: bool | None = wire(default=None)
    desktop: int | None = wire(default=None)
    pid: int | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class WindowList(Value):
    """The reply of a window listing."""

    windows: list[WindowInfo] = wire(factory=list)
    count: int | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class RecordingInfo(Value):
    """A screen recording; ``status`` is recording, stopped or failed."""

    recording_id: str | None = wire(default=None)
    status: str | None = wire(default=None)
    start_time: _dt.datetime | None = wire(default=None)
    end_time: _dt.datetime | None = wire(default=None)
    duration: float | None = wire(default=None)
    file_path: str | None = wire(default=None)
    file_size: int | None = wire(default=None)
    format: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_recording(self) -> bool:
        """Whether the recording is still running."""
        return self.status == "recording"

    @property
    def is_ready(self) -> bool:
        """Whether the recording has stopped and can be downloaded."""
        return self.status == "stopped"


@attrs.frozen(repr=False, eq=False, slots=False)
class Display(Value):
    """One monitor of a multi-monitor display."""

    id: int | None = wire(default=None)
    name: str | None = wire(default=None)
    width: int | None = wire(default=None)
    height: int | None = wire(default=None)
    primary: bool | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class DisplayInfo(Value):
    """The X display: size in pixels, colour ``depth`` in bits, and its monitors."""

    width: int | None = wire(default=None)
    height: int | None = wire(default=None)
    depth: int | None = wire(default=None)
    refresh_rate: int | None = wire(default=None)
    displays: list[Display] | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def resolution(self) -> str:
        """``"1920x1080"``."""
        return f"{self.width}x{self.height}"


def _pair(item: Any, index: int) -> tuple[int, int]:
    if isinstance(item, dict):
        width, height = item.get("width"), item.get("height")
    elif isinstance(item, list) and len(item) == 2:
        width, height = item
    else:
        raise RemoteProtocolError(f"resolutions[{index}]: expected {{width, height}} or [w, h]")
    if (
        not isinstance(width, int)
        or not isinstance(height, int)
        or isinstance(width, bool)
        or isinstance(height, bool)
    ):
        raise RemoteProtocolError(f"resolutions[{index}]: width and height must be integers")
    return width, height


@attrs.frozen(repr=False, eq=False, slots=False)
class DisplayResolutions(Value):
    """The resolutions a display can be set to, as ``{width, height}`` objects or pairs."""

    resolutions: list[Any] = wire(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def pairs(self) -> list[tuple[int, int]]:
        """Every resolution as ``(width, height)``; :class:`RemoteProtocolError` if malformed."""
        return [_pair(item, i) for i, item in enumerate(self.resolutions)]


@attrs.frozen(repr=False, eq=False, slots=False)
class ScreenshotResponse(Value):
    """A screenshot carried in JSON: ``image`` is base64, ``format`` png or jpeg."""

    image: str | None = wire(default=None)
    format: str | None = wire(default=None)
    width: int | None = wire(default=None)
    height: int | None = wire(default=None)
    size: int | None = wire(default=None)
    timestamp: _dt.datetime | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def image_bytes(self) -> bytes:
        """The decoded image; :class:`RemoteProtocolError` if ``image`` is absent or not base64."""
        if self.image is None:
            raise RemoteProtocolError("screenshot reply has no image")
        try:
            return base64.b64decode(self.image, validate=True)
        except (binascii.Error, ValueError):
            raise RemoteProtocolError("screenshot image is not valid base64") from None
