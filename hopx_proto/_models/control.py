"""Control-plane models: sandboxes, templates, template builds, tokens."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .._codec import wire
from .._value import Value

__all__ = [
    "BUILD_TERMINAL_STATUSES",
    "BuildLogs",
    "BuildStatus",
    "ExpiryInfo",
    "FileUploadLink",
    "RegistryCredentials",
    "Resources",
    "SandboxInfo",
    "SandboxList",
    "Template",
    "TemplateBuild",
    "TemplateList",
    "TemplateResources",
    "TokenInfo",
]

#: Build statuses after which polling stops (``completed`` is what the JS client adds).
BUILD_TERMINAL_STATUSES = frozenset({"active", "success", "failed", "completed"})
#: Build statuses that mean the template was built.
BUILD_SUCCESS_STATUSES = frozenset({"active", "success", "completed"})

#: ``ExpiryInfo.is_expiring_soon`` threshold used by the official clients (5 minutes).
EXPIRING_SOON_SECONDS = 300


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)


@attrs.frozen(repr=False, eq=False, slots=False)
class ExpiryInfo(Value):
    """When a sandbox expires, seen from one instant ``now`` (never read from a clock here).

    ``time_to_expiry`` is whole seconds left (negative once past), truncated toward zero as
    the official client does; ``None`` with ``has_timeout`` false when the sandbox never
    expires. ``expires_at`` is the instant itself, ``is_expired`` whether it has passed and
    ``is_expiring_soon`` whether it comes within the threshold given to :meth:`at`.
    """

    expires_at: _dt.datetime | None = None
    time_to_expiry: int | None = None
    is_expired: bool = False
    is_expiring_soon: bool = False
    has_timeout: bool = False

    @classmethod
    def at(
        cls,
        expires_at: _dt.datetime | None,
        now: _dt.datetime,
        *,
        threshold_seconds: int = EXPIRING_SOON_SECONDS,
    ) -> ExpiryInfo:
        """The expiry state of a sandbox expiring at ``expires_at`` (never, when ``None``),
        seen at ``now``; naive datetimes are read as UTC. ``is_expiring_soon`` is true
        within ``threshold_seconds`` of the expiry."""
        if expires_at is None:
            return cls()
        left = (_utc(expires_at) - _utc(now)).total_seconds()
        expired = left <= 0
        return cls(
            expires_at=expires_at,
            time_to_expiry=int(left),
            is_expired=expired,
            is_expiring_soon=not expired and left <= threshold_seconds,
            has_timeout=True,
        )


@attrs.frozen(repr=False, eq=False, slots=False)
class Resources(Value):
    """A sandbox's resources; note ``disk_mb`` (templates speak ``disk_gb``)."""

    vcpu: int
    memory_mb: int
    disk_mb: int


@attrs.frozen(repr=False, eq=False, slots=False)
class SandboxInfo(Value):
    """A sandbox as the control plane describes it (``GET /v1/sandboxes/{id}``)."""

    sandbox_id: str = wire("id", aliases=("sandbox_id",))
    status: str = wire()
    public_host: str = wire(default="")
    direct_url: str | None = wire(default=None)
    preview_url: str | None = wire(default=None)
    template_id: str | None = wire(default=None)
    template_name: str | None = wire(default=None)
    organization_id: int | None = wire(default=None)
    node_id: str | None = wire(default=None)
    region: str | None = wire(default=None)
    resources: Resources | None = wire(default=None)
    internet_access: bool | None = wire(default=None)
    live_mode: bool | None = wire(default=None)
    timeout_seconds: int | None = wire(default=None)
    expires_at: _dt.datetime | None = wire(default=None)
    created_at: _dt.datetime | None = wire(default=None)
    auth_token: str | None = wire(default=None, secret=True)
    token_expires_at: _dt.datetime | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    _dump_hidden = frozenset({"auth_token"})
    _dump_properties = ("started_at", "end_at")

    @property
    def agent_base(self) -> str:
        """The agent's base URL: ``public_host``, else ``direct_url``, without a trailing /."""
        return (self.public_host or self.direct_url or "").rstrip("/")

    @property
    def end_at(self) -> _dt.datetime | None:
        """Alias of ``expires_at`` kept for code written against the official models."""
        return self.expires_at

    @property
    def started_at(self) -> _dt.datetime | None:
        """A key of the official models the service no longer sends: always ``None``."""
        return None

    @property
    def token(self) -> TokenInfo | None:
        """The agent JWT issued with this reply (create), if both of its keys came with it."""
        if self.auth_token is None or self.token_expires_at is None:
            return None
        return TokenInfo(self.auth_token, self.token_expires_at)

    def expiry(
        self, now: _dt.datetime, *, threshold_seconds: int = EXPIRING_SOON_SECONDS
    ) -> ExpiryInfo:
        """The expiry state of this sandbox at ``now``."""
        return ExpiryInfo.at(self.expires_at, now, threshold_seconds=threshold_seconds)


