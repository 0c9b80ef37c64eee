// A second binding of the wire vectors, in plain Node.js (20+, no dependencies).
//
//     node tests/vectors/node/run.mjs            run every case it knows; exit 1 on a failure
//     node tests/vectors/node/run.mjs --table    print the operation table as JSON
//     node tests/vectors/node/run.mjs --dir D    read the vector files from D instead
//
// It re-implements, from the rules in tests/vectors/README.md, what a client in another
// language needs: building requests from arguments (method, percent-encoded target, headers,
// JSON body) and reading replies (the status mapped to an error class, or the JSON body
// decoded by the model's field rules and written back). It shares no code with hopx_proto.

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const DIR_FLAG = process.argv.indexOf("--dir");
const VECTORS = DIR_FLAG > 0 ? process.argv[DIR_FLAG + 1]
  : join(dirname(fileURLToPath(import.meta.url)), "..");

// ------------------------------------------------------------------------------------------
// Models. Each field is `key: "TYPE MOD"`; the key may list aliases read when decoding
// ("id|sandbox_id"). TYPE: str int float bool datetime any, [T] list, {T} map of strings to
// T, or a model name. MOD: "!" required, "?" optional (null, left out when written),
// "=JSON" default when absent. A null list or map reads as empty; a null for any other
// non-optional field is malformed. "$closed" models drop unknown keys, the others keep them.

