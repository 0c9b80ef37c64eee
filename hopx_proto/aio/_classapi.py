"""The base of ``AsyncSandbox``: one sandbox object's lifetime, and the class-level API.

An object is made for one sandbox id and holds its :class:`Client` (connection pool and
credentials) until :meth:`aclose`; ``async with`` kills the sandbox on exit. The class methods
(create, connect, list, iter, templates, health) use the ``client=`` they are given, or make
one that closes with the last sandbox using it.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from typing import Any, ClassVar, NoReturn, Protocol, Self, TypeVar

from .._errors import HopxError, NotFoundError, RemoteProtocolError, TemplateNotFoundError
from .._models.control import SandboxInfo, Template
from .._ops import control as control_ops
from .._ops._base import NoArgs, Operation
from ._agent import STARTING_STATES, Agent
from ._backend import Backend
from ._client import DEFAULT_BASE_URL, Client
from ._log import Logger
from ._streaming import EventStream
from ._transport import Timeouts

__all__ = ["SandboxClassAPI"]

_logger = Logger("hopx.sandbox")

A = TypeVar("A")
R = TypeVar("R")
T = TypeVar("T", bound="_ContextExit")

#: Seconds the kill on leaving ``async with`` may take, shielded from cancellation.
EXIT_KILL_GRACE = 30.0


class _ContextExit(Protocol):
    async def __aexit__(self, *exc: object) -> None: ...


def _create_forms(name: str) -> str:
    return (
        f"write `sandbox = await {name}.create(...)` or `async with {name}.create(...) as "
        f"sandbox:` inside an async function; synchronous code uses `from hopx_sync import "
        f"Sandbox` and `Sandbox.create(...)`"
    )


class _CreateCall(Coroutine[Any, Any, T]):
    """What :meth:`AsyncSandbox.create` returns: a coroutine (``await`` it, or pass it to
    ``asyncio.run``), also usable as ``async with`` (the sandbox is killed on exit).

    Never awaited, it gives Python's "coroutine ... was never awaited" warning; used as a
    sandbox or with a plain ``with``, it raises an error that names the right form.
    """

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, T]], name: str) -> None:
        self._name = name
        self._coro = factory()
        self._sandbox: T | None = None

    def send(self, value: Any) -> Any:
        """Run the creation up to its next suspension (the coroutine protocol)."""
        return self._coro.send(value)

    def throw(self, *exc: Any) -> Any:
        """Raise an exception inside the creation (the coroutine protocol)."""
        return self._coro.throw(*exc)

    def close(self) -> None:
        """Abandon the creation (the coroutine protocol)."""
        self._coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        return self._coro.__await__()

    async def __aenter__(self) -> T:
        self._sandbox = await self._coro
        return self._sandbox

    async def __aexit__(self, *exc: object) -> None:
        if self._sandbox is not None:
            await self._sandbox.__aexit__(*exc)

    def __enter__(self) -> NoReturn:
        self._coro.close()
        raise TypeError(
            f"{self._name}.create(...) is asynchronous and cannot be used with a plain "
            f"`with`: {_create_forms(self._name)}"
        )

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("cr_"):  # what event loops read of a coroutine (repr, debugging)
            return getattr(self._coro, attr)
        if attr.startswith("_"):
            raise AttributeError(attr)
        raise AttributeError(
            f"{self._name}.create(...) returns an awaitable, not a sandbox, so it has no "
            f"{attr!r}: {_create_forms(self._name)}"
        )


class SandboxClassAPI:
    """One sandbox object's lifetime and the class methods of ``AsyncSandbox``.

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

    #: Makes the backend of a sandbox created without a client (set by ``backend=`` on an
    #: adapter's subclass: ``class AsyncSandbox(aio.AsyncSandbox, backend=TrioBackend)``).
    _backend_factory: ClassVar[Callable[[], Backend] | None] = None

    def __init_subclass__(cls, *, backend: Callable[[], Backend] | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if backend is not None:
            cls._backend_factory = backend

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
        self._agent = Agent(client, sandbox_id)
        self._resources: dict[type, object] = {}

    @property
    def client(self) -> Client:
        """The client (credentials and connection pool) this sandbox uses."""
        return self._client

    @property
    def info(self) -> SandboxInfo | None:
        """The sandbox as the control plane last described it to this object, without a
        request: from ``create``, ``connect``, the ``list``/``iter`` entry it came from, or
        the latest :meth:`get_info`. ``None`` for an object made from an id alone. It may be
        stale (the status changes); :meth:`get_info` asks again."""
        return self._agent.last_info

    @property
    def agent(self) -> Agent:
        """The sandbox's agent: its URL, token, ``call`` and ``open_ws``."""
        return self._agent

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release this object's hold on the connection pool (closed with the last holder)."""
        if not self._released:
            self._released = True
            await self._client.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Kill the sandbox (errors are logged, not raised) and close connections."""
        try:
            with self._client.backend.shielded(EXIT_KILL_GRACE):
                try:
                    if not self._killed:
                        await self.kill()
                except HopxError as err:
                    _logger.warning("could not kill sandbox %s on exit: %s", self.sandbox_id, err)
        finally:
            await self.aclose()

    async def kill(self) -> None:
        """Delete the sandbox, then release this object's connections.

        Afterwards every call on this object (and on its ``files``, ``commands``, ...)
        raises :class:`SandboxKilledError` at once; a second ``kill()`` does nothing, as a
        second ``close()`` of a file does.

        Raises:
            NotFoundError: the sandbox was already gone (connections are released anyway,
                and the object counts as killed).
        """
        if self._killed:
            return
        try:
            await self._control(control_ops.SANDBOXES_DELETE, self._sid())
            self._mark_killed()
        except NotFoundError:
            self._mark_killed()
            raise
        finally:
            self._client.tokens.pop(self.sandbox_id, None)
            await self.aclose()

    def _mark_killed(self) -> None:
        self._killed = True
        self._agent.mark_killed()

    # -- the control plane ------------------------------------------------------------------

    async def _control(self, op: Operation[A, R], args: A) -> R:
        self._agent.check_alive(op.name)
        return await self._client.call(op, args, sandbox_id=self.sandbox_id)

    def _sid(self) -> control_ops.SandboxId:
        return control_ops.SandboxId(id=self.sandbox_id)

    async def get_info(self) -> SandboxInfo:
        """The sandbox as the control plane describes it.

        Raises:
            NotFoundError: the sandbox does not exist.
        """
        return await self._agent.info()

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
    ) -> _CreateCall[Self]:
        """Create a sandbox; ``await`` it, or use it as ``async with`` (killed on exit).

        Args:
            template: the template's name (``"code-interpreter"``, ...).
            template_id: the template's id, instead of its name.
            region: where to run it; the service's choice when ``None``.
            timeout_seconds: the sandbox's lifetime; the service's default when ``None``.
            internet_access: whether code inside may reach the internet.
            env_vars: environment variables of every execution in the sandbox.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.

        Returns:
            A coroutine giving the :class:`AsyncSandbox` (``await`` it, or pass it to
            ``asyncio.run``), also usable as ``async with``.

        Raises:
            TemplateNotFoundError: no template of that name (lists the available ones).
            ValidationError: the service refused the arguments.
            AuthenticationError: the API key was refused.
        """

        async def create() -> Self:
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

        create.__qualname__ = f"{cls.__name__}.create"  # as the never-awaited warning says
        return _CreateCall(create, cls.__name__)

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
    ) -> Self:
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
        sandbox._agent.adopt(info)
        return sandbox

    @classmethod
    async def connect(
        cls,
        sandbox_id: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> Self:
        """An object for an existing sandbox (one ``GET``).

        Args:
            sandbox_id: the sandbox's id.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.

        Raises:
            NotFoundError: there is no such sandbox.
        """
        sandbox = cls(sandbox_id, client=cls._make_client(api_key, base_url, client))
        try:
            sandbox._agent.adopt(await sandbox.get_info())
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
    ) -> builtins.list[Self]:
        """One page of sandboxes (they share one client, closed with the last of them).

        Args:
            status: only sandboxes in this state (``"running"``, ...).
            region: only sandboxes in this region.
            limit: the most to return.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.
        """
        client = cls._make_client(api_key, base_url, client)
        try:
            page = await client.call(
                control_ops.SANDBOXES_LIST,
                control_ops.ListSandboxes(status=status, region=region, limit=limit),
            )
        except BaseException:
            await client.release_if_unused()
            raise
        out = [cls._listed(info, client) for info in page.data]
        await client.release_if_unused()
        return out

    @classmethod
    def _listed(cls, info: SandboxInfo, client: Client) -> Self:
        """An object for a listing entry, keeping what the entry says (its agent's URL too:
        no ``GET`` before the first agent call)."""
        sandbox = cls(info.sandbox_id, client=client)
        if info.status in STARTING_STATES:
            sandbox._agent.last_info = info  # its agent is not up: the first call waits
            return sandbox
        try:
            sandbox._agent.adopt(info)
        except RemoteProtocolError:
            pass  # an unusable public_host: the first agent call fetches and reports it
        return sandbox

    @classmethod
    def iter(
        cls,
        *,
        status: str | None = None,
        region: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> EventStream[Self]:
        """Every sandbox, fetched lazily page by page (``next_cursor``).

        The sandboxes share one client, closed when the iteration ends and the last of them
        is closed.

        Args:
            status: only sandboxes in this state (``"running"``, ...).
            region: only sandboxes in this region.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.

        Returns:
            The sandboxes, read with ``async for``.
        """
        return EventStream(cls._iter(status, region, cls._make_client(api_key, base_url, client)))

    @classmethod
    async def _iter(
        cls, status: str | None, region: str | None, client: Client
    ) -> AsyncGenerator[Self, None]:
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
                    yield cls._listed(info, client)
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
        """Templates, optionally filtered.

        Args:
            category: only templates of this category.
            language: only templates for this language.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.
        """
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
        """The template called ``name``.

        Args:
            name: the template's name.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.

        Raises:
            NotFoundError: there is no such template.
        """
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
        """Delete a custom template.

        Args:
            template_id: the template's id.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` (its pool, TLS and proxy settings) instead of
                making one; ``api_key`` and ``base_url`` are then not used.

        Returns:
            The service's reply.
        """
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
        """The control plane's ``/health`` reply (no API key needed).

        Args:
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: ask through this :class:`Client` instead of a new one.
        """
        args, timeouts = NoArgs(), Timeouts(10, 10, 10)
        if client is not None:
            return await client.call(control_ops.HEALTH, args, timeouts=timeouts)
        backend = cls._new_backend()
        made = Client(
            backend, api_key=backend.environ.get("HOPX_API_KEY") or "-", base_url=base_url
        )
        async with made:
            return await made.call(control_ops.HEALTH, args, timeouts=timeouts)
