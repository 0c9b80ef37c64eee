"""Every operation of both planes, and the argument classes they take.

Each operation is an :class:`~hopx_proto.Operation`: ``encode(args, auth=...) -> Request`` and
``decode(Response) -> result`` for a client, ``parse(Request) -> args`` and
``render(result) -> Response`` for a server. ``OPERATIONS`` maps names to operations.
"""

from __future__ import annotations

from ._ops import OPERATIONS as OPERATIONS
from ._ops import route as route
from ._ops._base import Operation as Operation
from ._ops._base import Plane as Plane
from ._ops.agent import (
    AGENT_HEALTH as AGENT_HEALTH,
)
from ._ops.agent import (
    AGENT_INFO as AGENT_INFO,
)
from ._ops.agent import (
    AGENT_PING as AGENT_PING,
)
from ._ops.agent import (
    AGENT_ROOT as AGENT_ROOT,
)
from ._ops.agent import (
    AGENT_SYSTEM as AGENT_SYSTEM,
)
from ._ops.agent import (
    CACHE_CLEAR as CACHE_CLEAR,
)
from ._ops.agent import (
    CACHE_STATS as CACHE_STATS,
)
from ._ops.agent import (
    COMMANDS_BACKGROUND as COMMANDS_BACKGROUND,
)
from ._ops.agent import (
    COMMANDS_RUN as COMMANDS_RUN,
)
from ._ops.agent import (
    COMMANDS_STREAM as COMMANDS_STREAM,
)
from ._ops.agent import (
    ENV_CLEAR as ENV_CLEAR,
)
from ._ops.agent import (
    ENV_GET as ENV_GET,
)
from ._ops.agent import (
    ENV_SET as ENV_SET,
)
from ._ops.agent import (
    ENV_UPDATE as ENV_UPDATE,
)
from ._ops.agent import (
    EXECUTE as EXECUTE,
)
from ._ops.agent import (
    EXECUTE_ASYNC as EXECUTE_ASYNC,
)
from ._ops.agent import (
    EXECUTE_BACKGROUND as EXECUTE_BACKGROUND,
)
from ._ops.agent import (
    EXECUTE_IPYTHON as EXECUTE_IPYTHON,
)
from ._ops.agent import (
    EXECUTE_KILL as EXECUTE_KILL,
)
from ._ops.agent import (
    EXECUTE_KILL_BY_PATH as EXECUTE_KILL_BY_PATH,
)
from ._ops.agent import (
    EXECUTE_PROCESSES as EXECUTE_PROCESSES,
)
from ._ops.agent import (
    EXECUTE_STREAM as EXECUTE_STREAM,
)
from ._ops.agent import (
    JUPYTER_SESSIONS as JUPYTER_SESSIONS,
)
from ._ops.agent import (
    METRICS as METRICS,
)
from ._ops.agent import (
    METRICS_PROMETHEUS as METRICS_PROMETHEUS,
)
from ._ops.agent import (
    METRICS_SNAPSHOT as METRICS_SNAPSHOT,
)
from ._ops.agent import (
    PROCESSES_KILL as PROCESSES_KILL,
)
from ._ops.agent import (
    PROCESSES_LIST as PROCESSES_LIST,
)
from ._ops.agent import (
    STREAM as STREAM,
)
from ._ops.agent import (
    STREAM_IPYTHON as STREAM_IPYTHON,
)
from ._ops.agent import (
    TERMINAL as TERMINAL,
)
from ._ops.agent import (
    AsyncExecuteArgs as AsyncExecuteArgs,
)
from ._ops.agent import (
    BackgroundExecuteArgs as BackgroundExecuteArgs,
)
from ._ops.agent import (
    CommandArgs as CommandArgs,
)
from ._ops.agent import (
    EnvSetArgs as EnvSetArgs,
)
from ._ops.agent import (
    EnvUpdateArgs as EnvUpdateArgs,
)
from ._ops.agent import (
    ExecuteArgs as ExecuteArgs,
)
from ._ops.agent import (
    IPythonExecuteArgs as IPythonExecuteArgs,
)
from ._ops.agent import (
    ProcessId as ProcessId,
)
from ._ops.agent import (
    ProcessIdQuery as ProcessIdQuery,
)
from ._ops.control import (
    HEALTH as HEALTH,
)
from ._ops.control import (
    SANDBOXES_CREATE as SANDBOXES_CREATE,
)
from ._ops.control import (
    SANDBOXES_DELETE as SANDBOXES_DELETE,
)
from ._ops.control import (
    SANDBOXES_GET as SANDBOXES_GET,
)
from ._ops.control import (
    SANDBOXES_LIST as SANDBOXES_LIST,
)
from ._ops.control import (
    SANDBOXES_PAUSE as SANDBOXES_PAUSE,
)
from ._ops.control import (
    SANDBOXES_REFRESH_TOKEN as SANDBOXES_REFRESH_TOKEN,
)
from ._ops.control import (
    SANDBOXES_RESUME as SANDBOXES_RESUME,
)
from ._ops.control import (
    SANDBOXES_SET_TIMEOUT as SANDBOXES_SET_TIMEOUT,
)
from ._ops.control import (
    SANDBOXES_START as SANDBOXES_START,
)
from ._ops.control import (
    SANDBOXES_STOP as SANDBOXES_STOP,
)
from ._ops.control import (
    TEMPLATES_BUILD as TEMPLATES_BUILD,
)
from ._ops.control import (
    TEMPLATES_BUILD_LOGS as TEMPLATES_BUILD_LOGS,
)
from ._ops.control import (
    TEMPLATES_BUILD_STATUS as TEMPLATES_BUILD_STATUS,
)
from ._ops.control import (
    TEMPLATES_DELETE as TEMPLATES_DELETE,
)
from ._ops.control import (
    TEMPLATES_GET as TEMPLATES_GET,
)
from ._ops.control import (
    TEMPLATES_LIST as TEMPLATES_LIST,
)
from ._ops.control import (
    TEMPLATES_UPLOAD_LINK as TEMPLATES_UPLOAD_LINK,
)
from ._ops.control import (
    BuildId as BuildId,
)
from ._ops.control import (
    BuildLogsQuery as BuildLogsQuery,
)
from ._ops.control import (
    BuildTemplate as BuildTemplate,
)
from ._ops.control import (
    CreateSandbox as CreateSandbox,
)
from ._ops.control import (
    ListSandboxes as ListSandboxes,
)
from ._ops.control import (
    ListTemplates as ListTemplates,
)
from ._ops.control import (
    SandboxId as SandboxId,
)
from ._ops.control import (
    SetTimeout as SetTimeout,
)
from ._ops.control import (
    TemplateId as TemplateId,
)
from ._ops.control import (
    TemplateName as TemplateName,
)
from ._ops.control import (
    UploadLinkRequest as UploadLinkRequest,
)
from ._ops.desktop import (
    DESKTOP_CLIPBOARD_GET as DESKTOP_CLIPBOARD_GET,
)
from ._ops.desktop import (
    DESKTOP_CLIPBOARD_HISTORY as DESKTOP_CLIPBOARD_HISTORY,
)
from ._ops.desktop import (
    DESKTOP_CLIPBOARD_SET as DESKTOP_CLIPBOARD_SET,
)
from ._ops.desktop import (
    DESKTOP_DEBUG_LOGS as DESKTOP_DEBUG_LOGS,
)
from ._ops.desktop import (
    DESKTOP_DEBUG_PROCESSES as DESKTOP_DEBUG_PROCESSES,
)
from ._ops.desktop import (
    DESKTOP_DISPLAY_AVAILABLE as DESKTOP_DISPLAY_AVAILABLE,
)
from ._ops.desktop import (
    DESKTOP_DISPLAY_CURRENT as DESKTOP_DISPLAY_CURRENT,
)
from ._ops.desktop import (
    DESKTOP_DISPLAY_GET as DESKTOP_DISPLAY_GET,
)
from ._ops.desktop import (
    DESKTOP_DISPLAY_SET as DESKTOP_DISPLAY_SET,
)
from ._ops.desktop import (
    DESKTOP_KEYBOARD_COMBINATION as DESKTOP_KEYBOARD_COMBINATION,
)
from ._ops.desktop import (
    DESKTOP_KEYBOARD_PRESS as DESKTOP_KEYBOARD_PRESS,
)
from ._ops.desktop import (
    DESKTOP_KEYBOARD_TYPE as DESKTOP_KEYBOARD_TYPE,
)
from ._ops.desktop import (
    DESKTOP_MOUSE_CLICK as DESKTOP_MOUSE_CLICK,
)
from ._ops.desktop import (
    DESKTOP_MOUSE_DRAG as DESKTOP_MOUSE_DRAG,
)
from ._ops.desktop import (
    DESKTOP_MOUSE_MOVE as DESKTOP_MOUSE_MOVE,
)
from ._ops.desktop import (
    DESKTOP_MOUSE_SCROLL as DESKTOP_MOUSE_SCROLL,
)
from ._ops.desktop import (
    DESKTOP_RECORDING_DOWNLOAD as DESKTOP_RECORDING_DOWNLOAD,
)
from ._ops.desktop import (
    DESKTOP_RECORDING_START as DESKTOP_RECORDING_START,
)
from ._ops.desktop import (
    DESKTOP_RECORDING_STATUS as DESKTOP_RECORDING_STATUS,
)
from ._ops.desktop import (
    DESKTOP_RECORDING_STOP as DESKTOP_RECORDING_STOP,
)
from ._ops.desktop import (
    DESKTOP_SCREENSHOT_CAPTURE as DESKTOP_SCREENSHOT_CAPTURE,
)
from ._ops.desktop import (
    DESKTOP_SCREENSHOT_GET as DESKTOP_SCREENSHOT_GET,
)
from ._ops.desktop import (
    DESKTOP_SCREENSHOT_REGION as DESKTOP_SCREENSHOT_REGION,
)
from ._ops.desktop import (
    DESKTOP_VNC_START as DESKTOP_VNC_START,
)
from ._ops.desktop import (
    DESKTOP_VNC_STATUS as DESKTOP_VNC_STATUS,
)
from ._ops.desktop import (
    DESKTOP_VNC_STOP as DESKTOP_VNC_STOP,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_CLOSE as DESKTOP_WINDOWS_CLOSE,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_FOCUS as DESKTOP_WINDOWS_FOCUS,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_GET as DESKTOP_WINDOWS_GET,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_LIST as DESKTOP_WINDOWS_LIST,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_MINIMIZE as DESKTOP_WINDOWS_MINIMIZE,
)
from ._ops.desktop import (
    DESKTOP_WINDOWS_RESIZE as DESKTOP_WINDOWS_RESIZE,
)
from ._ops.desktop import (
    DESKTOP_X11_CAPTURE_WINDOW as DESKTOP_X11_CAPTURE_WINDOW,
)
from ._ops.desktop import (
    DESKTOP_X11_DRAG_DROP as DESKTOP_X11_DRAG_DROP,
)
from ._ops.desktop import (
    DESKTOP_X11_DRAG_DROP_UNDERSCORE as DESKTOP_X11_DRAG_DROP_UNDERSCORE,
)
from ._ops.desktop import (
    DESKTOP_X11_FIND_ELEMENT as DESKTOP_X11_FIND_ELEMENT,
)
from ._ops.desktop import (
    DESKTOP_X11_GET_BOUNDS as DESKTOP_X11_GET_BOUNDS,
)
from ._ops.desktop import (
    DESKTOP_X11_HOTKEY as DESKTOP_X11_HOTKEY,
)
from ._ops.desktop import (
    DESKTOP_X11_OCR as DESKTOP_X11_OCR,
)
from ._ops.desktop import (
    DESKTOP_X11_WAIT_FOR as DESKTOP_X11_WAIT_FOR,
)
from ._ops.desktop import (
    UPDATE_APPLY as UPDATE_APPLY,
)
from ._ops.desktop import (
    UPDATE_BACKUPS as UPDATE_BACKUPS,
)
from ._ops.desktop import (
    UPDATE_RESTART as UPDATE_RESTART,
)
from ._ops.desktop import (
    UPDATE_UPLOAD as UPDATE_UPLOAD,
)
from ._ops.desktop import (
    CaptureWindow as CaptureWindow,
)
from ._ops.desktop import (
    ClipboardSet as ClipboardSet,
)
from ._ops.desktop import (
    DisplaySize as DisplaySize,
)
from ._ops.desktop import (
    DragDrop as DragDrop,
)
from ._ops.desktop import (
    ElementText as ElementText,
)
from ._ops.desktop import (
    KeyboardPress as KeyboardPress,
)
from ._ops.desktop import (
    KeyboardType as KeyboardType,
)
from ._ops.desktop import (
    KeyCombination as KeyCombination,
)
from ._ops.desktop import (
    MouseClick as MouseClick,
)
from ._ops.desktop import (
    MouseDrag as MouseDrag,
)
from ._ops.desktop import (
    MouseMove as MouseMove,
)
from ._ops.desktop import (
    MouseScroll as MouseScroll,
)
from ._ops.desktop import (
    OcrRegion as OcrRegion,
)
from ._ops.desktop import (
    RecordingQuery as RecordingQuery,
)
from ._ops.desktop import (
    RecordingStart as RecordingStart,
)
from ._ops.desktop import (
    RecordingStop as RecordingStop,
)
from ._ops.desktop import (
    Region as Region,
)
from ._ops.desktop import (
    UpdateUpload as UpdateUpload,
)
from ._ops.desktop import (
    VncStart as VncStart,
)
from ._ops.desktop import (
    WaitFor as WaitFor,
)
from ._ops.desktop import (
    WindowResize as WindowResize,
)
from ._ops.desktop import (
    WindowTarget as WindowTarget,
)
from ._ops.files import (
    FILES_DOWNLOAD as FILES_DOWNLOAD,
)
from ._ops.files import (
    FILES_EXISTS as FILES_EXISTS,
)
from ._ops.files import (
    FILES_LIST as FILES_LIST,
)
from ._ops.files import (
    FILES_MKDIR as FILES_MKDIR,
)
from ._ops.files import (
    FILES_READ as FILES_READ,
)
from ._ops.files import (
    FILES_REMOVE as FILES_REMOVE,
)
from ._ops.files import (
    FILES_UPLOAD as FILES_UPLOAD,
)
from ._ops.files import (
    FILES_WATCH as FILES_WATCH,
)
from ._ops.files import (
    FILES_WRITE as FILES_WRITE,
)
from ._ops.files import (
    FileMkdir as FileMkdir,
)
from ._ops.files import (
    FilePath as FilePath,
)
from ._ops.files import (
    FilesList as FilesList,
)
from ._ops.files import (
    FileUpload as FileUpload,
)
from ._ops.files import (
    FileWatch as FileWatch,
)
from ._ops.files import (
    FileWrite as FileWrite,
)
from ._ops.files import (
    streamed_upload as streamed_upload,
)

