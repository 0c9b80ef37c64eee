"""Control-plane operations (``/v1/sandboxes``, ``/v1/templates``, ``/health``).

Every request authenticates with ``X-API-Key`` except the template-build family, which sends
the API key as ``Authorization: Bearer`` (as the official clients do), and ``GET /health``,
which sends nothing.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import attrs

from .._checks import non_empty, non_negative, positive
from .._codec import from_wire, loads
from .._errors import LocalProtocolError, RemoteProtocolError
from .._http import Request
from .._models.control import (
    BuildLogs,
    BuildStatus,
    FileUploadLink,
    RegistryCredentials,
    SandboxInfo,
    SandboxList,
    Template,
    TemplateBuild,
    TemplateList,
    TokenInfo,
)
from .._value import Value
from ._base import (
    Auth,
    Model,
    NoArgs,
    Operation,
    Plane,
    RawJSON,
    body,
    path_param,
    query,
)

__all__ = [
    "HEALTH",
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
    "TEMPLATES_BUILD",
    "TEMPLATES_BUILD_LOGS",
    "TEMPLATES_BUILD_STATUS",
    "TEMPLATES_DELETE",
    "TEMPLATES_GET",
    "TEMPLATES_LIST",
    "TEMPLATES_UPLOAD",
    "TEMPLATES_UPLOAD_LINK",
    "BuildId",
    "BuildLogsQuery",
    "BuildTemplate",
    "CreateSandbox",
    "ListSandboxes",
    "ListTemplates",
    "SandboxId",
    "SetTimeout",
    "TemplateId",
    "TemplateName",
    "UploadBlob",
    "UploadLinkRequest",
]

_optional_text = attrs.validators.optional(non_empty)


def _template_id_text(value: str | int | None) -> str | None:
    """Template ids travel as JSON strings; an integer id is written in decimal."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise LocalProtocolError(f"template_id must be a string or an integer, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Arguments


@attrs.frozen(repr=False, eq=False, slots=False)
class SandboxId(Value):
    """Arguments of every operation that names one sandbox."""

    id: str = path_param(validator=non_empty)


