"""hopx_proto: the HOPX wire protocol, both planes, without I/O.

Bytes in, events out. Operations encode requests and decode responses for every endpoint of
the control plane and of the sandbox agent (and parse/render them for a server); the HTTP and
WebSocket machines frame them; one machine per stream turns frames into typed events. The
async client written on top of it lives in :mod:`hopx_proto.aio`; the adapters in
``hopx_trio`` and ``hopx_asyncio`` bind it to an event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._codec import (
        dumps as dumps,
    )
    from ._codec import (
        from_wire as from_wire,
    )
    from ._codec import (
        loads as loads,
    )
    from ._codec import (
        parse_datetime as parse_datetime,
    )
    from ._codec import (
        to_wire as to_wire,
    )
    from ._codec import (
        wire as wire,
    )
    from ._errors import (
        AgentError as AgentError,
    )
    from ._errors import (
        APIError as APIError,
    )
    from ._errors import (
        AuthenticationError as AuthenticationError,
    )
    from ._errors import (
        CodeExecutionError as CodeExecutionError,
    )
    from ._errors import (
        CommandExecutionError as CommandExecutionError,
    )
    from ._errors import (
        DesktopNotAvailableError as DesktopNotAvailableError,
    )
    from ._errors import (
        FileNotFoundError as FileNotFoundError,
    )
    from ._errors import (
        FileOperationError as FileOperationError,
    )
    from ._errors import (
        HopxError as HopxError,
    )
    from ._errors import (
        LocalProtocolError as LocalProtocolError,
    )
    from ._errors import (
        NetworkError as NetworkError,
    )
    from ._errors import (
        NotFoundError as NotFoundError,
    )
    from ._errors import (
        ProtocolError as ProtocolError,
    )
    from ._errors import (
        RateLimitError as RateLimitError,
    )
    from ._errors import (
        RemoteProtocolError as RemoteProtocolError,
    )
    from ._errors import (
        ResourceLimitError as ResourceLimitError,
    )
    from ._errors import (
        SandboxExpiredError as SandboxExpiredError,
    )
    from ._errors import (
        SandboxNotRunningError as SandboxNotRunningError,
    )
    from ._errors import (
        ServerError as ServerError,
    )
    from ._errors import (
        StreamEndedError as StreamEndedError,
    )
    from ._errors import (
        TemplateBuildError as TemplateBuildError,
    )
    from ._errors import (
        TemplateNotFoundError as TemplateNotFoundError,
    )
    from ._errors import (
        TimeoutError as TimeoutError,
    )
    from ._errors import (
        TokenExpiredError as TokenExpiredError,
    )
    from ._errors import (
        ValidationError as ValidationError,
    )
    from ._errors import (
        error_from_agent_response as error_from_agent_response,
    )
    from ._errors import (
        error_from_control_response as error_from_control_response,
    )
    from ._http import (
        NEED_DATA as NEED_DATA,
    )
    from ._http import (
        BodyChunk as BodyChunk,
    )
    from ._http import (
        ConnectionClosed as ConnectionClosed,
    )
    from ._http import (
        EndOfMessage as EndOfMessage,
    )
    from ._http import (
        Headers as Headers,
    )
    from ._http import (
        HTTPConnection as HTTPConnection,
    )
    from ._http import (
        HTTPEvent as HTTPEvent,
    )
    from ._http import (
        NeedData as NeedData,
    )
    from ._http import (
        Request as Request,
    )
    from ._http import (
        RequestHead as RequestHead,
    )
    from ._http import (
        Response as Response,
    )
    from ._http import (
        ResponseHead as ResponseHead,
    )
    from ._http import (
        Role as Role,
    )
    from ._http import (
        normalize_headers as normalize_headers,
    )
    from ._models.agent import (
        MASKED_VALUE as MASKED_VALUE,
    )
    from ._models.agent import (
        RICH_MIME_TYPES as RICH_MIME_TYPES,
    )
    from ._models.agent import (
        WEBHOOK_SIGNATURE_HEADER as WEBHOOK_SIGNATURE_HEADER,
    )
    from ._models.agent import (
        AgentInfo as AgentInfo,
    )
    from ._models.agent import (
        AsyncExecution as AsyncExecution,
    )
    from ._models.agent import (
        BackgroundExecution as BackgroundExecution,
    )
    from ._models.agent import (
        CommandResult as CommandResult,
    )
    from ._models.agent import (
        CPUUsage as CPUUsage,
    )
    from ._models.agent import (
        EnvVars as EnvVars,
    )
    from ._models.agent import (
        ExecutionResult as ExecutionResult,
    )
    from ._models.agent import (
        HealthFeatures as HealthFeatures,
    )
    from ._models.agent import (
        HealthInfo as HealthInfo,
    )
    from ._models.agent import (
        JupyterSession as JupyterSession,
    )
    from ._models.agent import (
        JupyterSessions as JupyterSessions,
    )
    from ._models.agent import (
        MetricsSnapshot as MetricsSnapshot,
    )
    from ._models.agent import (
        ProcessInfo as ProcessInfo,
    )
    from ._models.agent import (
        ProcessList as ProcessList,
    )
    from ._models.agent import (
        RichOutput as RichOutput,
    )
    from ._models.agent import (
        SystemMetrics as SystemMetrics,
    )
    from ._models.agent import (
        SystemProcess as SystemProcess,
    )
    from ._models.agent import (
        SystemProcessList as SystemProcessList,
    )
    from ._models.agent import (
        UsageStats as UsageStats,
    )
    from ._models.agent import (
        WebhookExecutionComplete as WebhookExecutionComplete,
    )
    from ._models.agent import (
        parse_webhook as parse_webhook,
    )
    from ._models.agent import (
        rich_fields as rich_fields,
    )
    from ._models.agent import (
        sign_webhook as sign_webhook,
    )
    from ._models.agent import (
        verify_webhook as verify_webhook,
    )
    from ._models.control import (
        BUILD_TERMINAL_STATUSES as BUILD_TERMINAL_STATUSES,
    )
    from ._models.control import (
        BuildLogs as BuildLogs,
    )
    from ._models.control import (
        BuildStatus as BuildStatus,
    )
    from ._models.control import (
        ExpiryInfo as ExpiryInfo,
    )
    from ._models.control import (
        FileUploadLink as FileUploadLink,
    )
    from ._models.control import (
        RegistryCredentials as RegistryCredentials,
    )
    from ._models.control import (
        Resources as Resources,
    )
    from ._models.control import (
        SandboxInfo as SandboxInfo,
    )
    from ._models.control import (
        SandboxList as SandboxList,
    )
    from ._models.control import (
        Template as SandboxTemplate,
    )
    from ._models.control import (
        Template as Template,
    )
    from ._models.control import (
        TemplateBuild as TemplateBuild,
    )
    from ._models.control import (
        TemplateList as TemplateList,
    )
    from ._models.control import (
        TemplateResources as TemplateResources,
    )
    from ._models.control import (
        TokenInfo as TokenInfo,
    )
    from ._models.desktop import (
        Display as Display,
    )
    from ._models.desktop import (
        DisplayInfo as DisplayInfo,
    )
    from ._models.desktop import (
        DisplayResolutions as DisplayResolutions,
    )
    from ._models.desktop import (
        RecordingInfo as RecordingInfo,
    )
    from ._models.desktop import (
        ScreenshotResponse as ScreenshotResponse,
    )
    from ._models.desktop import (
        VNCInfo as VNCInfo,
    )
    from ._models.desktop import (
        WindowInfo as WindowInfo,
    )
    from ._models.desktop import (
        WindowList as WindowList,
    )
    from ._models.files import (
        FileChange as FileChange,
    )
    from ._models.files import (
        FileContent as FileContent,
    )
    from ._models.files import (
        FileExists as FileExists,
    )
    from ._models.files import (
        FileInfo as FileInfo,
    )
    from ._models.files import (
        FileList as FileList,
    )
    from ._models.files import (
        FileResult as FileResult,
    )
    from ._multipart import (
        Done as MultipartDone,
    )
    from ._multipart import (
        MultipartDecoder as MultipartDecoder,
    )
    from ._multipart import (
        MultipartEncoder as MultipartEncoder,
    )
    from ._multipart import (
        Part as Part,
    )
    from ._multipart import (
        PartData as PartData,
    )
    from ._multipart import (
        PartEnd as PartEnd,
    )
    from ._multipart import (
        PartStart as PartStart,
    )
    from ._multipart import (
        StreamSlot as StreamSlot,
    )
    from ._multipart import (
        boundary_of as boundary_of,
    )
    from ._multipart import (
        decode_multipart as decode_multipart,
    )
    from ._multipart import (
        encode_multipart as encode_multipart,
    )
    from ._ops import (
        OPERATIONS as OPERATIONS,
    )
    from ._ops import (
        Operation as Operation,
    )
    from ._ops import (
        Plane as Plane,
    )
    from ._ops import (
        route as route,
    )
    from ._ops._base import (
        Auth as Auth,
    )
    from ._ops._base import (
        Binary as Binary,
    )
    from ._ops._base import (
        Model as Model,
    )
    from ._ops._base import (
        NoContent as NoContent,
    )
    from ._ops._base import (
        RawJSON as RawJSON,
    )
    from ._ops._base import (
        ResultCodec as ResultCodec,
    )
    from ._ops._base import (
        Text as Text,
    )
    from ._policy import (
        GiveUp as GiveUp,
    )
    from ._policy import (
        Retry as Retry,
    )
    from ._policy import (
        RetryDecision as RetryDecision,
    )
    from ._policy import (
        RetryPolicy as RetryPolicy,
    )
    from ._policy import (
        TokenState as TokenState,
    )
    from ._policy import (
        parse_retry_after as parse_retry_after,
    )
    from ._sse import (
        BuildLogPoller as BuildLogPoller,
    )
    from ._sse import (
        BuildLogUpdate as BuildLogUpdate,
    )
    from ._sse import (
        LogLine as LogLine,
    )
    from ._sse import (
        SSEEvent as SSEEvent,
    )
    from ._sse import (
        SSEParser as SSEParser,
    )
    from ._sse import (
        encode_sse_comment as encode_sse_comment,
    )
    from ._sse import (
        encode_sse_event as encode_sse_event,
    )
    from ._sse import (
        guess_log_level as guess_log_level,
    )
    from ._streams import (
        CHANGE_EVENTS as CHANGE_EVENTS,
    )
    from ._streams import (
        STREAMS as STREAMS,
    )
    from ._streams import (
        Change as Change,
    )
    from ._streams import (
        CommandEvent as CommandEvent,
    )
    from ._streams import (
        CommandStreamClient as CommandStreamClient,
    )
    from ._streams import (
        CommandStreamRequest as CommandStreamRequest,
    )
    from ._streams import (
        CommandStreamServer as CommandStreamServer,
    )
    from ._streams import (
        Complete as Complete,
    )
    from ._streams import (
        ErrorMessage as ErrorMessage,
    )
    from ._streams import (
        ExecuteEvent as ExecuteEvent,
    )
    from ._streams import (
        ExecuteState as ExecuteState,
    )
    from ._streams import (
        ExecuteStreamClient as ExecuteStreamClient,
    )
    from ._streams import (
        ExecuteStreamRequest as ExecuteStreamRequest,
    )
    from ._streams import (
        ExecuteStreamServer as ExecuteStreamServer,
    )
    from ._streams import (
        Exit as Exit,
    )
    from ._streams import (
        Input as Input,
    )
    from ._streams import (
        IPythonStreamClient as IPythonStreamClient,
    )
    from ._streams import (
        IPythonStreamServer as IPythonStreamServer,
    )
    from ._streams import (
        Output as Output,
    )
    from ._streams import (
        Resize as Resize,
    )
    from ._streams import (
        Result as Result,
    )
    from ._streams import (
        RichEvent as RichEvent,
    )
    from ._streams import (
        RichOutput as RichStreamOutput,
    )
    from ._streams import (
        RichStreamClient as RichStreamClient,
    )
    from ._streams import (
        RichStreamServer as RichStreamServer,
    )
    from ._streams import (
        Stderr as Stderr,
    )
    from ._streams import (
        Stdout as Stdout,
    )
    from ._streams import (
        StreamMachine as StreamMachine,
    )
    from ._streams import (
        StreamMessage as StreamMessage,
    )
    from ._streams import (
        TerminalClient as TerminalClient,
    )
    from ._streams import (
        TerminalClientEvent as TerminalClientEvent,
    )
    from ._streams import (
        TerminalServer as TerminalServer,
    )
    from ._streams import (
        TerminalServerEvent as TerminalServerEvent,
    )
    from ._streams import (
        TerminalState as TerminalState,
    )
    from ._streams import (
        UnknownMessage as UnknownMessage,
    )
    from ._streams import (
        WatchClient as WatchClient,
    )
    from ._streams import (
        WatchEvent as WatchEvent,
    )
    from ._streams import (
        WatchRequest as WatchRequest,
    )
    from ._streams import (
        WatchServer as WatchServer,
    )
    from ._streams import (
        WatchState as WatchState,
    )
    from ._url import (
        BaseURL as BaseURL,
    )
    from ._url import (
        encode_query as encode_query,
    )
    from ._url import (
        parse_query as parse_query,
    )
    from ._url import (
        quote_path_param as quote_path_param,
    )
    from ._url import (
        split_target as split_target,
    )
    from ._url import (
        unquote_path_param as unquote_path_param,
    )
    from ._ws import (
        DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE,
    )
    from ._ws import (
        Accepted as Accepted,
    )
    from ._ws import (
        BinaryMessage as BinaryMessage,
    )
    from ._ws import (
        CloseReceived as CloseReceived,
    )
    from ._ws import (
        Ping as Ping,
    )
    from ._ws import (
        Pong as Pong,
    )
    from ._ws import (
        TextMessage as TextMessage,
    )
    from ._ws import (
        UpgradeRequest as UpgradeRequest,
    )
    from ._ws import (
        WebSocket as WebSocket,
    )
    from ._ws import (
        WebSocketState as WebSocketState,
    )
    from ._ws import (
        WSEvent as WSEvent,
    )

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "Accepted",
    "AgentError",
    "AgentInfo",
    "AsyncExecution",
    "Auth",
    "AuthenticationError",
    "BUILD_TERMINAL_STATUSES",
    "BackgroundExecution",
    "BaseURL",
    "Binary",
    "BinaryMessage",
    "BodyChunk",
    "BuildLogPoller",
    "BuildLogUpdate",
    "BuildLogs",
    "BuildStatus",
    "CHANGE_EVENTS",
    "CPUUsage",
    "Change",
    "CloseReceived",
    "CodeExecutionError",
    "CommandEvent",
    "CommandExecutionError",
    "CommandResult",
    "CommandStreamClient",
    "CommandStreamRequest",
    "CommandStreamServer",
    "Complete",
    "ConnectionClosed",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DesktopNotAvailableError",
    "Display",
    "DisplayInfo",
    "DisplayResolutions",
    "EndOfMessage",
    "EnvVars",
    "ErrorMessage",
    "ExecuteEvent",
    "ExecuteState",
    "ExecuteStreamClient",
    "ExecuteStreamRequest",
    "ExecuteStreamServer",
    "ExecutionResult",
    "Exit",
    "ExpiryInfo",
    "FileChange",
    "FileContent",
    "FileExists",
    "FileInfo",
    "FileList",
    "FileNotFoundError",
    "FileOperationError",
    "FileResult",
    "FileUploadLink",
    "GiveUp",
    "HTTPConnection",
    "HTTPEvent",
    "Headers",
    "HealthFeatures",
    "HealthInfo",
    "HopxError",
    "IPythonStreamClient",
    "IPythonStreamServer",
    "Input",
    "JupyterSession",
    "JupyterSessions",
    "LocalProtocolError",
    "LogLine",
    "MASKED_VALUE",
    "MetricsSnapshot",
    "Model",
    "MultipartDecoder",
    "MultipartDone",
    "MultipartEncoder",
    "NEED_DATA",
    "NeedData",
    "NetworkError",
    "NoContent",
    "NotFoundError",
    "OPERATIONS",
    "Operation",
    "Output",
    "Part",
    "PartData",
    "PartEnd",
    "PartStart",
    "Ping",
    "Plane",
    "Pong",
    "ProcessInfo",
    "ProcessList",
    "ProtocolError",
    "RICH_MIME_TYPES",
    "RateLimitError",
    "RawJSON",
    "RecordingInfo",
    "RegistryCredentials",
    "RemoteProtocolError",
    "Request",
    "RequestHead",
    "Resize",
    "ResourceLimitError",
    "Resources",
    "Response",
    "ResponseHead",
    "Result",
    "ResultCodec",
    "Retry",
    "RetryDecision",
    "RetryPolicy",
    "RichEvent",
    "RichOutput",
    "RichStreamClient",
    "RichStreamOutput",
    "RichStreamServer",
    "Role",
    "SSEEvent",
    "SSEParser",
    "STREAMS",
    "SandboxExpiredError",
    "SandboxInfo",
    "SandboxList",
    "SandboxNotRunningError",
    "SandboxTemplate",
    "ScreenshotResponse",
    "ServerError",
    "Stderr",
    "Stdout",
    "StreamEndedError",
    "StreamMachine",
    "StreamMessage",
    "StreamSlot",
    "SystemMetrics",
    "SystemProcess",
    "SystemProcessList",
    "Template",
    "TemplateBuild",
    "TemplateBuildError",
    "TemplateList",
    "TemplateNotFoundError",
    "TemplateResources",
    "TerminalClient",
    "TerminalClientEvent",
    "TerminalServer",
    "TerminalServerEvent",
    "TerminalState",
    "Text",
    "TextMessage",
    "TimeoutError",
    "TokenExpiredError",
    "TokenInfo",
    "TokenState",
    "UnknownMessage",
    "UpgradeRequest",
    "UsageStats",
    "VNCInfo",
    "ValidationError",
    "WEBHOOK_SIGNATURE_HEADER",
    "WSEvent",
    "WatchClient",
    "WatchEvent",
    "WatchRequest",
    "WatchServer",
    "WatchState",
    "WebSocket",
    "WebSocketState",
    "WebhookExecutionComplete",
    "WindowInfo",
    "WindowList",
    "boundary_of",
    "decode_multipart",
    "dumps",
    "encode_multipart",
    "encode_query",
    "encode_sse_comment",
    "encode_sse_event",
    "error_from_agent_response",
    "error_from_control_response",
    "from_wire",
    "guess_log_level",
    "loads",
    "normalize_headers",
    "parse_datetime",
    "parse_query",
    "parse_retry_after",
    "parse_webhook",
    "quote_path_param",
    "rich_fields",
    "route",
    "sign_webhook",
    "split_target",
    "to_wire",
    "unquote_path_param",
    "verify_webhook",
    "wire",
]


# Each name is imported from its module on first use: ``import hopx_proto`` stays cheap, and a
# program pays only for the parts it touches. The table says where every name lives, as
# ``(module, name there)``; a test checks it against the imports above and ``__all__``.
_SOURCES: dict[str, tuple[str, str]] = {
    "dumps": ("._codec", "dumps"),
    "from_wire": ("._codec", "from_wire"),
    "loads": ("._codec", "loads"),
    "parse_datetime": ("._codec", "parse_datetime"),
    "to_wire": ("._codec", "to_wire"),
    "wire": ("._codec", "wire"),
    "AgentError": ("._errors", "AgentError"),
    "APIError": ("._errors", "APIError"),
    "AuthenticationError": ("._errors", "AuthenticationError"),
    "CodeExecutionError": ("._errors", "CodeExecutionError"),
    "CommandExecutionError": ("._errors", "CommandExecutionError"),
    "DesktopNotAvailableError": ("._errors", "DesktopNotAvailableError"),
    "FileNotFoundError": ("._errors", "FileNotFoundError"),
    "FileOperationError": ("._errors", "FileOperationError"),
    "HopxError": ("._errors", "HopxError"),
    "LocalProtocolError": ("._errors", "LocalProtocolError"),
    "NetworkError": ("._errors", "NetworkError"),
    "NotFoundError": ("._errors", "NotFoundError"),
    "ProtocolError": ("._errors", "ProtocolError"),
    "RateLimitError": ("._errors", "RateLimitError"),
    "RemoteProtocolError": ("._errors", "RemoteProtocolError"),
    "ResourceLimitError": ("._errors", "ResourceLimitError"),
    "SandboxExpiredError": ("._errors", "SandboxExpiredError"),
    "SandboxNotRunningError": ("._errors", "SandboxNotRunningError"),
    "ServerError": ("._errors", "ServerError"),
    "StreamEndedError": ("._errors", "StreamEndedError"),
    "TemplateBuildError": ("._errors", "TemplateBuildError"),
    "TemplateNotFoundError": ("._errors", "TemplateNotFoundError"),
    "TimeoutError": ("._errors", "TimeoutError"),
    "TokenExpiredError": ("._errors", "TokenExpiredError"),
    "ValidationError": ("._errors", "ValidationError"),
    "error_from_agent_response": ("._errors", "error_from_agent_response"),
    "error_from_control_response": ("._errors", "error_from_control_response"),
    "NEED_DATA": ("._http", "NEED_DATA"),
    "BodyChunk": ("._http", "BodyChunk"),
    "ConnectionClosed": ("._http", "ConnectionClosed"),
    "EndOfMessage": ("._http", "EndOfMessage"),
    "Headers": ("._http", "Headers"),
    "HTTPConnection": ("._http", "HTTPConnection"),
    "HTTPEvent": ("._http", "HTTPEvent"),
    "NeedData": ("._http", "NeedData"),
    "Request": ("._http", "Request"),
    "RequestHead": ("._http", "RequestHead"),
    "Response": ("._http", "Response"),
    "ResponseHead": ("._http", "ResponseHead"),
    "Role": ("._http", "Role"),
    "normalize_headers": ("._http", "normalize_headers"),
    "MASKED_VALUE": ("._models.agent", "MASKED_VALUE"),
    "RICH_MIME_TYPES": ("._models.agent", "RICH_MIME_TYPES"),
    "WEBHOOK_SIGNATURE_HEADER": ("._models.agent", "WEBHOOK_SIGNATURE_HEADER"),
    "AgentInfo": ("._models.agent", "AgentInfo"),
    "AsyncExecution": ("._models.agent", "AsyncExecution"),
    "BackgroundExecution": ("._models.agent", "BackgroundExecution"),
    "CommandResult": ("._models.agent", "CommandResult"),
    "CPUUsage": ("._models.agent", "CPUUsage"),
    "EnvVars": ("._models.agent", "EnvVars"),
    "ExecutionResult": ("._models.agent", "ExecutionResult"),
    "HealthFeatures": ("._models.agent", "HealthFeatures"),
    "HealthInfo": ("._models.agent", "HealthInfo"),
    "JupyterSession": ("._models.agent", "JupyterSession"),
    "JupyterSessions": ("._models.agent", "JupyterSessions"),
    "MetricsSnapshot": ("._models.agent", "MetricsSnapshot"),
    "ProcessInfo": ("._models.agent", "ProcessInfo"),
    "ProcessList": ("._models.agent", "ProcessList"),
    "RichOutput": ("._models.agent", "RichOutput"),
    "SystemMetrics": ("._models.agent", "SystemMetrics"),
    "SystemProcess": ("._models.agent", "SystemProcess"),
    "SystemProcessList": ("._models.agent", "SystemProcessList"),
    "UsageStats": ("._models.agent", "UsageStats"),
    "WebhookExecutionComplete": ("._models.agent", "WebhookExecutionComplete"),
    "parse_webhook": ("._models.agent", "parse_webhook"),
    "rich_fields": ("._models.agent", "rich_fields"),
    "sign_webhook": ("._models.agent", "sign_webhook"),
    "verify_webhook": ("._models.agent", "verify_webhook"),
    "BUILD_TERMINAL_STATUSES": ("._models.control", "BUILD_TERMINAL_STATUSES"),
    "BuildLogs": ("._models.control", "BuildLogs"),
    "BuildStatus": ("._models.control", "BuildStatus"),
    "ExpiryInfo": ("._models.control", "ExpiryInfo"),
    "FileUploadLink": ("._models.control", "FileUploadLink"),
    "RegistryCredentials": ("._models.control", "RegistryCredentials"),
    "Resources": ("._models.control", "Resources"),
    "SandboxInfo": ("._models.control", "SandboxInfo"),
    "SandboxList": ("._models.control", "SandboxList"),
    "SandboxTemplate": ("._models.control", "Template"),
    "Template": ("._models.control", "Template"),
    "TemplateBuild": ("._models.control", "TemplateBuild"),
    "TemplateList": ("._models.control", "TemplateList"),
    "TemplateResources": ("._models.control", "TemplateResources"),
    "TokenInfo": ("._models.control", "TokenInfo"),
    "Display": ("._models.desktop", "Display"),
    "DisplayInfo": ("._models.desktop", "DisplayInfo"),
    "DisplayResolutions": ("._models.desktop", "DisplayResolutions"),
    "RecordingInfo": ("._models.desktop", "RecordingInfo"),
    "ScreenshotResponse": ("._models.desktop", "ScreenshotResponse"),
    "VNCInfo": ("._models.desktop", "VNCInfo"),
    "WindowInfo": ("._models.desktop", "WindowInfo"),
    "WindowList": ("._models.desktop", "WindowList"),
    "FileChange": ("._models.files", "FileChange"),
    "FileContent": ("._models.files", "FileContent"),
    "FileExists": ("._models.files", "FileExists"),
    "FileInfo": ("._models.files", "FileInfo"),
    "FileList": ("._models.files", "FileList"),
    "FileResult": ("._models.files", "FileResult"),
    "MultipartDone": ("._multipart", "Done"),
    "MultipartDecoder": ("._multipart", "MultipartDecoder"),
    "MultipartEncoder": ("._multipart", "MultipartEncoder"),
    "Part": ("._multipart", "Part"),
    "PartData": ("._multipart", "PartData"),
    "PartEnd": ("._multipart", "PartEnd"),
    "PartStart": ("._multipart", "PartStart"),
    "StreamSlot": ("._multipart", "StreamSlot"),
    "boundary_of": ("._multipart", "boundary_of"),
    "decode_multipart": ("._multipart", "decode_multipart"),
    "encode_multipart": ("._multipart", "encode_multipart"),
    "OPERATIONS": ("._ops", "OPERATIONS"),
    "Operation": ("._ops", "Operation"),
    "Plane": ("._ops", "Plane"),
    "route": ("._ops", "route"),
    "Auth": ("._ops._base", "Auth"),
    "Binary": ("._ops._base", "Binary"),
    "Model": ("._ops._base", "Model"),
    "NoContent": ("._ops._base", "NoContent"),
    "RawJSON": ("._ops._base", "RawJSON"),
    "ResultCodec": ("._ops._base", "ResultCodec"),
    "Text": ("._ops._base", "Text"),
    "GiveUp": ("._policy", "GiveUp"),
    "Retry": ("._policy", "Retry"),
    "RetryDecision": ("._policy", "RetryDecision"),
    "RetryPolicy": ("._policy", "RetryPolicy"),
    "TokenState": ("._policy", "TokenState"),
    "parse_retry_after": ("._policy", "parse_retry_after"),
    "BuildLogPoller": ("._sse", "BuildLogPoller"),
    "BuildLogUpdate": ("._sse", "BuildLogUpdate"),
    "LogLine": ("._sse", "LogLine"),
    "SSEEvent": ("._sse", "SSEEvent"),
    "SSEParser": ("._sse", "SSEParser"),
    "encode_sse_comment": ("._sse", "encode_sse_comment"),
    "encode_sse_event": ("._sse", "encode_sse_event"),
    "guess_log_level": ("._sse", "guess_log_level"),
    "CHANGE_EVENTS": ("._streams", "CHANGE_EVENTS"),
    "STREAMS": ("._streams", "STREAMS"),
    "Change": ("._streams", "Change"),
    "CommandEvent": ("._streams", "CommandEvent"),
    "CommandStreamClient": ("._streams", "CommandStreamClient"),
    "CommandStreamRequest": ("._streams", "CommandStreamRequest"),
    "CommandStreamServer": ("._streams", "CommandStreamServer"),
    "Complete": ("._streams", "Complete"),
    "ErrorMessage": ("._streams", "ErrorMessage"),
    "ExecuteEvent": ("._streams", "ExecuteEvent"),
    "ExecuteState": ("._streams", "ExecuteState"),
    "ExecuteStreamClient": ("._streams", "ExecuteStreamClient"),
    "ExecuteStreamRequest": ("._streams", "ExecuteStreamRequest"),
    "ExecuteStreamServer": ("._streams", "ExecuteStreamServer"),
    "Exit": ("._streams", "Exit"),
    "Input": ("._streams", "Input"),
    "IPythonStreamClient": ("._streams", "IPythonStreamClient"),
    "IPythonStreamServer": ("._streams", "IPythonStreamServer"),
    "Output": ("._streams", "Output"),
    "Resize": ("._streams", "Resize"),
    "Result": ("._streams", "Result"),
    "RichEvent": ("._streams", "RichEvent"),
    "RichStreamOutput": ("._streams", "RichOutput"),
    "RichStreamClient": ("._streams", "RichStreamClient"),
    "RichStreamServer": ("._streams", "RichStreamServer"),
    "Stderr": ("._streams", "Stderr"),
    "Stdout": ("._streams", "Stdout"),
    "StreamMachine": ("._streams", "StreamMachine"),
    "StreamMessage": ("._streams", "StreamMessage"),
    "TerminalClient": ("._streams", "TerminalClient"),
    "TerminalClientEvent": ("._streams", "TerminalClientEvent"),
    "TerminalServer": ("._streams", "TerminalServer"),
    "TerminalServerEvent": ("._streams", "TerminalServerEvent"),
    "TerminalState": ("._streams", "TerminalState"),
    "UnknownMessage": ("._streams", "UnknownMessage"),
    "WatchClient": ("._streams", "WatchClient"),
    "WatchEvent": ("._streams", "WatchEvent"),
    "WatchRequest": ("._streams", "WatchRequest"),
    "WatchServer": ("._streams", "WatchServer"),
    "WatchState": ("._streams", "WatchState"),
    "BaseURL": ("._url", "BaseURL"),
    "encode_query": ("._url", "encode_query"),
    "parse_query": ("._url", "parse_query"),
    "quote_path_param": ("._url", "quote_path_param"),
    "split_target": ("._url", "split_target"),
    "unquote_path_param": ("._url", "unquote_path_param"),
    "DEFAULT_MAX_MESSAGE_SIZE": ("._ws", "DEFAULT_MAX_MESSAGE_SIZE"),
    "Accepted": ("._ws", "Accepted"),
    "BinaryMessage": ("._ws", "BinaryMessage"),
    "CloseReceived": ("._ws", "CloseReceived"),
    "Ping": ("._ws", "Ping"),
    "Pong": ("._ws", "Pong"),
    "TextMessage": ("._ws", "TextMessage"),
    "UpgradeRequest": ("._ws", "UpgradeRequest"),
    "WebSocket": ("._ws", "WebSocket"),
    "WebSocketState": ("._ws", "WebSocketState"),
    "WSEvent": ("._ws", "WSEvent"),
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES, __all__)