const MODELS = {
  SandboxInfo: {
    "id|sandbox_id": "str!", status: "str!", public_host: 'str=""', direct_url: "str?",
    preview_url: "str?", template_id: "str?", template_name: "str?", organization_id: "int?",
    node_id: "str?", region: "str?", resources: "Resources?", internet_access: "bool?",
    live_mode: "bool?", timeout_seconds: "int?", expires_at: "datetime?",
    created_at: "datetime?", auth_token: "str?", token_expires_at: "datetime?",
    request_id: "str?",
  },
  Resources: { $closed: true, vcpu: "int!", memory_mb: "int!", disk_mb: "int!" },
  SandboxList: {
    object: "str?", data: "[SandboxInfo]=[]", has_more: "bool=false", next_cursor: "str?",
    url: "str?", request_id: "str?",
  },
  TokenInfo: { auth_token: "str!", token_expires_at: "datetime!" },
  TemplateResources: { $closed: true, vcpu: "int?", memory_mb: "int?", disk_gb: "int?" },
  Template: {
    id: "str!", name: "str!", display_name: "str?", description: "str?", category: "str?",
    language: "str?", icon: "str?", docs_url: "str?", default_resources: "TemplateResources?",
    min_resources: "TemplateResources?", max_resources: "TemplateResources?",
    features: "[str]=[]", tags: "[str]=[]", popularity_score: "int?", is_active: "bool=true",
    is_public: "bool?", status: "str?", build_id: "str?", organization_id: "str?",
    created_at: "datetime?", updated_at: "datetime?", object: "str?", request_id: "str?",
    fluent_api_config: "[int]?",
  },
  TemplateList: {
    object: "str?", data: "[Template]=[]", has_more: "bool=false", url: "str?",
    request_id: "str?",
  },
  RegistryCredentials: {
    $closed: true, type: "str!", username: "str?", password: "str?", token: "str?",
  },
  FileUploadLink: {
    present: "bool!", upload_url: "str?", expires_at: "datetime?", files_hash: "str?",
    request_id: "str?",
  },
  TemplateBuild: {
    build_id: "str!", template_id: "str!", status: "str!", logs_url: "str?",
    request_id: "str?",
  },
  BuildStatus: {
    build_id: "str!", status: "str!", template_id: "str?", progress: "int?",
    current_step: "str?", started_at: "datetime?", completed_at: "datetime?",
    error_message: "str?", build_duration_ms: "int?", estimated_completion: "str?",
    request_id: "str?",
  },
  BuildLogs: {
    logs: 'str=""', offset: "int=0", status: 'str="unknown"', complete: "bool=false",
    request_id: "str?",
  },
  HealthFeatures: {
    code_execution: "bool?", file_operations: "bool?", terminal_access: "bool?",
    websocket_streaming: "bool?", rich_output: "bool?", background_jobs: "bool?",
    ipython_kernel: "bool?", system_metrics: "bool?", languages: "[str]?",
  },
  HealthInfo: {
    status: "str!", agent: "str?", version: "str?", uptime: "str?", uptime_seconds: "float?",
    go_version: "str?", vm_id: "str?", features: "HealthFeatures?", active_streams: "int?",
  },
  AgentInfo: {
    agent: "str?", version: "str?", agent_version: "str?", vm_id: "str?", go_version: "str?",
    platform: "str?", os: "str?", arch: "str?", ip: "str?", vm_ip: "str?", port: "any?",
    vm_port: "any?", start_time: "str?", uptime: "any?", endpoints: "{any}?",
    features: "{any}?",
  },
  CPUUsage: { usage_percent: "float?", cores: "int?" },
  UsageStats: { total: "int?", used: "int?", free: "int?", usage_percent: "float?" },
  SystemMetrics: { cpu: "CPUUsage?", memory: "UsageStats?", disk: "UsageStats?", uptime: "any?" },
  ExecutionResult: {
    stdout: 'str=""', stderr: 'str=""', exit_code: "int!", execution_time: "float=0",
    success: "bool?", language: "str?", timestamp: "datetime?", png: "str?", html: "str?",
    json: "{any}?", svg: "str?", markdown: "str?", result: "str?", timed_out: "bool?",
    error: "str?",
  },
  BackgroundExecution: {
    process_id: "str!", execution_id: "str?", status: "str?", start_time: "datetime?",
    message: "str?", name: "str?",
  },
  AsyncExecution: {
    execution_id: "str!", status: "str?", callback_url: "str?", message: "str?",
    timestamp: "datetime?",
  },
  CommandResult: {
    stdout: 'str=""', stderr: 'str=""', exit_code: "int!", execution_time: "float=0",
    command: "str?", pid: "int?", success: "bool?", timestamp: "datetime?",
    timed_out: "bool?", error: "str?",
  },
  ProcessInfo: {
    process_id: "str!", execution_id: "str?", name: "str?", status: "str?", language: "str?",
    "start_time|started_at": "datetime?", end_time: "datetime?", exit_code: "int?",
    duration: "float?", pid: "int?", timed_out: "bool?", error: "str?",
  },
  ProcessList: { processes: "[ProcessInfo]=[]", count: "int?", timestamp: "datetime?" },
  ProcessOutput: {
    process_id: "str!", status: "str?", exit_code: "int?", stdout: 'str=""', stderr: 'str=""',
    stdout_offset: "int=0", stderr_offset: "int=0", stdout_size: "int?", stderr_size: "int?",
    complete: "bool=false",
  },
  SystemProcess: {
    pid: "int?", name: "str?", status: "str?", cpu_percent: "float?", memory_mb: "float?",
    memory_percent: "float?", command: "str?",
  },
  SystemProcessList: { processes: "[SystemProcess]=[]", count: "int?", timestamp: "datetime?" },
  JupyterSession: {
    id: "str?", kernel_id: "str?", execution_state: "str?", connections: "int?",
    last_activity: "str?",
  },
  JupyterSessions: { sessions: "[JupyterSession]=[]" },
  EnvVars: { env_vars: "{str}={}", count: "int?", timestamp: "datetime?" },
  MetricsSnapshot: {
    uptime_seconds: "float?", "total_requests|requests": "int?",
    "total_errors|errors|error_count": "int?", active_executions: "int?",
    total_executions: "int?", requests_total: "{any}?", avg_duration_ms: "any?",
    timestamp: "datetime?",
  },
  FileInfo: {
    name: 'str=""', path: 'str=""', size: "int=0",
    "is_directory|is_dir": "bool=false", "modified_time|modified": "datetime?",
    "permissions|mode": "str?",
  },
  FileList: { files: "[FileInfo]=[]", path: "str?", count: "int?" },
  FileContent: { content: 'str=""', path: "str?", size: "int?" },
  FileResult: {
    success: "bool?", path: "str?", size: "int?", message: "str?",
    timestamp: "datetime?",
  },
  FileExists: { exists: "bool!", path: "str?" },
  VNCInfo: {
    url: "str?", password: "str?", display: "int?", port: "int?", websocket_url: "str?",
    running: "bool?",
  },
  ScreenshotResponse: {
    image: "str?", format: "str?", width: "int?", height: "int?", size: "int?",
    timestamp: "datetime?",
  },
  RecordingInfo: {
    recording_id: "str?", status: "str?", start_time: "datetime?", end_time: "datetime?",
    duration: "float?", file_path: "str?", file_size: "int?", format: "str?",
  },
  WindowInfo: {
    id: "any?", title: "str?", x: "int?", y: "int?", width: "int?", height: "int?",
    is_active: "bool?", is_minimized: "bool?", desktop: "int?", pid: "int?",
  },
  WindowList: { windows: "[WindowInfo]=[]", count: "int?" },
  Display: { id: "int?", name: "str?", width: "int?", height: "int?", primary: "bool?" },
  DisplayInfo: {
    width: "int?", height: "int?", depth: "int?", refresh_rate: "int?", displays: "[Display]?",
  },
  DisplayResolutions: { resolutions: "[any]=[]" },
};

// ------------------------------------------------------------------------------------------
// Operations. `args` lists each argument in wire order as "LOC[:KEY][@TYPE][=JSON default]":
// LOC is path, query, body (one key of the JSON body) or whole_body (the JSON body is this
// object); an operation with `rawBody` (a content type) sends its one body argument's bytes,
// base64 in a vector, as the whole body instead of JSON; KEY the wire name when it differs; TYPE converts the vector's
// JSON value (datetime, a model name). No default means the argument is required.
// `result`: a model name, "raw" (a JSON object; empty body or 204 reads as {}), "text",
// "binary" or "none". `auth`: none, api_key (X-API-Key), bearer_api_key or bearer_jwt
// (Authorization: Bearer); by default api_key on the control plane, bearer_jwt on the agent.