@attrs.frozen(repr=False, eq=False, slots=False)
class SandboxList(Value):
    """One page of ``GET /v1/sandboxes``; ask again with ``cursor=next_cursor`` while
    ``has_more``."""

    object: str | None = wire(default=None)
    data: list[SandboxInfo] = wire(factory=list)
    has_more: bool = wire(default=False)
    next_cursor: str | None = wire(default=None)
    url: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class TokenInfo(Value):
    """An agent JWT and when it expires (``POST /v1/sandboxes/{id}/token/refresh``)."""

    auth_token: str = wire(secret=True)
    token_expires_at: _dt.datetime = wire()
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def expires_within(self, now: _dt.datetime, seconds: float) -> bool:
        """Whether the token is expired or expires within ``seconds`` of ``now``."""
        left = (_utc(self.token_expires_at) - _utc(now)).total_seconds()
        return left < seconds


@attrs.frozen(repr=False, eq=False, slots=False)
class TemplateResources(Value):
    """Template resource sizes; note ``disk_gb`` (sandboxes speak ``disk_mb``)."""

    vcpu: int | None = wire(default=None)
    memory_mb: int | None = wire(default=None)
    disk_gb: int | None = wire(default=None)


@attrs.frozen(repr=False, eq=False, slots=False)
class Template(Value):
    """A template (``GET /v1/templates/{name}``), also the item of a template list.

    ``organization_id`` is a string here (it is an integer on sandboxes).
    """

    id: str = wire()
    name: str = wire()
    display_name: str | None = wire(default=None)
    description: str | None = wire(default=None)
    category: str | None = wire(default=None)
    language: str | None = wire(default=None)
    icon: str | None = wire(default=None)
    docs_url: str | None = wire(default=None)
    default_resources: TemplateResources | None = wire(default=None)
    min_resources: TemplateResources | None = wire(default=None)
    max_resources: TemplateResources | None = wire(default=None)
    features: list[str] = wire(factory=list)
    tags: list[str] = wire(factory=list)
    popularity_score: int | None = wire(default=None)
    is_active: bool = wire(default=True)
    is_public: bool | None = wire(default=None)
    status: str | None = wire(default=None)
    build_id: str | None = wire(default=None)
    organization_id: str | None = wire(default=None)
    created_at: _dt.datetime | None = wire(default=None)
    updated_at: _dt.datetime | None = wire(default=None)
    object: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    fluent_api_config: list[int] | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_ready(self) -> bool:
        """Built and usable: ``status == "active"`` and ``is_active``."""
        return self.status == "active" and self.is_active


@attrs.frozen(repr=False, eq=False, slots=False)
class TemplateList(Value):
    """``GET /v1/templates``: every template visible to the key."""

    object: str | None = wire(default=None)
    data: list[Template] = wire(factory=list)
    has_more: bool = wire(default=False)
    url: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class RegistryCredentials(Value):
    """Credentials for a private base image (``type``: basic, github, gitlab, ecr, gcr)."""

    type: str = wire()
    username: str | None = wire(default=None)
    password: str | None = wire(default=None, secret=True)
    token: str | None = wire(default=None, secret=True)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileUploadLink(Value):
    """Where to upload a build context tarball; ``present`` means it is already stored."""

    present: bool = wire()
    upload_url: str | None = wire(default=None)
    expires_at: _dt.datetime | None = wire(default=None)
    files_hash: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class TemplateBuild(Value):
    """A started template build (``POST /v1/templates/build``, 201)."""

    build_id: str = wire()
    template_id: str = wire()
    status: str = wire()
    logs_url: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildStatus(Value):
    """Progress of a template build (``GET /v1/templates/build/{build_id}/status``)."""

    build_id: str = wire()
    status: str = wire()
    template_id: str | None = wire(default=None)
    progress: int | None = wire(default=None)
    current_step: str | None = wire(default=None)
    started_at: _dt.datetime | None = wire(default=None)
    completed_at: _dt.datetime | None = wire(default=None)
    error_message: str | None = wire(default=None)
    build_duration_ms: int | None = wire(default=None)
    estimated_completion: str | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        """Polling can stop: the build succeeded or failed."""
        return self.status in BUILD_TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status in BUILD_SUCCESS_STATUSES


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildLogs(Value):
    """One poll of a build's log (JSON form); send ``offset`` back to get what follows.

    Missing keys read as the official clients default them: ``""``, ``0``, ``"unknown"``,
    ``False``.
    """

    logs: str = wire(default="")
    offset: int = wire(default=0)
    status: str = wire(default="unknown")
    complete: bool = wire(default=False)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def lines(self) -> list[str]:
        """The non-empty log lines of this poll."""
        return [line for line in self.logs.splitlines() if line.strip()]

    @property
    def is_done(self) -> bool:
        """No more log will come: ``complete``, or the build reached a final status."""
        return self.complete or self.status in BUILD_TERMINAL_STATUSES
