"""``AsyncSandbox``: the official asynchronous API, written once against :class:`Backend`.

Same names, parameters, defaults and result attributes as ``hopx_ai.AsyncSandbox``, with its
bugs fixed: one connection pool per client (closed by :meth:`AsyncSandbox.aclose`, by
:meth:`AsyncSandbox.kill` and by ``async with``), no blind retry of non-idempotent requests,
``Retry-After`` honoured, no readiness hammering, an immediate typed error for a bad
``public_host``, token refresh before expiry and after a 401 (WebSockets included), escaped
file paths, typed errors, and streams that close their WebSocket when the caller stops.
"""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import (
    HopxError,
    RemoteProtocolError,
    SandboxExpiredError,
)
from .._models.control import ExpiryInfo, SandboxInfo
from .._ops import agent as agent_ops
from .._ops import control as control_ops
from .._ops._base import Operation
from .._url import BaseURL
from ._classapi import SandboxClassAPI
from ._client import DEFAULT_BASE_URL, Client
from ._commands import AsyncCommands
from ._env import AsyncCache, AsyncEnvironmentVariables
from ._execution import ExecutionAPI
from ._files import AsyncFiles
from ._transport import Timeouts

if TYPE_CHECKING:
    import logging

    # Loaded on first use (streams and the WebSocket machine, the terminal, the desktop), so
    # that importing the client does not build every stream and desktop class up front.
    from ._desktop import AsyncDesktop
    from ._terminal import AsyncTerminal
    from ._websocket import WebSocketSession

__all__ = ["AsyncSandbox"]


def _log() -> logging.Logger:
    """This module's logger (logging is loaded by the first message, not by the import)."""
    import logging

    return logging.getLogger("hopx.sandbox")


A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S", bound="AsyncSandbox")

PREVIEW_DOMAIN = ".vms.hopx.dev"
WS_CONNECT_TIMEOUT = 30.0
READY_STATES = frozenset({"running"})
STARTING_STATES = frozenset({"creating", "starting", "pending"})
READY_WAIT = 60.0