const ID = { id: "path" };
const EXEC = { language: 'body="python"', code: "body" };
const CMD = {
  command: "body", args: "body=[]", timeout: "body=120", workdir: 'body="/workspace"',
  env: "body=null",
};
const ENV = { env_vars: "body", timestamp: "body@datetime=null" };
const PATH_QUERY = { path: "query" };
const OPTIONS = { options: "whole_body={}" };
const XY = { x: "body", y: "body" };
const FROM_TO = { from_x: "body", from_y: "body", to_x: "body", to_y: "body" };
const RECT = { ...XY, width: "body", height: "body" };
const KEYS = { modifiers: "body", key: "body" };
const TEXT = { text: "body" };
const WINDOW = { window_id: "body" };
const REC_ID = { recording_id: "query:id" };

const C = (method, path, args, result, auth) => ({
  plane: "control", method, path, args, result, auth,
});
const A = (method, path, args, result) => ({ plane: "agent", method, path, args, result });
const WS = (path) => ({ ...A("GET", path, {}, "none"), websocket: true });

const OPS = {
  health: C("GET", "/health", {}, "raw", "none"),
  "sandboxes.list": C("GET", "/v1/sandboxes", {
    limit: "query=null", status: "query=null", region: "query=null", cursor: "query=null",
  }, "SandboxList"),
  "sandboxes.create": C("POST", "/v1/sandboxes", {
    template_name: "body=null", template_id: "body=null", region: "body=null",
    timeout_seconds: "body=null", internet_access: "body=null", env_vars: "body=null",
  }, "SandboxInfo"),
  "sandboxes.get": C("GET", "/v1/sandboxes/{id}", ID, "SandboxInfo"),
  "sandboxes.delete": C("DELETE", "/v1/sandboxes/{id}", ID, "raw"),
  "sandboxes.pause": C("POST", "/v1/sandboxes/{id}/pause", ID, "raw"),
  "sandboxes.resume": C("POST", "/v1/sandboxes/{id}/resume", ID, "raw"),
  "sandboxes.start": C("POST", "/v1/sandboxes/{id}/start", ID, "raw"),
  "sandboxes.stop": C("POST", "/v1/sandboxes/{id}/stop", ID, "raw"),
  "sandboxes.set_timeout": C("PUT", "/v1/sandboxes/{id}/timeout", {
    id: "path", timeout_seconds: "body",
  }, "raw"),
  "sandboxes.refresh_token": C("POST", "/v1/sandboxes/{id}/token/refresh", ID, "TokenInfo"),
  "templates.list": C("GET", "/v1/templates", {
    category: "query=null", language: "query=null",
  }, "TemplateList"),
  "templates.get": C("GET", "/v1/templates/{name}", { name: "path" }, "Template"),
  "templates.delete": C("DELETE", "/v1/templates/{template_id}", { template_id: "path" }, "raw"),
  "templates.upload_link": C("POST", "/v1/templates/files/upload-link", {
    files_hash: "body", content_length: "body",
  }, "FileUploadLink", "bearer_api_key"),
  "templates.upload": {
    ...C("PUT", "/v1/templates/files/upload/{files_hash}", {
      files_hash: "path", signature: "query=null", data: 'body=""',
    }, "raw", "none"),
    rawBody: "application/gzip",
  },
  "templates.build": C("POST", "/v1/templates/build", {
    name: "body", from_image: "body", cpu: "body=2", memory: "body=2048",
    disk_gb: "body:diskGB=10", steps: "body=[]", start_cmd: "body:startCmd=null",
    ready_cmd: "body:readyCmd=null", skip_cache: "body:skipCache=false", update: "body=false",
    registry_credentials: "body@RegistryCredentials=null", agent_version: "body=null",
  }, "TemplateBuild", "bearer_api_key"),
  "templates.build_status": C("GET", "/v1/templates/build/{build_id}/status", {
    build_id: "path",
  }, "BuildStatus", "bearer_api_key"),
  "templates.build_logs": C("GET", "/v1/templates/build/{build_id}/logs", {
    build_id: "path", offset: "query=0",
  }, "BuildLogs", "bearer_api_key"),

  "agent.root": A("GET", "/", {}, "raw"),
  "agent.health": A("GET", "/health", {}, "HealthInfo"),
  "agent.info": A("GET", "/info", {}, "AgentInfo"),
  "agent.ping": A("GET", "/ping", {}, "raw"),
  "agent.system": A("GET", "/system", {}, "SystemMetrics"),
  "execute.run": A("POST", "/execute", {
    ...EXEC, workdir: 'body="/workspace"', timeout: "body=120", env: "body=null",
  }, "ExecutionResult"),
  "execute.background": A("POST", "/execute/background", {
    code: "body", language: 'body="python"', timeout: "body=300", env: "body=null",
    name: "body=null", workdir: "body=null",
  }, "BackgroundExecution"),
  "execute.async": A("POST", "/execute/async", {
    code: "body", language: 'body="python"', timeout: "body=1800",
    workdir: 'body="/workspace"', callback_url: "body", env: "body=null",
    callback_headers: "body=null", callback_signature_secret: "body=null",
  }, "AsyncExecution"),
  "execute.ipython": A("POST", "/execute/ipython", {
    code: "body", timeout: "body=120", env: "body=null",
  }, "ExecutionResult"),
  "execute.kill": A("DELETE", "/execute/kill", { process_id: "query" }, "raw"),
  "execute.kill_by_path": A("POST", "/execute/kill/{process_id}", { process_id: "path" }, "raw"),
  "execute.processes": A("GET", "/execute/processes", {}, "ProcessList"),
  "execute.process_output": A(
    "GET",
    "/execute/processes/{process_id}/output",
    {
      process_id: "path", stdout_offset: "query=0", stderr_offset: "query=0",
      max_bytes: "query=null",
    },
    "ProcessOutput",
  ),
  "processes.list": A("GET", "/processes", {}, "SystemProcessList"),
  "processes.kill": A("POST", "/processes/{process_id}/kill", { process_id: "path" }, "raw"),
  "jupyter.sessions": A("GET", "/jupyter/sessions", {}, "JupyterSessions"),
  "commands.run": A("POST", "/commands/run", CMD, "CommandResult"),
  "commands.background": A("POST", "/commands/background", CMD, "BackgroundExecution"),
  "env.get": A("GET", "/env", {}, "EnvVars"),
  "env.set": A("PUT", "/env", { env_vars: "body", merge: "body=null", ...ENV }, "raw"),
  "env.update": A("PATCH", "/env", { env_vars: "body", merge: "body=true", ...ENV }, "raw"),
  "env.clear": A("DELETE", "/env", {}, "raw"),
  "cache.stats": A("GET", "/cache/stats", {}, "raw"),
  "cache.clear": A("POST", "/cache/clear", {}, "raw"),
  "metrics.get": A("GET", "/metrics", {}, "raw"),
  "metrics.prometheus": A("GET", "/metrics/prometheus", {}, "text"),
  "metrics.snapshot": A("GET", "/metrics/snapshot", {}, "MetricsSnapshot"),
  "execute.stream": WS("/execute/stream"),
  "commands.stream": WS("/commands/stream"),
  "stream.rich": WS("/stream"),
  "stream.ipython": WS("/stream/ipython"),
  terminal: WS("/terminal"),

  "files.read": A("GET", "/files/read", PATH_QUERY, "FileContent"),
  "files.download": A("GET", "/files/download", PATH_QUERY, "binary"),
  "files.exists": A("GET", "/files/exists", PATH_QUERY, "FileExists"),
  "files.list": A("GET", "/files/list", { path: 'query="/workspace"' }, "FileList"),
  "files.mkdir": A("POST", "/files/mkdir", { path: "body" }, "FileResult"),
  "files.remove": A("DELETE", "/files/remove", PATH_QUERY, "FileResult"),
  "files.write": A("POST", "/files/write", {
    path: "body", content: "body", mode: "body=null", encoding: "body=null",
    overwrite: "body=null",
  }, "FileResult"),
  "files.watch": WS("/files/watch"),

  "desktop.vnc.start": A("POST", "/desktop/vnc/start", {
    display: "body=1", password: "body=null",
  }, "VNCInfo"),
  "desktop.vnc.stop": A("POST", "/desktop/vnc/stop", OPTIONS, "raw"),
  "desktop.vnc.status": A("GET", "/desktop/vnc/status", {}, "VNCInfo"),
  "desktop.mouse.click": A("POST", "/desktop/mouse/click", {
    ...XY, button: 'body="left"', clicks: "body=1",
  }, "raw"),
  "desktop.mouse.move": A("POST", "/desktop/mouse/move", XY, "raw"),
  "desktop.mouse.drag": A("POST", "/desktop/mouse/drag", {
    ...FROM_TO, button: 'body="left"',
  }, "raw"),
  "desktop.mouse.scroll": A("POST", "/desktop/mouse/scroll", {
    amount: "body", direction: 'body="down"',
  }, "raw"),
  "desktop.keyboard.type": A("POST", "/desktop/keyboard/type", {
    text: "body", delay_ms: "body=10",
  }, "raw"),
  "desktop.keyboard.press": A("POST", "/desktop/keyboard/press", { key: "body" }, "raw"),
  "desktop.keyboard.combination": A("POST", "/desktop/keyboard/combination", KEYS, "raw"),
  "desktop.clipboard.set": A("POST", "/desktop/clipboard/set", TEXT, "raw"),
  "desktop.clipboard.get": A("GET", "/desktop/clipboard/get", {}, "raw"),
  "desktop.clipboard.history": A("GET", "/desktop/clipboard/history", {}, "raw"),
  "desktop.screenshot.capture": A("POST", "/desktop/screenshot", OPTIONS, "ScreenshotResponse"),
  "desktop.screenshot.get": A("GET", "/desktop/screenshot", {}, "binary"),
  "desktop.screenshot.region": A("POST", "/desktop/screenshot/region", RECT, "binary"),
  "desktop.recording.start": A("POST", "/desktop/recording/start", {
    fps: "body=10", format: 'body="mp4"', quality: 'body="medium"',
  }, "RecordingInfo"),
  "desktop.recording.stop": A("POST", "/desktop/recording/stop", {
    recording_id: "body",
  }, "RecordingInfo"),
  "desktop.recording.status": A("GET", "/desktop/recording/status", REC_ID, "RecordingInfo"),
  "desktop.recording.download": A("GET", "/desktop/recording/download", REC_ID, "binary"),
  "desktop.windows.list": A("GET", "/desktop/windows/list", {}, "WindowList"),
  "desktop.windows.get": A("GET", "/desktop/windows", {}, "WindowList"),
  "desktop.windows.focus": A("POST", "/desktop/windows/focus", WINDOW, "raw"),
  "desktop.windows.close": A("POST", "/desktop/windows/close", WINDOW, "raw"),
  "desktop.windows.resize": A("POST", "/desktop/windows/resize", {
    ...WINDOW, width: "body", height: "body",
  }, "raw"),
  "desktop.windows.minimize": A("POST", "/desktop/windows/minimize", WINDOW, "raw"),
  "desktop.display.current": A("GET", "/desktop/display/current", {}, "DisplayInfo"),
  "desktop.display.get": A("GET", "/desktop/display", {}, "DisplayInfo"),
  "desktop.display.available": A("GET", "/desktop/display/available", {}, "DisplayResolutions"),
  "desktop.display.set": A("POST", "/desktop/display/set", {
    width: "body", height: "body",
  }, "DisplayInfo"),
  "desktop.x11.ocr": A("POST", "/desktop/x11/ocr", { ...RECT, language: 'body="eng"' }, "raw"),
  "desktop.x11.hotkey": A("POST", "/desktop/x11/hotkey", KEYS, "raw"),
  "desktop.x11.drag_drop": A("POST", "/desktop/x11/drag-drop", FROM_TO, "raw"),
  "desktop.x11.drag_drop_underscore": A("POST", "/desktop/x11/drag_drop", FROM_TO, "raw"),
  "desktop.x11.find_element": A("POST", "/desktop/x11/find_element", TEXT, "raw"),
  "desktop.x11.wait_for": A("POST", "/desktop/x11/wait_for", {
    text: "body", timeout: "body=30",
  }, "raw"),
  "desktop.x11.get_bounds": A("POST", "/desktop/x11/get_bounds", TEXT, "raw"),
  "desktop.x11.capture_window": A("GET", "/desktop/x11/capture_window", {
    window_id: "query=null",
  }, "binary"),
  "desktop.debug.logs": A("GET", "/desktop/debug/logs", {}, "raw"),
  "desktop.debug.processes": A("GET", "/desktop/debug/processes", {}, "raw"),
  "update.apply": A("POST", "/update/apply", OPTIONS, "raw"),
  "update.restart": A("POST", "/update/restart", OPTIONS, "raw"),
  "update.backups": A("GET", "/update/backups", {}, "raw"),
};