__all__ = [
    "AGENT_HEALTH",
    "AGENT_INFO",
    "AGENT_PING",
    "AGENT_ROOT",
    "AGENT_SYSTEM",
    "AsyncExecuteArgs",
    "BackgroundExecuteArgs",
    "BuildId",
    "BuildLogsQuery",
    "BuildTemplate",
    "CACHE_CLEAR",
    "CACHE_STATS",
    "COMMANDS_BACKGROUND",
    "COMMANDS_RUN",
    "COMMANDS_STREAM",
    "CaptureWindow",
    "ClipboardSet",
    "CommandArgs",
    "CreateSandbox",
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
    "DisplaySize",
    "DragDrop",
    "ENV_CLEAR",
    "ENV_GET",
    "ENV_SET",
    "ENV_UPDATE",
    "EXECUTE",
    "EXECUTE_ASYNC",
    "EXECUTE_BACKGROUND",
    "EXECUTE_IPYTHON",
    "EXECUTE_KILL",
    "EXECUTE_KILL_BY_PATH",
    "EXECUTE_PROCESSES",
    "EXECUTE_STREAM",
    "ElementText",
    "EnvSetArgs",
    "EnvUpdateArgs",
    "ExecuteArgs",
    "FILES_DOWNLOAD",
    "FILES_EXISTS",
    "FILES_LIST",
    "FILES_MKDIR",
    "FILES_READ",
    "FILES_REMOVE",
    "FILES_UPLOAD",
    "FILES_WATCH",
    "FILES_WRITE",
    "FileMkdir",
    "FilePath",
    "FileUpload",
    "FileWatch",
    "FileWrite",
    "FilesList",
    "HEALTH",
    "IPythonExecuteArgs",
    "JUPYTER_SESSIONS",
    "KeyCombination",
    "KeyboardPress",
    "KeyboardType",
    "ListSandboxes",
    "ListTemplates",
    "METRICS",
    "METRICS_PROMETHEUS",
    "METRICS_SNAPSHOT",
    "MouseClick",
    "MouseDrag",
    "MouseMove",
    "MouseScroll",
    "OPERATIONS",
    "OcrRegion",
    "Operation",
    "PROCESSES_KILL",
    "PROCESSES_LIST",
    "Plane",
    "ProcessId",
    "ProcessIdQuery",
    "RecordingQuery",
    "RecordingStart",
    "RecordingStop",
    "Region",
    "SANDBOXES_CREATE",
    "SANDBOXES_DELETE",
    "SANDBOXES_GET",
    "SANDBOXES_LIST",
    "SANDBOXES_PAUSE",
    "SANDBOXES_REFRESH_TOKEN",
    "SANDBOXES_RESUME",
    "SANDBOXES_SET_TIMEOUT",
    "SANDBOXES_START",
    "SANDBOXES_STOP",
    "STREAM",
    "STREAM_IPYTHON",
    "SandboxId",
    "SetTimeout",
    "TEMPLATES_BUILD",
    "TEMPLATES_BUILD_LOGS",
    "TEMPLATES_BUILD_STATUS",
    "TEMPLATES_DELETE",
    "TEMPLATES_GET",
    "TEMPLATES_LIST",
    "TEMPLATES_UPLOAD_LINK",
    "TERMINAL",
    "TemplateId",
    "TemplateName",
    "UPDATE_APPLY",
    "UPDATE_BACKUPS",
    "UPDATE_RESTART",
    "UPDATE_UPLOAD",
    "UpdateUpload",
    "UploadLinkRequest",
    "VncStart",
    "WaitFor",
    "WindowResize",
    "WindowTarget",
    "route",
    "streamed_upload",
]
