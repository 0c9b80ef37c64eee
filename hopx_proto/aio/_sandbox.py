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

import builtins
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, ClassVar, TypeVar

from .._codec import to_wire
from .._errors import (
    HopxError,
    NotFoundError,
    RemoteProtocolError,
    SandboxExpiredError,
    TemplateNotFoundError,
)
from .._models.agent import ExecutionResult
from .._models.control import SandboxInfo, Template
from .._ops import agent as agent_ops
from .._ops import control as control_ops
from .._ops._base import Operation
from .._streams import ExecuteEvent, ExecuteStreamClient, ExecuteStreamRequest
from .._url import BaseURL
from ._backend import Backend
from ._client import DEFAULT_BASE_URL, Client
from ._commands import AsyncCommands
from ._desktop import AsyncDesktop
from ._env import AsyncCache, AsyncEnvironmentVariables
from ._files import AsyncFiles
from ._models import ExpiryInfo
from ._streaming import EventStream, stream_messages
from ._terminal import AsyncTerminal
from ._transport import Timeouts
from ._websocket import WebSocketSession

__all__ = ["AsyncSandbox"]

log = logging.getLogger("hopx.sandbox")

A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S", bound="AsyncSandbox")

PREVIEW_DOMAIN = ".vms.hopx.dev"
WS_CONNECT_TIMEOUT = 30.0
READY_STATES = frozenset({"running"})
STARTING_STATES = frozenset({"creating", "starting", "pending"})
READY_WAIT = 60.0