// ------------------------------------------------------------------------------------------
// Errors: a decoding failure is a WireError carrying the class name and what it must carry.

class WireError extends Error {
  constructor(type, message, { status = null, code = null, requestId = null } = {}) {
    super(message);
    this.type = type;
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const malformed = (message) => new WireError("RemoteProtocolError", message);

// Classes whose code defaults to a constant when the reply carries none.
const DEFAULT_CODES = {
  TokenExpiredError: "token_expired", SandboxExpiredError: "sandbox_expired",
  FileNotFoundError: "file_not_found", FileOperationError: "file_operation_failed",
  CodeExecutionError: "code_execution_failed", CommandExecutionError: "command_execution_failed",
  DesktopNotAvailableError: "desktop_not_available",
};

const AGENT_CODE_CLASSES = {
  FILE_NOT_FOUND: "FileNotFoundError", DIRECTORY_NOT_FOUND: "FileOperationError",
  PATH_NOT_ALLOWED: "FileOperationError", PERMISSION_DENIED: "FileOperationError",
  INVALID_PATH: "FileOperationError", FILE_ALREADY_EXISTS: "FileOperationError",
  FILE_OPERATION_FAILED: "FileOperationError", EXECUTION_FAILED: "CodeExecutionError",
  EXECUTION_TIMEOUT: "CodeExecutionError", COMMAND_FAILED: "CommandExecutionError",
  DESKTOP_NOT_AVAILABLE: "DesktopNotAvailableError", SANDBOX_PAUSED: "SandboxNotRunningError",
  SANDBOX_STOPPED: "SandboxNotRunningError", SANDBOX_CREATING: "SandboxNotRunningError",
};

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
// Python's str() of a JSON scalar, which is what the mapping stores as a code or id.
function pyStr(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "boolean") return v ? "True" : "False";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function jsonObject(body) {
  try {
    const value = JSON.parse(body.toString("utf8"));
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

function excerpt(body) {
  const text = body.toString("utf8").replaceAll("\r", "\\r").replaceAll("\n", "\\n");
  return text.length <= 200 ? text : text.slice(0, 200) + "...";
}

function statusClass(status) {
  if (status === 400 || status === 422) return "ValidationError";
  if (status === 401) return "AuthenticationError";
  if (status === 404) return "NotFoundError";
  if (status === 429) return "RateLimitError";
  if (status >= 500) return "ServerError";
  return "APIError";
}

function apiError(type, status, message, code, requestId) {
  const finalCode = code ?? DEFAULT_CODES[type] ?? null;
  return new WireError(type, message, { status, code: finalCode, requestId });
}

function controlError(status, headers, body) {
  const obj = jsonObject(body);
  let message = null, code = null, requestId = null;
  if (obj) {
    const err = obj.error;
    if (isObject(err)) {
      message = pyStr(err.message);
      code = pyStr(err.code);
      requestId = pyStr(err.request_id);
    } else if (typeof err === "string") {
      message = err;
    }
    message = message ?? pyStr(obj.message);
    code = code || pyStr(obj.code);
    requestId = requestId || pyStr(obj.request_id);
  }
  requestId = requestId || (headers["x-request-id"] ?? null);
  message = message ?? (body.length ? excerpt(body) : `HTTP ${status}`);
  const lowered = (code || "").toLowerCase();
  let type;
  if (status === 410 || lowered === "sandbox_expired") type = "SandboxExpiredError";
  else if (status === 401 && (lowered === "token_expired" || lowered === "jwt_expired")) {
    type = "TokenExpiredError";
  } else if (status === 403 && message.toLowerCase().includes("limit")) type = "ResourceLimitError";
  else if (statusClass(status) === "RateLimitError") type = "RateLimitError";
  else if (status < 400) type = "RemoteProtocolError";
  else type = statusClass(status);
  return apiError(type, status, message, code, requestId);
}

function agentError(status, headers, body) {
  const obj = jsonObject(body);
  if (obj && isObject(obj.error)) return controlError(status, headers, body);
  let message = null, code = null, requestId = null, path = null;
  if (obj) {
    if (typeof obj.error === "string") message = obj.error;
    message = message ?? pyStr(obj.message);
    code = pyStr(obj.code);
    requestId = pyStr(obj.request_id);
    if (typeof obj.path === "string" && obj.path) path = obj.path;
  }
  requestId = requestId || (headers["x-request-id"] ?? null);
  message = message ?? (body.length ? excerpt(body) : `HTTP ${status}`);
  const upper = code ? code.toUpperCase() : null;
  let type;
  if (upper === "TOKEN_EXPIRED") type = "TokenExpiredError";
  else if (["TOKEN_INVALID", "INVALID_TOKEN", "UNAUTHORIZED"].includes(upper) || status === 401) {
    type = "AuthenticationError";
  } else if (upper === "SANDBOX_EXPIRED" || status === 410) type = "SandboxExpiredError";
  else if (AGENT_CODE_CLASSES[upper ?? ""]) type = AGENT_CODE_CLASSES[upper];
  else if (status === 429) type = "RateLimitError";
  else if (status >= 500) type = "ServerError";
  else if (status === 404 && path !== null && code === null) type = "FileNotFoundError";
  else if (status < 400) type = "RemoteProtocolError";
  else type = "AgentError";
  return apiError(type, status, message, code, requestId);
}

// ------------------------------------------------------------------------------------------
// Timestamps: RFC 3339 in (any offset, any fraction length), UTC out ("Z", microseconds only
// when not zero).

const STAMP = new RegExp(
  String.raw`^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?` +
  String.raw`(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$`,
);

function parseDatetime(text) {
  const m = STAMP.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => (x === undefined ? 0 : Number(x)));
  const micro = Number(((m[7] ?? "") + "000000").slice(0, 6));
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    return null;
  }
  const offset = m[9] ? (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) : 0;
  if (m[9] && (Number(m[10]) > 23 || Number(m[11]) > 59)) return null;
  const utc = new Date(ms - offset * 60000).toISOString().slice(0, 19);
  return utc + (micro ? "." + String(micro).padStart(6, "0") : "") + "Z";
}

// ------------------------------------------------------------------------------------------
// Decoding JSON by type (the value written back is the wire form).

function parseSpec(spec) {
  const m = /^([^!?=]+)(!|\?|=(.*))$/.exec(spec);
  if (!m) throw new Error(`bad field spec ${spec}`);
  const required = m[2] === "!";
  const optional = m[2] === "?";
  return { type: m[1], required, optional, dflt: m[3] === undefined ? null : JSON.parse(m[3]) };
}

function decodeType(type, value, path) {
  const fail = (expected) => malformed(
    `${path || "value"}: expected ${expected}, got ${JSON.stringify(value)}`,
  );
  if (type === "any") return value;
  if (type === "str") { if (typeof value === "string") return value; throw fail("a string"); }
  if (type === "bool") {
    if (typeof value === "boolean") return value;
    throw fail("true or false");
  }
  if (type === "int") { if (Number.isInteger(value)) return value; throw fail("an integer"); }
  if (type === "float") { if (typeof value === "number") return value; throw fail("a number"); }
  if (type === "datetime") {
    const stamp = typeof value === "string" ? parseDatetime(value) : null;
    if (stamp === null) throw fail("an RFC 3339 timestamp");
    return stamp;
  }
  if (type.startsWith("[")) {
    if (value === null) return [];
    if (!Array.isArray(value)) throw fail("a list");
    return value.map((v, i) => decodeType(type.slice(1, -1), v, `${path}[${i}]`));
  }
  if (type.startsWith("{")) {
    if (value === null) return {};
    if (!isObject(value)) throw fail("an object");
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, decodeType(type.slice(1, -1), v, `${path}.${k}`)]),
    );
  }
  return decodeModel(type, value, path);
}

