"""Control-plane models: sandboxes, templates, template builds, tokens."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .._codec import wire

__all__ = ["Resources", "SandboxInfo"]


@attrs.frozen
class Resources:
    """A sandbox's resources; note ``disk_mb`` (templates speak ``disk_gb``)."""

    vcpu: int
    memory_mb: int
    disk_mb: int


@attrs.frozen
class SandboxInfo:
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
    auth_token: str | None = wire(default=None)
    token_expires_at: _dt.datetime | None = wire(default=None)
    request_id: str | None = wire(default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def agent_base(self) -> str:
        """The agent's base URL: ``public_host``, else ``direct_url``, without a trailing /."""
        return (self.public_host or self.direct_url or "").rstrip("/")

    @property
    def end_at(self) -> _dt.datetime | None:
        """Alias of ``expires_at`` kept for code written against the official models."""
        return self.expires_at