@attrs.frozen(repr=False, eq=False, slots=False)
class ListSandboxes(Value):
    """``GET /v1/sandboxes``: one page, filtered; ``cursor`` is a previous ``next_cursor``."""

    limit: int | None = query(validator=positive)
    status: str | None = query(validator=_optional_text)
    region: str | None = query(validator=_optional_text)
    cursor: str | None = query(validator=_optional_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class CreateSandbox(Value):
    """``POST /v1/sandboxes``: a template by name or by id (an integer id is sent as a
    string); ``None`` fields are left out of the body."""

    template_name: str | None = body(default=None, validator=_optional_text)
    template_id: str | None = attrs.field(
        default=None,
        converter=_template_id_text,
        validator=_optional_text,
        metadata=body().metadata,
    )
    region: str | None = body(default=None, validator=_optional_text)
    timeout_seconds: int | None = body(default=None, validator=positive)
    internet_access: bool | None = body(default=None)
    env_vars: dict[str, str] | None = body(default=None)

    def __attrs_post_init__(self) -> None:
        if self.template_name is None and self.template_id is None:
            raise LocalProtocolError("creating a sandbox needs template_name or template_id")


#: Keys the OpenAPI file still lists for create but the service ignores (resources come from
#: the template); a server accepts and drops them.
_DEPRECATED_CREATE_KEYS = frozenset({"vcpu", "memory_mb", "disk_gb"})


def _parse_create(request: Request, values: dict[str, Any]) -> CreateSandbox:
    """Server side of create: like the generic body parse, but ``template_id`` may be a JSON
    integer (the OpenAPI file accepts both), and deprecated resource keys are dropped."""
    raw = request.body or b""
    doc: Any = loads(raw, what="request body") if raw.strip() else {}
    if not isinstance(doc, dict):
        raise RemoteProtocolError("request body must be a JSON object", kind="invalid_value")
    fields = attrs.fields_dict(CreateSandbox)
    unknown = [k for k in doc if k not in fields and k not in _DEPRECATED_CREATE_KEYS]
    if unknown:
        raise RemoteProtocolError(
            f"unknown field(s) in request body: {', '.join(unknown)}", kind="unknown_field"
        )
    hints = _create_hints()
    kwargs: dict[str, Any] = dict(values)
    for key, value in doc.items():
        if key in _DEPRECATED_CREATE_KEYS:
            continue
        if key == "template_id" and isinstance(value, int) and not isinstance(value, bool):
            kwargs[key] = str(value)
        else:
            kwargs[key] = from_wire(hints[key], value, path=key)
    return CreateSandbox(**kwargs)


@functools.cache
def _create_hints() -> dict[str, Any]:
    return typing.get_type_hints(CreateSandbox)


@attrs.frozen(repr=False, eq=False, slots=False)
class SetTimeout(Value):
    """``PUT /v1/sandboxes/{id}/timeout``: the sandbox expires ``timeout_seconds`` from now."""

    id: str = path_param(validator=non_empty)
    timeout_seconds: int = body(validator=positive)


@attrs.frozen(repr=False, eq=False, slots=False)
class ListTemplates(Value):
    """``GET /v1/templates``, optionally filtered (filters the official client sends)."""

    category: str | None = query(validator=_optional_text)
    language: str | None = query(validator=_optional_text)


@attrs.frozen(repr=False, eq=False, slots=False)
class TemplateName(Value):
    """A template by name (or by id: the service accepts both here)."""

    name: str = path_param(validator=non_empty)


@attrs.frozen(repr=False, eq=False, slots=False)
class TemplateId(Value):
    """A template by id."""

    template_id: str = path_param(validator=non_empty)


@attrs.frozen(repr=False, eq=False, slots=False)
class UploadLinkRequest(Value):
    """``POST /v1/templates/files/upload-link``: a build context blob by content hash."""

    files_hash: str = body(validator=non_empty)
    content_length: int = body(validator=positive)


@attrs.frozen(repr=False, eq=False, slots=False)
class UploadBlob(Value):
    """``PUT`` of a build context to the ``upload_url`` a local server hands out
    (``/v1/templates/files/upload/{files_hash}?signature=...``); the body is the gzip
    tarball. The service's own upload URLs point at object storage instead."""

    files_hash: str = path_param(validator=non_empty)
    signature: str | None = query(validator=_optional_text)
    data: bytes = attrs.field(default=b"", repr=False)


def _parse_upload_blob(request: Request, values: dict[str, Any]) -> UploadBlob:
    return UploadBlob(
        files_hash=values["files_hash"],
        signature=values.get("signature"),
        data=request.body or b"",
    )


def _encode_upload_blob(args: UploadBlob) -> tuple[bytes, bytes]:
    return b"application/gzip", args.data


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildTemplate(Value):
    """``POST /v1/templates/build``. ``steps`` are step objects as the service takes them
    (``{"type": "RUN", "args": [...]}`` ...); ``update`` creates or replaces the template."""

    name: str = body(validator=non_empty)
    from_image: str = body(validator=non_empty)
    cpu: int = body(default=2, validator=positive)
    memory: int = body(default=2048, validator=positive)
    disk_gb: int = body("diskGB", default=10, validator=positive)
    steps: list[dict[str, Any]] = body(factory=list)
    start_cmd: str | None = body("startCmd", default=None)
    ready_cmd: dict[str, Any] | None = body("readyCmd", default=None)
    skip_cache: bool = body("skipCache", default=False)
    update: bool = body(default=False)
    registry_credentials: RegistryCredentials | None = body(default=None)
    agent_version: str | None = body(default=None)


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildId(Value):
    """A template build by id."""

    build_id: str = path_param(validator=non_empty)


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildLogsQuery(Value):
    """One poll of a build's log from ``offset`` on.

    The official clients put the *template* id in the path segment the OpenAPI file calls
    ``buildID``; the service answers to it.
    """

    build_id: str = path_param(validator=non_empty)
    offset: int = query(default=0, validator=non_negative)


# ---------------------------------------------------------------------------------------------
# Operations

HEALTH = Operation(
    name="health",
    plane=Plane.CONTROL,
    method="GET",
    path="/health",
    args=NoArgs,
    result=RawJSON(),
    auth=Auth.NONE,
    summary="Whether the control plane is up (no credential).",
)

SANDBOXES_LIST = Operation(
    name="sandboxes.list",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/sandboxes",
    args=ListSandboxes,
    result=Model(SandboxList),
    summary="One page of sandboxes.",
)

SANDBOXES_CREATE = Operation(
    name="sandboxes.create",
    plane=Plane.CONTROL,
    method="POST",
    path="/v1/sandboxes",
    args=CreateSandbox,
    result=Model(SandboxInfo),
    success=201,
    idempotent=False,
    parse_body=_parse_create,
    summary="Create a sandbox; the reply carries the agent JWT.",
)

SANDBOXES_GET = Operation(
    name="sandboxes.get",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/sandboxes/{id}",
    args=SandboxId,
    result=Model(SandboxInfo),
    summary="Describe one sandbox.",
)

SANDBOXES_DELETE = Operation(
    name="sandboxes.delete",
    plane=Plane.CONTROL,
    method="DELETE",
    path="/v1/sandboxes/{id}",
    args=SandboxId,
    result=RawJSON(),
    summary="Destroy a sandbox.",
)


def _lifecycle(action: str, summary: str) -> Operation[SandboxId, dict[str, Any]]:
    return Operation(
        name=f"sandboxes.{action}",
        plane=Plane.CONTROL,
        method="POST",
        path=f"/v1/sandboxes/{{id}}/{action}",
        args=SandboxId,
        result=RawJSON(),
        idempotent=True,
        summary=summary,
    )


SANDBOXES_PAUSE = _lifecycle("pause", "Freeze every process of a sandbox.")
SANDBOXES_RESUME = _lifecycle("resume", "Thaw a paused sandbox.")
SANDBOXES_START = _lifecycle("start", "Start a stopped sandbox.")
SANDBOXES_STOP = _lifecycle("stop", "Stop a sandbox, keeping it.")

SANDBOXES_SET_TIMEOUT = Operation(
    name="sandboxes.set_timeout",
    plane=Plane.CONTROL,
    method="PUT",
    path="/v1/sandboxes/{id}/timeout",
    args=SetTimeout,
    result=RawJSON(),
    idempotent=True,
    summary="Move a sandbox's expiry to timeout_seconds from now.",
)

SANDBOXES_REFRESH_TOKEN = Operation(
    name="sandboxes.refresh_token",
    plane=Plane.CONTROL,
    method="POST",
    path="/v1/sandboxes/{id}/token/refresh",
    args=SandboxId,
    result=Model(TokenInfo),
    idempotent=True,
    summary="Issue a fresh agent JWT.",
)

TEMPLATES_LIST = Operation(
    name="templates.list",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/templates",
    args=ListTemplates,
    result=Model(TemplateList),
    summary="Every template visible to the key.",
)

TEMPLATES_GET = Operation(
    name="templates.get",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/templates/{name}",
    args=TemplateName,
    result=Model(Template),
    summary="Describe one template.",
)

TEMPLATES_DELETE = Operation(
    name="templates.delete",
    plane=Plane.CONTROL,
    method="DELETE",
    path="/v1/templates/{template_id}",
    args=TemplateId,
    result=RawJSON(),
    summary="Delete one of the organisation's templates.",
)

TEMPLATES_UPLOAD_LINK = Operation(
    name="templates.upload_link",
    plane=Plane.CONTROL,
    method="POST",
    path="/v1/templates/files/upload-link",
    args=UploadLinkRequest,
    result=Model(FileUploadLink),
    auth=Auth.BEARER_API_KEY,
    idempotent=True,
    summary="Where to upload a build context blob (or that it is already stored).",
)

TEMPLATES_UPLOAD = Operation(
    name="templates.upload",
    plane=Plane.CONTROL,
    method="PUT",
    path="/v1/templates/files/upload/{files_hash}",
    args=UploadBlob,
    result=RawJSON(),
    auth=Auth.NONE,
    idempotent=True,
    in_spec=False,
    parse_body=_parse_upload_blob,
    encode_body=_encode_upload_blob,
    summary="Store a build context (hopx-local's upload URL; signed, no API key).",
)

TEMPLATES_BUILD = Operation(
    name="templates.build",
    plane=Plane.CONTROL,
    method="POST",
    path="/v1/templates/build",
    args=BuildTemplate,
    result=Model(TemplateBuild),
    success=201,
    idempotent=False,
    auth=Auth.BEARER_API_KEY,
    summary="Start building a template.",
)

TEMPLATES_BUILD_STATUS = Operation(
    name="templates.build_status",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/templates/build/{build_id}/status",
    args=BuildId,
    result=Model(BuildStatus),
    auth=Auth.BEARER_API_KEY,
    summary="Progress of a template build.",
)

TEMPLATES_BUILD_LOGS = Operation(
    name="templates.build_logs",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/templates/build/{build_id}/logs",
    args=BuildLogsQuery,
    result=Model(BuildLogs),
    auth=Auth.BEARER_API_KEY,
    summary="One poll of a build's log (JSON form).",
)