function decodeModel(name, value, path) {
  const model = MODELS[name];
  if (!model) throw new Error(`no model ${name}`);
  if (!isObject(value)) throw malformed(`${path || "value"}: expected an object (${name})`);
  const out = {};
  const known = new Set();
  for (const [keys, spec] of Object.entries(model)) {
    if (keys === "$closed") continue;
    const names = keys.split("|");
    names.forEach((k) => known.add(k));
    const { type, required, optional, dflt } = parseSpec(spec);
    const found = names.find((k) => Object.hasOwn(value, k));
    let decoded;
    if (found !== undefined) {
      const raw = value[found];
      const where = path ? `${path}.${found}` : found;
      decoded = raw === null && optional ? null : decodeType(type, raw, where);
    } else if (required) {
      throw malformed(`${path ? path + "." : ""}${names[0]}: required field is missing`);
    } else {
      decoded = dflt;
    }
    if (decoded !== null) out[names[0]] = decoded;
  }
  if (!model.$closed) {
    for (const [k, v] of Object.entries(value)) if (!known.has(k) && !(k in out)) out[k] = v;
  }
  return out;
}

function decodeSuccess(op, status, headers, body) {
  if (op.result === "none") return null;
  if (op.result === "binary") return body.toString("base64");
  if (op.result === "text") {
    const text = new TextDecoder("utf-8", { fatal: true });
    try { return text.decode(body); } catch { throw malformed("text body is not UTF-8"); }
  }
  if (op.result === "raw") {
    if (!body.length || status === 204) return {};
    const value = parseJSON(body);
    if (!isObject(value)) throw malformed("expected a JSON object");
    return value;
  }
  const ctype = (headers["content-type"] ?? "").toLowerCase();
  if (ctype && !ctype.includes("json")) throw malformed(`expected a JSON body, got ${ctype}`);
  return decodeModel(op.result, parseJSON(body), "");
}

