"""``sandbox.desktop``: desktop automation (the official sync ``Desktop``, asynchronous).

Every method is one operation of the desktop table. A sandbox without a desktop answers with
:class:`hopx_proto.DesktopNotAvailableError` (listing what is missing).
"""

# ruff: noqa: ASYNC109  (the official signatures take per-call timeout= keywords)
from __future__ import annotations

import builtins
from typing import Any, TypeVar

from .._errors import RemoteProtocolError
from .._models.desktop import DisplayInfo, RecordingInfo, VNCInfo, WindowInfo
from .._ops import desktop as d
from .._ops._base import NoArgs, Operation
from ._agent import Agent

__all__ = ["AsyncDesktop"]

A = TypeVar("A")
R = TypeVar("R")

RECORDING_DOWNLOAD_TIMEOUT = 120.0


def _key(reply: dict[str, Any], key: str, op: str) -> Any:
    if key not in reply:
        raise RemoteProtocolError(f"{op} reply has no {key!r}", operation=op)
    return reply[key]


class AsyncDesktop:
    """VNC, mouse, keyboard, clipboard, screenshots, recordings, windows and display.

    Coordinates are pixels from the top-left corner. Every method raises
    :class:`~hopx_proto.DesktopNotAvailableError` (naming what is missing) in a sandbox without
    a desktop, other :class:`~hopx_proto.AgentError` subclasses as the agent answers, and
    :class:`~hopx_proto.NetworkError` / :class:`~hopx_proto.TimeoutError` for the transport.

    Args:
        agent: the sandbox's agent (``sandbox.desktop`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def _call(self, op: Operation[A, R], args: A, *, read_timeout: float | None = None) -> R:
        return await self._agent.call(op, args, read_timeout=read_timeout)

    # -- VNC --------------------------------------------------------------------------------

    async def start_vnc(self, display: int = 1, password: str | None = None) -> VNCInfo:
        """Start a VNC server on X ``display`` (with ``password`` if given); its address."""
        return await self._call(d.DESKTOP_VNC_START, d.VncStart(display=display, password=password))

    async def stop_vnc(self) -> None:
        """Stop the VNC server."""
        await self._call(d.DESKTOP_VNC_STOP, d.EmptyBody())

    async def get_vnc_status(self) -> VNCInfo:
        """The VNC server's status."""
        return await self._call(d.DESKTOP_VNC_STATUS, NoArgs())

    async def get_vnc_url(self) -> str:
        """The VNC URL (starting the server if it is not running)."""
        status = await self.get_vnc_status()
        if not status.running or not status.url:
            status = await self.start_vnc()
        if not status.url:
            raise RemoteProtocolError("the VNC status has no url", operation="desktop.vnc.status")
        return status.url

    # -- mouse and keyboard -----------------------------------------------------------------

    async def click(self, x: int, y: int, button: str = "left", clicks: int = 1) -> None:
        """Click ``button`` (``"left"``, ``"right"``, ``"middle"``) ``clicks`` times at (``x``,
        ``y``)."""
        await self._call(
            d.DESKTOP_MOUSE_CLICK,
            d.MouseClick(x=x, y=y, button=button, clicks=clicks),  # type: ignore[arg-type]
        )

    async def move(self, x: int, y: int) -> None:
        """Move the pointer to (x, y)."""
        await self._call(d.DESKTOP_MOUSE_MOVE, d.MouseMove(x=x, y=y))

    async def drag(
        self, from_x: int, from_y: int, to_x: int, to_y: int, button: str = "left"
    ) -> None:
        """Drag with ``button`` held from (``from_x``, ``from_y``) to (``to_x``, ``to_y``)."""
        await self._call(
            d.DESKTOP_MOUSE_DRAG,
            d.MouseDrag(
                from_x=from_x,
                from_y=from_y,
                to_x=to_x,
                to_y=to_y,
                button=button,  # type: ignore[arg-type]
            ),
        )

    async def scroll(self, amount: int, direction: str = "down") -> None:
        """Scroll ``amount`` steps in ``direction`` (``"up"``, ``"down"``, ``"left"`` or
        ``"right"``)."""
        await self._call(
            d.DESKTOP_MOUSE_SCROLL,
            d.MouseScroll(amount=amount, direction=direction),  # type: ignore[arg-type]
        )

    async def type(self, text: str, delay_ms: int = 10) -> None:
        """Type ``text``, waiting ``delay_ms`` milliseconds between keys."""
        await self._call(d.DESKTOP_KEYBOARD_TYPE, d.KeyboardType(text=text, delay_ms=delay_ms))

    async def press(self, key: str) -> None:
        """Press one key."""
        await self._call(d.DESKTOP_KEYBOARD_PRESS, d.KeyboardPress(key=key))

    async def combination(self, modifiers: builtins.list[str], key: str) -> None:
        """Press ``key`` with ``modifiers`` held."""
        await self._call(
            d.DESKTOP_KEYBOARD_COMBINATION, d.KeyCombination(modifiers=list(modifiers), key=key)
        )

    async def hotkey(
        self, modifiers: builtins.list[str], key: str, *, timeout: int | None = None
    ) -> None:
        """Press ``key`` with the ``modifiers`` held (``["ctrl", "shift"]``); ``timeout`` is the
        read deadline in seconds."""
        await self._call(
            d.DESKTOP_X11_HOTKEY,
            d.KeyCombination(modifiers=list(modifiers), key=key),
            read_timeout=timeout,
        )

    # -- clipboard --------------------------------------------------------------------------

    async def set_clipboard(self, text: str) -> None:
        """Set the clipboard text."""
        await self._call(d.DESKTOP_CLIPBOARD_SET, d.ClipboardSet(text=text))

    async def get_clipboard(self) -> str:
        """The clipboard text."""
        reply = await self._call(d.DESKTOP_CLIPBOARD_GET, NoArgs())
        return str(_key(reply, "text", "desktop.clipboard.get"))

    async def get_clipboard_history(self) -> builtins.list[str]:
        """Recent clipboard texts."""
        reply = await self._call(d.DESKTOP_CLIPBOARD_HISTORY, NoArgs())
        return [str(x) for x in reply.get("history") or []]

    # -- screenshots and recordings ---------------------------------------------------------

    async def screenshot(self) -> bytes:
        """A screenshot's image bytes."""
        reply = await self._call(d.DESKTOP_SCREENSHOT_CAPTURE, d.EmptyBody())
        return reply.image_bytes()

    async def screenshot_region(self, x: int, y: int, width: int, height: int) -> bytes:
        """A screenshot of the ``width`` x ``height`` region at (``x``, ``y``), as image bytes."""
        return await self._call(
            d.DESKTOP_SCREENSHOT_REGION, d.Region(x=x, y=y, width=width, height=height)
        )

    async def capture_window(
        self, window_id: str | None = None, *, timeout: int | None = None
    ) -> bytes:
        """The image bytes of window ``window_id`` (the active window when ``None``); ``timeout`` is
        the read deadline in seconds."""
        return await self._call(
            d.DESKTOP_X11_CAPTURE_WINDOW, d.CaptureWindow(window_id=window_id), read_timeout=timeout
        )

    async def start_recording(
        self, fps: int = 10, format: str = "mp4", quality: str = "medium"
    ) -> RecordingInfo:
        """Start recording the screen at ``fps`` frames a second, as ``format`` (``"mp4"``) of
        ``quality`` (``"low"``, ``"medium"``, ``"high"``); the recording's record."""
        return await self._call(
            d.DESKTOP_RECORDING_START,
            d.RecordingStart(fps=fps, format=format, quality=quality),  # type: ignore[arg-type]
        )

    async def stop_recording(self, recording_id: str) -> RecordingInfo:
        """Stop the recording ``recording_id``; its final record."""
        return await self._call(
            d.DESKTOP_RECORDING_STOP, d.RecordingStop(recording_id=recording_id)
        )

    async def get_recording_status(self, recording_id: str) -> RecordingInfo:
        """The status of the recording ``recording_id``."""
        return await self._call(
            d.DESKTOP_RECORDING_STATUS, d.RecordingQuery(recording_id=recording_id)
        )

    async def download_recording(self, recording_id: str) -> bytes:
        """The video bytes of the finished recording ``recording_id``."""
        return await self._call(
            d.DESKTOP_RECORDING_DOWNLOAD,
            d.RecordingQuery(recording_id=recording_id),
            read_timeout=RECORDING_DOWNLOAD_TIMEOUT,
        )

    # -- windows ----------------------------------------------------------------------------

    async def get_windows(self) -> builtins.list[WindowInfo]:
        """Every window."""
        return list((await self._call(d.DESKTOP_WINDOWS_LIST, NoArgs())).windows)

    async def focus_window(self, window_id: str) -> None:
        """Focus the window ``window_id``."""
        await self._call(d.DESKTOP_WINDOWS_FOCUS, d.WindowTarget(window_id=window_id))

    async def close_window(self, window_id: str) -> None:
        """Close the window ``window_id``."""
        await self._call(d.DESKTOP_WINDOWS_CLOSE, d.WindowTarget(window_id=window_id))

    async def resize_window(self, window_id: str, width: int, height: int) -> None:
        """Resize the window ``window_id`` to ``width`` x ``height`` pixels."""
        await self._call(
            d.DESKTOP_WINDOWS_RESIZE,
            d.WindowResize(window_id=window_id, width=width, height=height),
        )

    async def minimize_window(self, window_id: str) -> None:
        """Minimize the window ``window_id``."""
        await self._call(d.DESKTOP_WINDOWS_MINIMIZE, d.WindowTarget(window_id=window_id))

    # -- display ----------------------------------------------------------------------------

    async def get_display(self) -> DisplayInfo:
        """The display's size and depth."""
        return await self._call(d.DESKTOP_DISPLAY_CURRENT, NoArgs())

    async def get_available_resolutions(self) -> builtins.list[tuple[int, int]]:
        """Resolutions the display can be set to."""
        return (await self._call(d.DESKTOP_DISPLAY_AVAILABLE, NoArgs())).pairs()

    async def set_resolution(self, width: int, height: int) -> DisplayInfo:
        """Set the display to ``width`` x ``height`` pixels; the display afterwards."""
        return await self._call(d.DESKTOP_DISPLAY_SET, d.DisplaySize(width=width, height=height))

    # -- X11 helpers ------------------------------------------------------------------------

    async def ocr(
        self,
        x: int,
        y: int,
        width: int,
        height: int,
        *,
        language: str = "eng",
        timeout: int | None = None,
    ) -> str:
        """The text recognised in the ``width`` x ``height`` region at (``x``, ``y``), read
        as ``language`` (a Tesseract code, ``"eng"``); ``timeout`` is the read deadline in
        seconds."""
        reply = await self._call(
            d.DESKTOP_X11_OCR,
            d.OcrRegion(x=x, y=y, width=width, height=height, language=language),
            read_timeout=timeout,
        )
        return str(_key(reply, "text", "desktop.x11.ocr"))

    async def find_element(self, text: str, *, timeout: int | None = None) -> dict[str, Any] | None:
        """The UI element showing ``text``, or ``None``; ``timeout`` is the read deadline in
        seconds."""
        reply = await self._call(
            d.DESKTOP_X11_FIND_ELEMENT, d.ElementText(text=text), read_timeout=timeout
        )
        element = reply.get("element")
        return element if isinstance(element, dict) else None

    async def wait_for(self, text: str, *, timeout: int = 30) -> dict[str, Any]:
        """Wait until a UI element showing ``text`` appears, for ``timeout`` seconds at most;
        the element."""
        reply = await self._call(
            d.DESKTOP_X11_WAIT_FOR, d.WaitFor(text=text, timeout=timeout), read_timeout=timeout + 30
        )
        element = reply.get("element")
        return element if isinstance(element, dict) else reply

    async def drag_drop(
        self, from_x: int, from_y: int, to_x: int, to_y: int, *, timeout: int | None = None
    ) -> None:
        """Drag from (``from_x``, ``from_y``) and drop at (``to_x``, ``to_y``); ``timeout`` is the
        read deadline in seconds."""
        await self._call(
            d.DESKTOP_X11_DRAG_DROP,
            d.DragDrop(from_x=from_x, from_y=from_y, to_x=to_x, to_y=to_y),
            read_timeout=timeout,
        )

    async def get_bounds(self, text: str, *, timeout: int | None = None) -> dict[str, Any]:
        """The bounding box of the UI element showing ``text``; ``timeout`` is the read deadline in
        seconds."""
        return await self._call(
            d.DESKTOP_X11_GET_BOUNDS, d.ElementText(text=text), read_timeout=timeout
        )

    async def get_debug_logs(self) -> builtins.list[str]:
        """Desktop service log lines."""
        reply = await self._call(d.DESKTOP_DEBUG_LOGS, NoArgs())
        return [str(x) for x in reply.get("logs") or []]

    async def get_debug_processes(self) -> builtins.list[dict[str, Any]]:
        """Desktop service processes."""
        reply = await self._call(d.DESKTOP_DEBUG_PROCESSES, NoArgs())
        return [p for p in reply.get("processes") or [] if isinstance(p, dict)]
