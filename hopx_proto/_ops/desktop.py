"""Agent desktop operations (``/desktop/*``) and agent self-update (``/update/*``).

The agent's description lists the desktop paths without bodies; the bodies here are the ones
the service's own Python client sends. Where that client calls a path or method the
description lacks (``GET /desktop/screenshot``, ``GET /desktop/windows``, ``GET
/desktop/display``, ``/desktop/x11/drag_drop`` with an underscore, ``find_element``,
``wait_for``, ``get_bounds``, ``capture_window``, ``/desktop/windows/minimize``), the variant
is an operation of its own with ``in_spec=False``. Screenshots, recordings and window captures
are raw bytes.

``update.upload`` sends the new agent binary as ``multipart/form-data`` with one ``file`` part,
the same shape as ``files.upload``; its reply, like every other update reply, is free-form JSON.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import attrs

from .._errors import LocalProtocolError, RemoteProtocolError
from .._http import Request
from .._models.desktop import (
    DisplayInfo,
    DisplayResolutions,
    RecordingInfo,
    ScreenshotResponse,
    VNCInfo,
    WindowList,
)
from .._multipart import Part, boundary_of, decode_multipart, encode_multipart
from .._value import Value
from ._base import NoArgs as NoArgs, Operation, Plane, RawJSON, ResultCodec, body, query, whole_body
from .files import BINARY, model, result_codec

__all__ = [
    "DESKTOP_CLIPBOARD_GET",
    "DESKTOP_CLIPBOARD_HISTORY",
    "DESKTOP_CLIPBOARD_SET",
    "DESKTOP_DEBUG_LOGS",
    "DESKTOP_DEBUG_PROCESSES",
    "DESKTOP_DISPLAY_AVAILABLE",
    "DESKTOP_DISPLAY_CURRENT",
    "DESKTOP_DISPLAY_GET",
    "DESKTOP_DISPLAY_SET",
    "DESKTOP_KEYBOARD_COMBINATION",
    "DESKTOP_KEYBOARD_PRESS",
    "DESKTOP_KEYBOARD_TYPE",
    "DESKTOP_MOUSE_CLICK",
    "DESKTOP_MOUSE_DRAG",
    "DESKTOP_MOUSE_MOVE",
    "DESKTOP_MOUSE_SCROLL",
    "DESKTOP_RECORDING_DOWNLOAD",
    "DESKTOP_RECORDING_START",
    "DESKTOP_RECORDING_STATUS",
    "DESKTOP_RECORDING_STOP",
    "DESKTOP_SCREENSHOT_CAPTURE",
    "DESKTOP_SCREENSHOT_GET",
    "DESKTOP_SCREENSHOT_REGION",
    "DESKTOP_VNC_START",
    "DESKTOP_VNC_STATUS",
    "DESKTOP_VNC_STOP",
    "DESKTOP_WINDOWS_CLOSE",
    "DESKTOP_WINDOWS_FOCUS",
    "DESKTOP_WINDOWS_GET",
    "DESKTOP_WINDOWS_LIST",
    "DESKTOP_WINDOWS_MINIMIZE",
    "DESKTOP_WINDOWS_RESIZE",
    "DESKTOP_X11_CAPTURE_WINDOW",
    "DESKTOP_X11_DRAG_DROP",
    "DESKTOP_X11_DRAG_DROP_UNDERSCORE",
    "DESKTOP_X11_FIND_ELEMENT",
    "DESKTOP_X11_GET_BOUNDS",
    "DESKTOP_X11_HOTKEY",
    "DESKTOP_X11_OCR",
    "DESKTOP_X11_WAIT_FOR",
    "UPDATE_APPLY",
    "UPDATE_BACKUPS",
    "UPDATE_RESTART",
    "UPDATE_UPLOAD",
    "CaptureWindow",
    "ClipboardSet",
    "DisplaySize",
    "DragDrop",
    "ElementText",
    "EmptyBody",
    "KeyCombination",
    "KeyboardPress",
    "KeyboardType",
    "MouseClick",
    "MouseDrag",
    "MouseMove",
    "MouseScroll",
    "OcrRegion",
    "RecordingQuery",
    "RecordingStart",
    "RecordingStop",
    "Region",
    "UpdateUpload",
    "VncStart",
    "WaitFor",
    "WindowResize",
    "WindowTarget",
    "RAW_JSON",
]

A = TypeVar("A")
R = TypeVar("R")

RAW_JSON: ResultCodec[dict[str, Any]] = result_codec(RawJSON())


# ---------------------------------------------------------------------------------------------
# Validators


def _integer(low: int) -> Any:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LocalProtocolError(f"{attribute.name} must be an integer >= {low}, got {value!r}")

    return check


_coordinate = _integer(0)
_count = _integer(1)


def _text(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a string, got {value!r}")


def _non_empty_text(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise LocalProtocolError(f"{attribute.name} must be a non-empty string, got {value!r}")


def _one_of(*allowed: str) -> Any:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if value not in allowed:
            raise LocalProtocolError(
                f"{attribute.name} must be one of {', '.join(allowed)}, got {value!r}"
            )

    return check


def _key_names(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LocalProtocolError(f"{attribute.name} must be a list of key names, got {value!r}")


def _window_id(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise LocalProtocolError(f"{attribute.name} must be a window id (text or integer)")


def _optional_text(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a string or None")


def _optional_password(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise LocalProtocolError(f"{attribute.name} must be a non-empty string or None")


# ---------------------------------------------------------------------------------------------
# Arguments


@attrs.frozen(repr=False, eq=False, slots=False)
class EmptyBody(Value):
    """A JSON object body, ``{}`` unless options are given."""

    options: dict[str, Any] = whole_body()


@attrs.frozen(repr=False, eq=False, slots=False)
class VncStart(Value):
    """``{display, password?}``: display 1 is ``:1``; the password is left out when None."""

    display: int = body(default=1, validator=_integer(0))
    password: str | None = body(default=None, validator=_optional_password)


@attrs.frozen(repr=False, eq=False, slots=False)
class MouseClick(Value):
    """``{x, y, button, clicks}``."""

    x: int = body(validator=_coordinate)
    y: int = body(validator=_coordinate)
    button: Literal["left", "right", "middle"] = body(
        default="left", validator=_one_of("left", "right", "middle")
    )
    clicks: int = body(default=1, validator=_count)


@attrs.frozen(repr=False, eq=False, slots=False)
class MouseMove(Value):
    """``{x, y}``."""

    x: int = body(validator=_coordinate)
    y: int = body(validator=_coordinate)


@attrs.frozen(repr=False, eq=False, slots=False)
class MouseDrag(Value):
    """``{from_x, from_y, to_x, to_y, button}``."""

    from_x: int = body(validator=_coordinate)
    from_y: int = body(validator=_coordinate)
    to_x: int = body(validator=_coordinate)
    to_y: int = body(validator=_coordinate)
    button: Literal["left", "right", "middle"] = body(
        default="left", validator=_one_of("left", "right", "middle")
    )


@attrs.frozen(repr=False, eq=False, slots=False)
class MouseScroll(Value):
    """``{amount, direction}``: ``amount`` steps towards ``direction``."""

    amount: int = body(validator=_count)
    direction: Literal["up", "down", "left", "right"] = body(
        default="down", validator=_one_of("up", "down", "left", "right")
    )


@attrs.frozen(repr=False, eq=False, slots=False)
class KeyboardType(Value):
    """``{text, delay_ms}``."""

    text: str = body(validator=_text)
    delay_ms: int = body(default=10, validator=_integer(0))


@attrs.frozen(repr=False, eq=False, slots=False)
class KeyboardPress(Value):
    """``{key}``: an X key name such as ``Return``, ``Escape``, ``F1``."""

    key: str = body(validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class KeyCombination(Value):
    """``{modifiers, key}`` (keyboard combinations and X11 hotkeys)."""

    modifiers: list[str] = body(validator=_key_names)
    key: str = body(validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class ClipboardSet(Value):
    """``{text}``."""

    text: str = body(validator=_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class Region(Value):
    """``{x, y, width, height}``."""

    x: int = body(validator=_coordinate)
    y: int = body(validator=_coordinate)
    width: int = body(validator=_count)
    height: int = body(validator=_count)


@attrs.frozen(repr=False, eq=False, slots=False)
class RecordingStart(Value):
    """``{fps, format, quality}``."""

    fps: int = body(default=10, validator=_count)
    format: Literal["mp4", "webm"] = body(default="mp4", validator=_one_of("mp4", "webm"))
    quality: Literal["low", "medium", "high"] = body(
        default="medium", validator=_one_of("low", "medium", "high")
    )


@attrs.frozen(repr=False, eq=False, slots=False)
class RecordingStop(Value):
    """``{recording_id}``."""

    recording_id: str = body(validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class RecordingQuery(Value):
    """``?id=<recording_id>``."""

    recording_id: str = query("id", default=attrs.NOTHING, validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class WindowTarget(Value):
    """``{window_id}``."""

    window_id: str | int = body(validator=_window_id)


@attrs.frozen(repr=False, eq=False, slots=False)
class WindowResize(Value):
    """``{window_id, width, height}``."""

    window_id: str | int = body(validator=_window_id)
    width: int = body(validator=_count)
    height: int = body(validator=_count)


@attrs.frozen(repr=False, eq=False, slots=False)
class DisplaySize(Value):
    """``{width, height}``."""

    width: int = body(validator=_count)
    height: int = body(validator=_count)


@attrs.frozen(repr=False, eq=False, slots=False)
class OcrRegion(Value):
    """``{x, y, width, height, language}`` (a Tesseract language code)."""

    x: int = body(validator=_coordinate)
    y: int = body(validator=_coordinate)
    width: int = body(validator=_count)
    height: int = body(validator=_count)
    language: str = body(default="eng", validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class DragDrop(Value):
    """``{from_x, from_y, to_x, to_y}``."""

    from_x: int = body(validator=_coordinate)
    from_y: int = body(validator=_coordinate)
    to_x: int = body(validator=_coordinate)
    to_y: int = body(validator=_coordinate)


@attrs.frozen(repr=False, eq=False, slots=False)
class ElementText(Value):
    """``{text}``: the text of the element to find."""

    text: str = body(validator=_non_empty_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class WaitFor(Value):
    """``{text, timeout}``: wait up to ``timeout`` seconds for the element."""

    text: str = body(validator=_non_empty_text)
    timeout: int = body(default=30, validator=_count)


@attrs.frozen(repr=False, eq=False, slots=False)
class CaptureWindow(Value):
    """``?window_id=``; the active window when None."""

    window_id: str | None = query(default=None)


def _bytes_value(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bytes):
        raise LocalProtocolError(f"{attribute.name} must be bytes, got {type(value).__name__}")


@attrs.frozen(repr=False, eq=False, slots=False)
class UpdateUpload(Value):
    """A new agent binary. ``boundary`` as for ``files.upload`` (derived when None)."""

    data: bytes = attrs.field(validator=_bytes_value, repr=lambda d: f"<{len(d)} bytes>")
    filename: str = attrs.field(default="hopx-agent", validator=_non_empty_text)
    boundary: str | None = attrs.field(default=None, eq=False, validator=_optional_text)


def _update_boundary(args: UpdateUpload) -> str:
    import hashlib  # here: only uploads need it

    seed = hashlib.sha256(args.filename.encode() + b"\x00" + args.data)
    while True:
        boundary = seed.hexdigest()[:32]
        if b"--" + boundary.encode("ascii") not in args.data:
            return boundary
        seed.update(b"\x00")


def _encode_update(args: UpdateUpload) -> tuple[bytes, bytes]:
    part = Part("file", args.data, filename=args.filename)
    return encode_multipart([part], args.boundary or _update_boundary(args))


def _parse_update(request: Request, _values: dict[str, Any]) -> UpdateUpload:
    content_type = request.header("content-type")
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        raise RemoteProtocolError("update.upload needs a multipart/form-data body", status_hint=415)
    parts = decode_multipart(content_type, request.body or b"", max_parts=4)
    files = [p for p in parts if p.name == "file"]
    if len(files) != 1 or len(parts) != 1:
        raise RemoteProtocolError(
            "update.upload takes exactly one part, named 'file'", kind="malformed_body"
        )
    return UpdateUpload(
        files[0].data, files[0].filename or "hopx-agent", boundary=boundary_of(content_type)
    )


# ---------------------------------------------------------------------------------------------
# Operations


def _op(
    name: str,
    method: str,
    path: str,
    args: type[A],
    result: ResultCodec[R],
    summary: str,
    *,
    in_spec: bool = True,
) -> Operation[A, R]:
    return Operation(
        name=name,
        plane=Plane.AGENT,
        method=method,
        path=path,
        args=args,
        result=result,
        in_spec=in_spec,
        summary=summary,
    )


DESKTOP_VNC_START = _op(
    "desktop.vnc.start", "POST", "/desktop/vnc/start", VncStart, model(VNCInfo),
    "Start a VNC server.",
)  # fmt: skip
DESKTOP_VNC_STOP = _op(
    "desktop.vnc.stop", "POST", "/desktop/vnc/stop", EmptyBody, RAW_JSON, "Stop the VNC server."
)
DESKTOP_VNC_STATUS = _op(
    "desktop.vnc.status", "GET", "/desktop/vnc/status", NoArgs, model(VNCInfo),
    "VNC server status; also the desktop availability probe.",
)  # fmt: skip

DESKTOP_MOUSE_CLICK = _op(
    "desktop.mouse.click", "POST", "/desktop/mouse/click", MouseClick, RAW_JSON, "Click."
)
DESKTOP_MOUSE_MOVE = _op(
    "desktop.mouse.move", "POST", "/desktop/mouse/move", MouseMove, RAW_JSON, "Move the pointer."
)
DESKTOP_MOUSE_DRAG = _op(
    "desktop.mouse.drag", "POST", "/desktop/mouse/drag", MouseDrag, RAW_JSON, "Drag."
)
DESKTOP_MOUSE_SCROLL = _op(
    "desktop.mouse.scroll", "POST", "/desktop/mouse/scroll", MouseScroll, RAW_JSON, "Scroll."
)

DESKTOP_KEYBOARD_TYPE = _op(
    "desktop.keyboard.type", "POST", "/desktop/keyboard/type", KeyboardType, RAW_JSON,
    "Type text.",
)  # fmt: skip
DESKTOP_KEYBOARD_PRESS = _op(
    "desktop.keyboard.press", "POST", "/desktop/keyboard/press", KeyboardPress, RAW_JSON,
    "Press one key.",
)  # fmt: skip
DESKTOP_KEYBOARD_COMBINATION = _op(
    "desktop.keyboard.combination", "POST", "/desktop/keyboard/combination", KeyCombination,
    RAW_JSON, "Press a key with modifiers held.",
)  # fmt: skip

DESKTOP_CLIPBOARD_SET = _op(
    "desktop.clipboard.set", "POST", "/desktop/clipboard/set", ClipboardSet, RAW_JSON,
    "Set the clipboard text.",
)  # fmt: skip
DESKTOP_CLIPBOARD_GET = _op(
    "desktop.clipboard.get", "GET", "/desktop/clipboard/get", NoArgs, RAW_JSON,
    "The clipboard text (key text).",
)  # fmt: skip
DESKTOP_CLIPBOARD_HISTORY = _op(
    "desktop.clipboard.history", "GET", "/desktop/clipboard/history", NoArgs, RAW_JSON,
    "Recent clipboard texts (key history).",
)  # fmt: skip

DESKTOP_SCREENSHOT_CAPTURE = _op(
    "desktop.screenshot.capture", "POST", "/desktop/screenshot", EmptyBody,
    model(ScreenshotResponse), "A screenshot as JSON with a base64 image.",
)  # fmt: skip
DESKTOP_SCREENSHOT_GET = _op(
    "desktop.screenshot.get", "GET", "/desktop/screenshot", NoArgs, BINARY,
    "A screenshot as raw image bytes.", in_spec=False,
)  # fmt: skip
DESKTOP_SCREENSHOT_REGION = _op(
    "desktop.screenshot.region", "POST", "/desktop/screenshot/region", Region, BINARY,
    "A screenshot of a region, as raw image bytes.",
)  # fmt: skip

DESKTOP_RECORDING_START = _op(
    "desktop.recording.start", "POST", "/desktop/recording/start", RecordingStart,
    model(RecordingInfo), "Start recording the screen.",
)  # fmt: skip
DESKTOP_RECORDING_STOP = _op(
    "desktop.recording.stop", "POST", "/desktop/recording/stop", RecordingStop,
    model(RecordingInfo), "Stop a recording.",
)  # fmt: skip
DESKTOP_RECORDING_STATUS = _op(
    "desktop.recording.status", "GET", "/desktop/recording/status", RecordingQuery,
    model(RecordingInfo), "A recording's status.",
)  # fmt: skip
DESKTOP_RECORDING_DOWNLOAD = _op(
    "desktop.recording.download", "GET", "/desktop/recording/download", RecordingQuery, BINARY,
    "A finished recording's video bytes.",
)  # fmt: skip

DESKTOP_WINDOWS_LIST = _op(
    "desktop.windows.list", "GET", "/desktop/windows/list", NoArgs, model(WindowList),
    "Every window.",
)  # fmt: skip
DESKTOP_WINDOWS_GET = _op(
    "desktop.windows.get", "GET", "/desktop/windows", NoArgs, model(WindowList),
    "Every window (the path the official client calls).", in_spec=False,
)  # fmt: skip
DESKTOP_WINDOWS_FOCUS = _op(
    "desktop.windows.focus", "POST", "/desktop/windows/focus", WindowTarget, RAW_JSON,
    "Focus a window.",
)  # fmt: skip
DESKTOP_WINDOWS_CLOSE = _op(
    "desktop.windows.close", "POST", "/desktop/windows/close", WindowTarget, RAW_JSON,
    "Close a window.",
)  # fmt: skip
DESKTOP_WINDOWS_RESIZE = _op(
    "desktop.windows.resize", "POST", "/desktop/windows/resize", WindowResize, RAW_JSON,
    "Resize a window.",
)  # fmt: skip
DESKTOP_WINDOWS_MINIMIZE = _op(
    "desktop.windows.minimize", "POST", "/desktop/windows/minimize", WindowTarget, RAW_JSON,
    "Minimize a window.", in_spec=False,
)  # fmt: skip

DESKTOP_DISPLAY_CURRENT = _op(
    "desktop.display.current", "GET", "/desktop/display/current", NoArgs, model(DisplayInfo),
    "The display's size and depth.",
)  # fmt: skip
DESKTOP_DISPLAY_GET = _op(
    "desktop.display.get", "GET", "/desktop/display", NoArgs, model(DisplayInfo),
    "The display's size and depth (the path the official client calls).", in_spec=False,
)  # fmt: skip
DESKTOP_DISPLAY_AVAILABLE = _op(
    "desktop.display.available", "GET", "/desktop/display/available", NoArgs,
    model(DisplayResolutions), "Resolutions the display can be set to.",
)  # fmt: skip
DESKTOP_DISPLAY_SET = _op(
    "desktop.display.set", "POST", "/desktop/display/set", DisplaySize, model(DisplayInfo),
    "Set the display resolution.",
)  # fmt: skip

DESKTOP_X11_OCR = _op(
    "desktop.x11.ocr", "POST", "/desktop/x11/ocr", OcrRegion, RAW_JSON,
    "Recognise the text in a region (key text).",
)  # fmt: skip
DESKTOP_X11_HOTKEY = _op(
    "desktop.x11.hotkey", "POST", "/desktop/x11/hotkey", KeyCombination, RAW_JSON,
    "Press a hotkey.",
)  # fmt: skip
DESKTOP_X11_DRAG_DROP = _op(
    "desktop.x11.drag_drop", "POST", "/desktop/x11/drag-drop", DragDrop, RAW_JSON,
    "Drag and drop.",
)  # fmt: skip
DESKTOP_X11_DRAG_DROP_UNDERSCORE = _op(
    "desktop.x11.drag_drop_underscore", "POST", "/desktop/x11/drag_drop", DragDrop, RAW_JSON,
    "Drag and drop (the underscore path the official client calls).", in_spec=False,
)  # fmt: skip
DESKTOP_X11_FIND_ELEMENT = _op(
    "desktop.x11.find_element", "POST", "/desktop/x11/find_element", ElementText, RAW_JSON,
    "Find a UI element by its text (key element).", in_spec=False,
)  # fmt: skip
DESKTOP_X11_WAIT_FOR = _op(
    "desktop.x11.wait_for", "POST", "/desktop/x11/wait_for", WaitFor, RAW_JSON,
    "Wait for a UI element to appear (key element).", in_spec=False,
)  # fmt: skip
DESKTOP_X11_GET_BOUNDS = _op(
    "desktop.x11.get_bounds", "POST", "/desktop/x11/get_bounds", ElementText, RAW_JSON,
    "A UI element's bounding box.", in_spec=False,
)  # fmt: skip
DESKTOP_X11_CAPTURE_WINDOW = _op(
    "desktop.x11.capture_window", "GET", "/desktop/x11/capture_window", CaptureWindow, BINARY,
    "A window's image bytes.", in_spec=False,
)  # fmt: skip

DESKTOP_DEBUG_LOGS = _op(
    "desktop.debug.logs", "GET", "/desktop/debug/logs", NoArgs, RAW_JSON,
    "Desktop service log lines (key logs).",
)  # fmt: skip
DESKTOP_DEBUG_PROCESSES = _op(
    "desktop.debug.processes", "GET", "/desktop/debug/processes", NoArgs, RAW_JSON,
    "Desktop service processes (key processes).",
)  # fmt: skip

UPDATE_UPLOAD: Operation[UpdateUpload, dict[str, Any]] = Operation(
    name="update.upload",
    plane=Plane.AGENT,
    method="POST",
    path="/update/upload",
    args=UpdateUpload,
    result=RAW_JSON,
    multipart=True,
    encode_body=_encode_update,
    parse_body=_parse_update,
    summary="Upload a new agent binary (multipart, one 'file' part).",
)
UPDATE_APPLY = _op(
    "update.apply", "POST", "/update/apply", EmptyBody, RAW_JSON, "Apply the uploaded update."
)
UPDATE_RESTART = _op(
    "update.restart", "POST", "/update/restart", EmptyBody, RAW_JSON,
    "Restart the agent on the new binary.",
)  # fmt: skip
UPDATE_BACKUPS = _op(
    "update.backups", "GET", "/update/backups", NoArgs, RAW_JSON, "Backed-up agent versions."
)