function parseJSON(body) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw malformed("body is not valid JSON");
  }
}

function decode(op, response) {
  const headers = response.headers ?? {};
  const body = bodyOf(response);
  const { status } = response;
  if (status < 200 || status >= 300) {
    throw (op.plane === "control" ? controlError : agentError)(status, headers, body);
  }
  try {
    return decodeSuccess(op, status, headers, body);
  } catch (err) {
    if (err instanceof WireError) {
      err.status = status;
      err.requestId = headers["x-request-id"] ?? null;
    }
    throw err;
  }
}

// ------------------------------------------------------------------------------------------
// Encoding a request from arguments.

// Percent-encode everything but RFC 3986 unreserved characters (and `keep`).
function quote(text, keep = "") {
  return Array.from(new TextEncoder().encode(text), (byte) => {
    const ch = String.fromCharCode(byte);
    return /[A-Za-z0-9_.~-]/.test(ch) || keep.includes(ch)
      ? ch : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }).join("");
}

function parseArg(spec) {
  const m = /^(path|query|body|whole_body)(?::([^@=]+))?(?:@([^=]+))?(?:=(.*))?$/.exec(spec);
  if (!m) throw new Error(`bad argument spec ${spec}`);
  const hasDefault = m[4] !== undefined;
  const dflt = hasDefault ? JSON.parse(m[4]) : null;
  return { loc: m[1], key: m[2], type: m[3], hasDefault, dflt };
}

