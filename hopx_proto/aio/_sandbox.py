"""``AsyncSandbox``: the official asynchronous API, written once against :class:`Backend`.

Same names, parameters, defaults and result attributes as ``hopx_ai.AsyncSandbox``, with its
bugs fixed: one connection pool per client (closed by :meth:`AsyncSandbox.aclose`, by
:meth:`AsyncSandbox.kill` and by ``async with``), no blind retry of non-idempotent requests,
``Retry-After`` honoured, no readiness hammering, an immediate typed error for a bad
``public_host``, token refresh before expiry and after a 401 (WebSockets included), escaped
file paths, typed errors, and streams that close their WebSocket when the caller stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from .._errors import HopxError
from .._ops import control as control_ops
from ._commands import AsyncCommands
from ._env import AsyncCache, AsyncEnvironmentVariables
from ._execution import ExecutionAPI
from ._files import AsyncFiles
from ._terminal import AsyncTerminal

if TYPE_CHECKING:
    from ._desktop import AsyncDesktop

__all__ = ["AsyncSandbox"]

R = TypeVar("R")

PREVIEW_DOMAIN = ".vms.hopx.dev"


def _from_preview_origin(origin: str, port: int) -> str | None:
    """``scheme://{port}-{first label}.{rest}/`` from a ``preview_url`` such as
    ``http://<id>.localhost:41337`` (a port prefix already there is replaced); ``None`` when
    ``origin`` is not an ``http(s)`` origin with a dotted host."""
    scheme, sep, rest = origin.partition("://")
    authority = rest.split("/", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or "@" in authority:
        return None
    first, dot, others = authority.partition(".")
    if not dot or not first or not others:
        return None
    label, dash, name = first.partition("-")
    if dash and label.isdigit() and name:
        first = name
    return f"{scheme.lower()}://{port}-{first}.{others}/"


class AsyncSandbox(ExecutionAPI):
    """One sandbox: lifecycle on the control plane, code, files and more on its agent.

    Args:
        sandbox_id: the sandbox's id.
        api_key: the API key (``HOPX_API_KEY`` when ``None``).
        base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
        timeout: the default read deadline of a request, in seconds.
        max_retries: retries after a failed attempt (non-idempotent requests only when they
            never reached the server).
        client: share an existing :class:`Client` (and its pool) instead of making one.

    Raises:
        HopxError: ``sandbox_id`` is not a non-empty string.
        LocalProtocolError: no API key was given or found in the environment.
    """

    def __repr__(self) -> str:
        return f"<AsyncSandbox {self.sandbox_id}>"

    def __str__(self) -> str:
        return f"AsyncSandbox(id={self.sandbox_id})"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start a stopped sandbox."""
        await self._control(control_ops.SANDBOXES_START, self._sid())

    async def stop(self) -> None:
        """Stop the sandbox (it can be started again)."""
        await self._control(control_ops.SANDBOXES_STOP, self._sid())

    async def pause(self) -> None:
        """Freeze every process of the sandbox."""
        await self._control(control_ops.SANDBOXES_PAUSE, self._sid())

    async def resume(self) -> None:
        """Thaw a paused sandbox."""
        await self._control(control_ops.SANDBOXES_RESUME, self._sid())

    async def set_timeout(self, seconds: int) -> None:
        """Set the sandbox's lifetime to ``seconds`` from now."""
        await self._control(
            control_ops.SANDBOXES_SET_TIMEOUT,
            control_ops.SetTimeout(id=self.sandbox_id, timeout_seconds=seconds),
        )

    async def refresh_token(self) -> None:
        """Fetch a new agent token now (it is also refreshed on its own before it expires).

        Raises:
            RemoteProtocolError: the control plane's reply carries no token.
        """
        await self._agent.refresh_token()

    async def get_token(self) -> str:
        """A valid agent token (refreshed when missing or close to expiry)."""
        return await self._agent.token()

    async def get_preview_url(self, port: int = 7777) -> str:
        """The URL of a TCP port inside the sandbox, with a trailing ``/``.

        When the sandbox's description carries a ``preview_url`` (the emulator sends
        ``http://<id>.localhost:<agent port>``), the port goes in front of its first label:
        ``http://8080-<id>.localhost:<agent port>/``. Otherwise the service's own form is
        derived from ``public_host``: ``https://{port}-{id}.{region}.vms.hopx.dev/``.

        Args:
            port: the TCP port (1 to 65535); 7777 is the agent itself.

        Returns:
            The URL.

        Raises:
            HopxError: ``port`` is not a TCP port number, or neither ``preview_url`` nor
                ``public_host`` is a form a preview URL can be built from.
        """
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise HopxError(
                f"port must be an int from 1 to 65535, not {port!r}", sandbox_id=self.sandbox_id
            )
        info = await self.get_info()
        if info.preview_url:
            built = _from_preview_origin(info.preview_url, port)
            if built is not None:
                return built
        host = info.agent_base.split("://", 1)[-1].rstrip("/")
        first, _, domain = host.partition(".")
        if not domain.endswith(PREVIEW_DOMAIN.lstrip(".")) or not first:
            raise HopxError(
                f"cannot build a preview URL from public_host {info.agent_base!r}",
                sandbox_id=self.sandbox_id,
            )
        name = first.split("-", 1)[1] if first.split("-", 1)[0].isdigit() else first
        return f"https://{port}-{name}.{domain}/"

    @property
    async def agent_url(self) -> str:
        """The agent's preview URL (port 7777); awaitable, as in the official client."""
        return await self.get_preview_url(7777)

    # -- resources --------------------------------------------------------------------------

    def _resource(self, kind: type[R]) -> R:
        """The sandbox's one ``kind`` resource, made on first use around its agent."""
        found = self._resources.get(kind)
        if found is None:
            found = self._resources[kind] = kind(self._agent)  # type: ignore[call-arg]
        return cast(R, found)

    @property
    def files(self) -> AsyncFiles:
        """File operations."""
        return self._resource(AsyncFiles)

    @property
    def commands(self) -> AsyncCommands:
        """Shell commands."""
        return self._resource(AsyncCommands)

    @property
    def env(self) -> AsyncEnvironmentVariables:
        """Sandbox-wide environment variables."""
        return self._resource(AsyncEnvironmentVariables)

    @property
    def cache(self) -> AsyncCache:
        """The agent's cache."""
        return self._resource(AsyncCache)

    @property
    def terminal(self) -> AsyncTerminal:
        """Interactive terminals."""
        return self._resource(AsyncTerminal)

    @property
    def desktop(self) -> AsyncDesktop:
        """Desktop automation (templates with a desktop).

        The desktop's resource and operations are a submodule few programs use: the first
        read of this property loads it.
        """
        from ._desktop import AsyncDesktop

        return self._resource(AsyncDesktop)