class _CreateCall:
    """What :meth:`AsyncSandbox.create` returns: awaitable, and usable as ``async with``."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._sandbox: AsyncSandbox | None = None

    def __await__(self) -> Generator[Any, None, AsyncSandbox]:
        return self._factory().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> AsyncSandbox:
        self._sandbox = await self._factory()
        return self._sandbox

    async def __aexit__(self, *exc: object) -> None:
        if self._sandbox is not None:
            await self._sandbox.__aexit__(*exc)


class AsyncSandbox:
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

    #: Set by the adapter (hopx_trio / hopx_asyncio).
    _backend_factory: ClassVar[Callable[[], Backend] | None] = None

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

    @classmethod
    def _new_backend(cls) -> Backend:
        if cls._backend_factory is None:
            raise HopxError(
                "hopx_proto.aio.AsyncSandbox needs an event loop adapter: "
                "import AsyncSandbox from hopx_trio or hopx_asyncio"
            )
        return cls._backend_factory()

    @classmethod
    def _make_client(
        cls, api_key: str | None, base_url: str, client: Client | None = None
    ) -> Client:
        if client is not None:
            return client
        return Client(
            cls._new_backend(), api_key=api_key, base_url=base_url
        ).close_with_last_holder()

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
                    log.warning("could not kill sandbox %s on exit: %s", self.sandbox_id, err)
        finally:
            await self.aclose()

    # -- class-level API --------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        template: str | None = None,
        *,
        template_id: str | None = None,
        region: str | None = None,
        timeout_seconds: int | None = None,
        internet_access: bool | None = None,
        env_vars: dict[str, str] | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> _CreateCall:
        """Create a sandbox; ``await`` it, or use it as ``async with`` (killed on exit).

        ``client`` shares a :class:`Client` (its pool, TLS and proxy settings) instead of
        making one.
        """

        async def run() -> AsyncSandbox:
            made = cls._make_client(api_key, base_url, client)
            try:
                return await cls._create(
                    made,
                    template,
                    template_id,
                    region,
                    timeout_seconds,
                    internet_access,
                    env_vars,
                )
            except BaseException:
                await made.release_if_unused()
                raise

        return _CreateCall(run)

    @classmethod
    async def _create(
        cls,
        client: Client,
        template: str | None,
        template_id: str | int | None,
        region: str | None,
        timeout_seconds: int | None,
        internet_access: bool | None,
        env_vars: dict[str, str] | None,
    ) -> AsyncSandbox:
        if template_id is not None:
            template_id, template = str(template_id), None
        args = control_ops.CreateSandbox(
            template_name=template,
            template_id=template_id,
            region=region,
            timeout_seconds=timeout_seconds,
            internet_access=internet_access,
            env_vars=env_vars,
        )
        try:
            info = await client.call(control_ops.SANDBOXES_CREATE, args)
        except NotFoundError as exc:
            if template is None or isinstance(exc, TemplateNotFoundError):
                raise
            try:
                listing = await client.call(control_ops.TEMPLATES_LIST, control_ops.ListTemplates())
                names = [t.name for t in listing.data]
            except HopxError:
                names = []
            raise TemplateNotFoundError(
                template_name=template,
                available_templates=names,
                status_code=exc.status_code,
                request_id=exc.request_id,
                operation=exc.operation,
            ) from exc
        sandbox = cls(info.sandbox_id, client=client)
        token = client.new_token_state(info)
        if token is not None:
            client.tokens[info.sandbox_id] = token
        sandbox._adopt_agent(info)
        return sandbox

    @classmethod
    async def connect(
        cls,
        sandbox_id: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> AsyncSandbox:
        """An object for an existing sandbox (one ``GET``; a typed error if it is gone)."""
        sandbox = cls(sandbox_id, client=cls._make_client(api_key, base_url, client))
        try:
            sandbox._adopt_agent(await sandbox.get_info())
        except BaseException:
            await sandbox.aclose()
            raise
        return sandbox

    @classmethod
    async def list(
        cls,
        *,
        status: str | None = None,
        region: str | None = None,
        limit: int = 100,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> builtins.list[AsyncSandbox]:
        """One page of sandboxes (they share one client, closed with the last of them)."""
        client = cls._make_client(api_key, base_url, client)
        try:
            page = await client.call(
                control_ops.SANDBOXES_LIST,
                control_ops.ListSandboxes(status=status, region=region, limit=limit),
            )
        except BaseException:
            await client.release_if_unused()
            raise
        out = [cls(info.sandbox_id, client=client) for info in page.data]
        await client.release_if_unused()
        return out

    @classmethod
    def iter(
        cls,
        *,
        status: str | None = None,
        region: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> EventStream[AsyncSandbox]:
        """Every sandbox, fetched lazily page by page (``next_cursor``).

        The sandboxes share one client, closed when the iteration ends and the last of them
        is closed.
        """
        return EventStream(cls._iter(status, region, cls._make_client(api_key, base_url, client)))

    @classmethod
    async def _iter(
        cls, status: str | None, region: str | None, client: Client
    ) -> AsyncGenerator[AsyncSandbox, None]:
        client.acquire()
        try:
            cursor: str | None = None
            while True:
                page = await client.call(
                    control_ops.SANDBOXES_LIST,
                    control_ops.ListSandboxes(
                        limit=100, status=status, region=region, cursor=cursor
                    ),
                )
                for info in page.data:
                    yield cls(info.sandbox_id, client=client)
                if not page.has_more or not page.next_cursor or page.next_cursor == cursor:
                    return
                cursor = page.next_cursor
        finally:
            with client.backend.shielded(5.0):
                await client.release()

    @classmethod
    async def _one_shot(
        cls,
        api_key: str | None,
        base_url: str,
        client: Client | None,
        op: Operation[A, R],
        args: A,
    ) -> R:
        if client is not None:
            return await client.call(op, args)
        async with cls._make_client(api_key, base_url) as made:
            return await made.call(op, args)

    @classmethod
    async def list_templates(
        cls,
        *,
        category: str | None = None,
        language: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> builtins.list[Template]:
        """Templates, optionally filtered."""
        listing = await cls._one_shot(
            api_key,
            base_url,
            client,
            control_ops.TEMPLATES_LIST,
            control_ops.ListTemplates(category=category, language=language),
        )
        return builtins.list(listing.data)

    @classmethod
    async def get_template(
        cls,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> Template:
        """One template by name."""
        return await cls._one_shot(
            api_key,
            base_url,
            client,
            control_ops.TEMPLATES_GET,
            control_ops.TemplateName(name=name),
        )

    @classmethod
    async def delete_template(
        cls,
        template_id: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> dict[str, Any]:
        """Delete a custom template; the service's reply."""
        return await cls._one_shot(
            api_key,
            base_url,
            client,
            control_ops.TEMPLATES_DELETE,
            control_ops.TemplateId(template_id=template_id),
        )

    @classmethod
    async def health_check(
        cls, *, base_url: str = DEFAULT_BASE_URL, client: Client | None = None
    ) -> dict[str, Any]:
        """The control plane's ``/health`` (no API key needed)."""
        args, timeouts = control_ops.NoArgs(), Timeouts(10, 10, 10)
        if client is not None:
            return await client.call(control_ops.HEALTH, args, timeouts=timeouts)
        backend = cls._new_backend()
        made = Client(
            backend, api_key=backend.environ.get("HOPX_API_KEY") or "-", base_url=base_url
        )
        async with made:
            return await made.call(control_ops.HEALTH, args, timeouts=timeouts)

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
        return ExpiryInfo.compute(
            info.expires_at,
            now=self._client.backend.wall_clock(),
            threshold=expiring_soon_threshold,
        )

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

    # -- execution --------------------------------------------------------------------------

    async def run_code(
        self,
        code: str,
        *,
        language: str = "python",
        timeout_seconds: int = 120,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        preflight: bool = False,
    ) -> ExecutionResult:
        """Run code and wait for it; stdout, stderr, exit code and rich outputs."""
        if preflight:
            await self.ensure_healthy()
        args = agent_ops.ExecuteArgs(
            language=language, code=code, workdir=working_dir, timeout=timeout_seconds, env=env
        )
        return await self._agent(agent_ops.EXECUTE, args, read_timeout=timeout_seconds + 30)

    def run_code_stream(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 60,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
    ) -> EventStream[ExecuteEvent]:
        """Stream output events (readable as dicts) until ``complete``.

        ``async for`` over the result; use ``async with`` around it to stop early: leaving
        the block closes the WebSocket, which stops the remote process.
        """
        machine = ExecuteStreamClient()
        first = machine.start(
            ExecuteStreamRequest(
                code=code, language=language, timeout=timeout, workdir=working_dir, env=env
            )
        )
        return EventStream(
            stream_messages(lambda: self._open_ws(agent_ops.EXECUTE_STREAM), machine, first)
        )

    async def run_code_background(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 300,
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Start code in the background; the process record (``process_id`` ...)."""
        args = agent_ops.BackgroundExecuteArgs(
            code=code, language=language, timeout=timeout, env=env, name=name
        )
        reply = await self._agent(agent_ops.EXECUTE_BACKGROUND, args, read_timeout=30)
        return dict(to_wire(reply))

    async def run_code_async(
        self,
        code: str,
        callback_url: str,
        *,
        language: str = "python",
        timeout: int = 1800,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        callback_headers: dict[str, str] | None = None,
        callback_signature_secret: str | None = None,
    ) -> dict[str, Any]:
        """Queue code; the agent posts the result to ``callback_url``."""
        args = agent_ops.AsyncExecuteArgs(
            code=code,
            language=language,
            timeout=timeout,
            workdir=working_dir,
            callback_url=callback_url,
            env=env,
            callback_headers=callback_headers,
            callback_signature_secret=callback_signature_secret,
        )
        reply = await self._agent(agent_ops.EXECUTE_ASYNC, args, read_timeout=30)
        return dict(to_wire(reply))

    async def list_processes(self) -> builtins.list[dict[str, Any]]:
        """Background executions (``/execute/processes``)."""
        reply = await self._agent(agent_ops.EXECUTE_PROCESSES, agent_ops.NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def kill_process(self, process_id: str) -> dict[str, Any]:
        """Kill a background execution."""
        return await self._agent(
            agent_ops.EXECUTE_KILL, agent_ops.ProcessIdQuery(process_id=process_id)
        )

    async def list_system_processes(self) -> builtins.list[dict[str, Any]]:
        """Operating-system processes inside the sandbox (``/processes``)."""
        reply = await self._agent(agent_ops.PROCESSES_LIST, agent_ops.NoArgs())
        return [dict(to_wire(p)) for p in reply.processes]

    async def get_metrics_snapshot(self) -> dict[str, Any]:
        """The agent's metrics (``/metrics/snapshot``)."""
        return dict(to_wire(await self._agent(agent_ops.METRICS_SNAPSHOT, agent_ops.NoArgs())))

    async def get_agent_metrics(self) -> dict[str, Any]:
        """The agent's own metrics (``/metrics``)."""
        return dict(to_wire(await self._agent(agent_ops.METRICS, agent_ops.NoArgs())))

    async def get_agent_info(self) -> dict[str, Any]:
        """Agent version, platform and endpoints (``/info``)."""
        return dict(to_wire(await self._agent(agent_ops.AGENT_INFO, agent_ops.NoArgs())))

    async def get_jupyter_sessions(self) -> builtins.list[dict[str, Any]]:
        """Jupyter kernel sessions."""
        reply = await self._agent(agent_ops.JUPYTER_SESSIONS, agent_ops.NoArgs())
        return [dict(to_wire(s)) for s in reply.sessions]

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
            self._terminal = AsyncTerminal(self)
        return self._terminal

    @property
    def desktop(self) -> AsyncDesktop:
        """Desktop automation (templates with a desktop)."""
        if self._desktop is None:
            self._desktop = AsyncDesktop(self)
        return self._desktop