function argValue(type, value) {
  if (value === null || type === undefined) return value;
  if (type === "datetime") {
    const stamp = typeof value === "string" ? parseDatetime(value) : null;
    if (stamp === null) throw new Error(`not a timestamp: ${value}`);
    return stamp;
  }
  return decodeModel(type, value, "");
}

function encode(op, args, auth) {
  const unknown = Object.keys(args).filter((k) => !Object.hasOwn(op.args, k));
  if (unknown.length) throw new Error(`unknown argument(s) ${unknown.join(", ")}`);
  let target = op.path;
  const query = [];
  let body = {};
  let hasBody = false;
  for (const [name, spec] of Object.entries(op.args)) {
    const { loc, key = name, type, hasDefault, dflt } = parseArg(spec);
    if (!Object.hasOwn(args, name) && !hasDefault) throw new Error(`missing argument ${name}`);
    const value = argValue(type, Object.hasOwn(args, name) ? args[name] : dflt);
    if (loc === "path") {
      if (typeof value !== "string" || !value) {
        throw new Error(`${name} must be a non-empty string`);
      }
      target = target.replace(`{${key}}`, quote(value));
    } else if (loc === "query") {
      if (value !== null) query.push(`${quote(key)}=${quote(String(value), "/")}`);
    } else if (loc === "whole_body") {
      hasBody = true;
      body = value;
    } else {
      hasBody = true;
      if (value !== null) body[key] = value;
    }
  }
  if (query.length) target += "?" + query.join("&");
  const headers = { accept: "application/json" };
  const kind = op.auth ?? (op.plane === "control" ? "api_key" : "bearer_jwt");
  if (auth !== undefined && auth !== null) {
    if (kind === "api_key") headers["x-api-key"] = auth;
    else if (kind !== "none") headers.authorization = `Bearer ${auth}`;
  }
  let payload = Buffer.alloc(0);
  if (op.rawBody) {
    const [value = ""] = Object.values(body);
    payload = Buffer.from(value, "base64");
    headers["content-type"] = op.rawBody;
  } else if (hasBody) {
    payload = Buffer.from(JSON.stringify(body), "utf8");
    headers["content-type"] = "application/json";
  }
  return { method: op.method, target, headers, body: payload };
}