class AsyncSandbox(SandboxClassAPI, ExecutionAPI):
    """One sandbox: lifecycle on the control plane, code, files and more on its agent.

    Args:
        sandbox_id: the sandbox's id.
        api_key: the API key (``HOPX_API_KEY`` when ``None``).
        base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
        timeout: the default read deadline of a request, in seconds.
        max_retries: retries after a failed attempt (non-idempotent requests only when they
            never reached the server).
        client: share an existing :class:`Client` (and its pool) instead of making one.
    """

    def __init__(
        self,
        sandbox_id: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: int = 60,
        max_retries: int = 3,
        client: Client | None = None,
    ) -> None:
        if not isinstance(sandbox_id, str) or not sandbox_id:
            raise HopxError("sandbox_id must be a non-empty string")
        self.sandbox_id = sandbox_id
        if client is None:
            client = Client(
                self._new_backend(),
                api_key=api_key,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
            ).close_with_last_holder()
        self._client = client
        client.acquire()
        self._released = False
        self._killed = False
        self._agent_base: BaseURL | None = None
        self._files: AsyncFiles | None = None
        self._commands: AsyncCommands | None = None
        self._env: AsyncEnvironmentVariables | None = None
        self._cache: AsyncCache | None = None
        self._terminal: AsyncTerminal | None = None
        self._desktop: AsyncDesktop | None = None
        self._token_lock = client.backend.lock()

    def __repr__(self) -> str:
        return f"<AsyncSandbox {self.sandbox_id}>"

    def __str__(self) -> str:
        return f"AsyncSandbox(id={self.sandbox_id})"

    @property
    def client(self) -> Client:
        """The client (credentials and connection pool) this sandbox uses."""
        return self._client

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release this object's hold on the connection pool (closed with the last holder)."""
        if not self._released:
            self._released = True
            await self._client.release()

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Kill the sandbox (errors are logged, not raised) and close connections."""
        try:
            with self._client.backend.shielded(30.0):
                try:
                    if not self._killed:
                        await self.kill()
                except HopxError as err:
                    _log().warning("could not kill sandbox %s on exit: %s", self.sandbox_id, err)
        finally:
            await self.aclose()

    # -- lifecycle --------------------------------------------------------------------------

    async def _control(self, op: Operation[A, R], args: A) -> R:
        return await self._client.call(op, args, sandbox_id=self.sandbox_id)

    def _sid(self) -> control_ops.SandboxId:
        return control_ops.SandboxId(id=self.sandbox_id)

    async def get_info(self) -> SandboxInfo:
        """The sandbox as the control plane describes it."""
        return await self._control(control_ops.SANDBOXES_GET, self._sid())

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

    async def kill(self) -> None:
        """Delete the sandbox, then release this object's connections."""
        try:
            await self._control(control_ops.SANDBOXES_DELETE, self._sid())
            self._killed = True
        finally:
            self._client.tokens.pop(self.sandbox_id, None)
            await self.aclose()

    async def set_timeout(self, seconds: int) -> None:
        """Set the sandbox's lifetime to ``seconds`` from now."""
        await self._control(
            control_ops.SANDBOXES_SET_TIMEOUT,
            control_ops.SetTimeout(id=self.sandbox_id, timeout_seconds=seconds),
        )

    async def refresh_token(self) -> None:
        """Fetch a new agent token."""
        await self._refresh()

    async def _refresh(self) -> str:
        reply = await self._control(control_ops.SANDBOXES_REFRESH_TOKEN, self._sid())
        state = self._client.new_token_state(reply)
        if state is None or state.token is None:
            raise RemoteProtocolError(
                "the token refresh reply carries no auth_token",
                sandbox_id=self.sandbox_id,
                operation=control_ops.SANDBOXES_REFRESH_TOKEN.name,
            )
        self._client.tokens[self.sandbox_id] = state
        return state.token

    async def get_token(self) -> str:
        """A valid agent token (refreshed when missing or close to expiry)."""
        async with self._token_lock:
            state = self._client.tokens.get(self.sandbox_id)
            if (
                state is None
                or state.token is None
                or state.needs_refresh(self._client.backend.wall_clock())
            ):
                return await self._refresh()
            return state.token

    async def get_preview_url(self, port: int = 7777) -> str:
        """``https://{port}-{id}.{region}.vms.hopx.dev/`` for a port inside the sandbox."""
        info = await self.get_info()
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

    async def get_time_to_expiry(self) -> int | None:
        """Seconds until the sandbox expires (negative once expired), ``None`` if never."""
        return (await self.get_expiry_info()).time_to_expiry

    async def is_expiring_soon(self, threshold_seconds: int = 300) -> bool:
        """Whether the sandbox expires within ``threshold_seconds``."""
        return (await self.get_expiry_info(threshold_seconds)).is_expiring_soon

    async def get_expiry_info(self, expiring_soon_threshold: int = 300) -> ExpiryInfo:
        """Expiry facts from one ``get_info`` call."""
        info = await self.get_info()
        now = _dt.datetime.fromtimestamp(self._client.backend.wall_clock(), _dt.UTC)
        return ExpiryInfo.at(info.expires_at, now, threshold_seconds=expiring_soon_threshold)

    async def is_healthy(self) -> bool:
        """Whether the agent answers ``/health`` as healthy (any error gives False)."""
        try:
            health = await self._agent(agent_ops.AGENT_HEALTH, agent_ops.NoArgs())
        except HopxError:
            return False
        return health.status in ("healthy", "ok")

    async def ensure_healthy(self) -> None:
        """Raise :class:`SandboxExpiredError` or an unhealthy :class:`HopxError`."""
        expiry = await self.get_expiry_info()
        if expiry.is_expired:
            raise SandboxExpiredError(
                sandbox_id=self.sandbox_id,
                expires_at=expiry.expires_at.isoformat() if expiry.expires_at else None,
            )
        if not await self.is_healthy():
            raise HopxError(
                "the sandbox agent is not healthy",
                code="sandbox_unhealthy",
                sandbox_id=self.sandbox_id,
            )

    # -- the agent --------------------------------------------------------------------------

    def _adopt_agent(self, info: SandboxInfo) -> BaseURL | None:
        raw = info.agent_base
        if not raw:
            self._agent_base = None
            return None
        try:
            self._agent_base = BaseURL.parse(raw, what=f"public_host of sandbox {self.sandbox_id}")
        except HopxError as exc:
            raise RemoteProtocolError(
                exc.message, sandbox_id=self.sandbox_id, operation="sandboxes.get"
            ) from None
        return self._agent_base

    async def _agent_url(self) -> BaseURL:
        if self._agent_base is not None:
            return self._agent_base
        backend = self._client.backend
        deadline = backend.monotonic() + READY_WAIT
        delay = 0.2
        while True:
            info = await self.get_info()
            if info.status in STARTING_STATES and backend.monotonic() < deadline:
                await backend.sleep(delay)
                delay = min(delay * 2, 3.0)
                continue
            base = self._adopt_agent(info)
            if base is None:
                raise RemoteProtocolError(
                    f"sandbox {self.sandbox_id} has no public_host (status {info.status!r})",
                    sandbox_id=self.sandbox_id,
                    operation="sandboxes.get",
                )
            return base

    async def _agent(
        self,
        op: Operation[A, R],
        args: A,
        *,
        read_timeout: float | None = None,
        error_path: str | None = None,
        **kw: Any,
    ) -> R:
        base = await self._agent_url()
        token = await self.get_token()
        timeouts = None
        if read_timeout is not None:
            timeouts = Timeouts(connect=self._client.transport.timeouts.connect, read=read_timeout)
        return await self._client.call(
            op,
            args,
            base=base,
            credential=token,
            refresh=self._refresh,
            sandbox_id=self.sandbox_id,
            timeouts=timeouts,
            error_path=error_path,
            **kw,
        )

    async def _open_ws(
        self,
        op: Operation[Any, Any],
        *,
        timeout: float | None = WS_CONNECT_TIMEOUT,
    ) -> WebSocketSession:
        """A WebSocket to ``op``'s path, with one token refresh after a 401 handshake."""
        from .._errors import AuthenticationError
        from ._websocket import WebSocketSession

        base = await self._agent_url()
        token = await self.get_token()
        for attempt in (1, 2):
            stream = await self._client.transport.open_stream(
                base, timeout=self._client.transport.timeouts.connect
            )
            try:
                return await WebSocketSession.open(
                    self._client.backend,
                    stream,
                    base,
                    op.path,
                    headers=[("authorization", f"Bearer {token}")],
                    timeout=timeout,
                    operation=op.name,
                    sandbox_id=self.sandbox_id,
                )
            except AuthenticationError:
                if attempt == 2:
                    raise
                token = await self._refresh()
        raise AssertionError("unreachable")

    # -- resources --------------------------------------------------------------------------

    @property
    def files(self) -> AsyncFiles:
        """File operations."""
        if self._files is None:
            self._files = AsyncFiles(self)
        return self._files

    @property
    def commands(self) -> AsyncCommands:
        """Shell commands."""
        if self._commands is None:
            self._commands = AsyncCommands(self)
        return self._commands

    @property
    def env(self) -> AsyncEnvironmentVariables:
        """Sandbox-wide environment variables."""
        if self._env is None:
            self._env = AsyncEnvironmentVariables(self)
        return self._env

    @property
    def cache(self) -> AsyncCache:
        """The agent's cache."""
        if self._cache is None:
            self._cache = AsyncCache(self)
        return self._cache

    @property
    def terminal(self) -> AsyncTerminal:
        """Interactive terminals."""
        if self._terminal is None:
            from ._terminal import AsyncTerminal

            self._terminal = AsyncTerminal(self)
        return self._terminal

    @property
    def desktop(self) -> AsyncDesktop:
        """Desktop automation (templates with a desktop)."""
        if self._desktop is None:
            from ._desktop import AsyncDesktop

            self._desktop = AsyncDesktop(self)
        return self._desktop