// ------------------------------------------------------------------------------------------
// Running the vectors.

function bodyOf(spec) {
  if ("json" in spec) return Buffer.from(JSON.stringify(spec.json), "utf8");
  if ("text" in spec) return Buffer.from(spec.text, "utf8");
  if ("base64" in spec) return Buffer.from(spec.base64, "base64");
  return Buffer.alloc(0);
}

function checkRequest(op, c) {
  const spec = c.request;
  const got = encode(op, c.args ?? {}, c.auth);
  const problems = [];
  if (got.method !== spec.method) problems.push(`method ${got.method} != ${spec.method}`);
  if (got.target !== spec.target) problems.push(`target ${got.target} != ${spec.target}`);
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    if (got.headers[name] !== value) {
      problems.push(`header ${name}: ${got.headers[name]} != ${value}`);
    }
  }
  if ("json" in spec) {
    // Same keys in the same order: the bytes on the wire match the reference encoder's.
    const want = JSON.stringify(spec.json);
    if (got.body.toString("utf8") !== want) problems.push(`body ${got.body} != ${want}`);
  } else if ("text" in spec || "base64" in spec) {
    if (!got.body.equals(bodyOf(spec))) problems.push(`body ${got.body} != ${bodyOf(spec)}`);
  } else if (got.body.length) {
    problems.push(`unexpected body ${got.body}`);
  }
  return problems;
}

function checkResponse(op, c) {
  let result;
  try {
    result = decode(op, c.response);
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    if (!c.error) return [`unexpected ${err.type}: ${err.message}`];
    const problems = [];
    if (err.type !== c.error.type) problems.push(`error ${err.type} != ${c.error.type}`);
    const carried = [["status", "status"], ["code", "code"], ["request_id", "requestId"]];
    for (const [key, attr] of carried) {
      if (key in c.error && err[attr] !== c.error[key]) {
        problems.push(`${key} ${err[attr]} != ${c.error[key]}`);
      }
    }
    return problems;
  }
  if (c.error) return [`decoded ${JSON.stringify(result)} instead of raising ${c.error.type}`];
  let want = c.result;
  if ("result_text" in c) want = c.result_text;
  if ("result_base64" in c) want = c.result_base64;
  if (isDeepStrictEqual(result, want)) return [];
  return [`result ${JSON.stringify(result)} != ${JSON.stringify(want)}`];
}

function main() {
  if (process.argv.includes("--table")) {
    const operations = Object.fromEntries(Object.entries(OPS).map(([name, op]) => [name, {
      plane: op.plane, method: op.method, path: op.path, websocket: Boolean(op.websocket),
      auth: op.auth ?? (op.plane === "control" ? "api_key" : "bearer_jwt"), result: op.result,
      args: Object.entries(op.args).map(([arg, spec]) => {
        const { loc, key = arg, hasDefault, dflt } = parseArg(spec);
        return hasDefault ? { arg, loc, key, default: dflt } : { arg, loc, key };
      }),
    }]));
    const models = Object.fromEntries(Object.entries(MODELS).map(([name, model]) => [name, {
      closed: Boolean(model.$closed),
      fields: Object.entries(model).filter(([k]) => k !== "$closed").map(([keys, spec]) => {
        const { type, required, optional, dflt } = parseSpec(spec);
        return { keys: keys.split("|"), type, required, optional, default: dflt };
      }),
    }]));
    console.log(JSON.stringify({ operations, models }, null, 1));
    return 0;
  }
  let passed = 0, failed = 0;
  const skipped = new Map();
  const isVectorFile = (f) => f.endsWith(".json") && f !== "SCHEMA.json";
  const files = readdirSync(VECTORS).filter(isVectorFile).sort();
  for (const file of files) {
    for (const c of JSON.parse(readFileSync(join(VECTORS, file), "utf8")).vectors) {
      const op = OPS[c.operation];
      if (!op || c.parse_error) {
        // Server-side parse cases and operations outside the table are not this binding's.
        const why = op ? "server-side parse cases" : c.operation;
        skipped.set(why, (skipped.get(why) ?? 0) + 1);
        continue;
      }
      const kind = "request" in c ? "request" : "response";
      const label = `${file} ${c.operation}: ${c.name ?? ""} (${kind})`;
      let problems;
      try {
        problems = kind === "request" ? checkRequest(op, c) : checkResponse(op, c);
      } catch (err) {
        problems = [`crashed: ${err.stack ?? err}`];
      }
      if (problems.length) {
        failed += 1;
        console.log(`FAIL ${label}: ${problems.join("; ")}`);
      } else {
        passed += 1;
        console.log(`ok   ${label}`);
      }
    }
  }
  const skips = [...skipped].map(([why, n]) => `${why} x${n}`).join(", ");
  if (skips) console.log(`skipped: ${skips}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed || !passed ? 1 : 0;
}

process.exitCode = main();
