"""The client: credentials, one connection pool, and the call loop (retries, 401 refresh).

Every :class:`AsyncSandbox` belongs to one :class:`Client`; sandboxes returned by the class
methods of the same call share it, and it is closed when the last of them is closed (or the
client itself, when the caller made it).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

import attrs

from .._errors import HopxError, LocalProtocolError, TimeoutError
from .._ops._base import Auth, Operation
from .._policy import GiveUp, RetryPolicy, TokenState
from .._url import BaseURL
from ._backend import Backend
from ._log import Logger
from ._pool import ConnectionPool, PoolLimits
from ._transport import BodySink, HTTPTransport, ProxyConfig, Timeouts

__all__ = ["DEFAULT_BASE_URL", "Client"]


_logger = Logger("hopx.client")


DEFAULT_BASE_URL = "https://api.hopx.dev"
#: Seconds a call's overall deadline adds to its own timeout, by default.
DEADLINE_MARGIN = 30.0


class Default:
    """The type of :data:`DEFAULT`: "use the default" where ``None`` means "none"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


#: A call's deadline computed from its timeout (see :meth:`Client.call`).
DEFAULT = Default()
USER_AGENT = "hopx-sansio/0.1"

A = TypeVar("A")
R = TypeVar("R")


class Client:
    """Credentials, a connection pool and the retry policy, shared by sandboxes.

    An adapter binds it to its event loop by subclassing with ``backend=``: ``class
    Client(aio.Client, backend=TrioBackend)``; the subclass then makes its own backend. A
    driver whose client is shared by threads also passes ``pool=``, the
    :class:`ConnectionPool` class (taking the pool limits) whose bookkeeping locks.

    Args:
        backend: the event-loop capabilities; the bound backend of an adapter's subclass
            when ``None``.
        environ: the mapping read for ``HOPX_API_KEY``, ``HOPX_BASE_URL`` and proxies when
            the backend is made here (``os.environ`` when ``None``).
        api_key: the API key; ``HOPX_API_KEY`` from the environment when ``None``.
        base_url: the control plane; ``HOPX_BASE_URL`` overrides the default.
        timeout: the default read deadline in seconds.
        max_retries: retries after the first attempt (the official client's meaning).
        connect_timeout: the deadline for opening a connection.
        tls: an ``ssl.SSLContext`` to use instead of the verifying default.
        proxies: proxy settings; from the environment when ``None``.
        limits: connection-pool limits.
        token_margin: refresh a sandbox token this many seconds before it expires.
        deadline_margin: seconds added to a call's own timeout to make its overall deadline
            (see :meth:`call`).

    Raises:
        LocalProtocolError: no API key, or no backend (an unbound client needs one).
        HopxError: ``base_url`` is not an ``http(s)`` URL.
    """

    #: Makes the backend of a client created without one (set by ``backend=`` on a subclass).
    _backend_factory: ClassVar[Callable[[Mapping[str, str] | None], Backend] | None] = None
    #: Makes the connection pool's bookkeeping from the limits (set by ``pool=``).
    _pool_factory: ClassVar[Callable[[PoolLimits | None], ConnectionPool[Any]]] = ConnectionPool

    def __init_subclass__(
        cls,
        *,
        backend: Callable[[Mapping[str, str] | None], Backend] | None = None,
        pool: Callable[[PoolLimits | None], ConnectionPool[Any]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init_subclass__(**kw)
        if backend is not None:
            cls._backend_factory = backend
        if pool is not None:
            cls._pool_factory = pool

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 60,
        max_retries: int = 3,
        connect_timeout: float = 10,
        tls: object | None = None,
        proxies: ProxyConfig | None = None,
        limits: PoolLimits | None = None,
        token_margin: float = 60.0,
        deadline_margin: float = DEADLINE_MARGIN,
    ) -> None:
        if backend is None:
            factory = type(self)._backend_factory
            if factory is None:
                raise LocalProtocolError(
                    "hopx_proto.aio.Client needs a backend: pass one, or use the Client of "
                    "hopx_trio or hopx_asyncio"
                )
            backend = factory(environ)
        key = api_key if api_key is not None else backend.environ.get("HOPX_API_KEY")
        if not key:
            raise LocalProtocolError(
                "no API key: pass api_key=... or set the HOPX_API_KEY environment variable"
            )
        if base_url == DEFAULT_BASE_URL:
            base_url = backend.environ.get("HOPX_BASE_URL") or base_url
        self.backend = backend
        self.api_key = key
        self.base = BaseURL.parse(base_url, what="base_url")
        self.base_url = str(self.base)
        self.retry = RetryPolicy(max_attempts=max(1, int(max_retries) + 1))
        self.token_margin = token_margin
        self.deadline_margin = deadline_margin
        self.transport = HTTPTransport(
            backend,
            tls=tls,
            limits=limits,
            timeouts=Timeouts(connect=connect_timeout, read=timeout),
            proxies=proxies,
            user_agent=f"{USER_AGENT} ({backend.name})",
            pool=type(self)._pool_factory(limits),
        )
        #: Sandbox JWTs by sandbox id, shared by every sandbox object of this client.
        self.tokens: dict[str, TokenState] = {}
        self._holders = 0
        self._close_with_last_holder = False
        self._closed = False
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- lifetime ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """One more sandbox object uses this client."""
        self._holders += 1

    async def release(self) -> None:
        """A sandbox object is done with the client.

        A client made by the library for a class method closes with its last sandbox; one
        the caller made stays open until the caller closes it.
        """
        self._holders = max(0, self._holders - 1)
        if self._holders == 0 and self._close_with_last_holder:
            await self.aclose()

    def close_with_last_holder(self) -> Client:
        """Hand the client over to the sandboxes that will use it (internal).

        Such a client is the library's, not the caller's: if its sandbox objects are garbage
        collected without being closed (entries of a listing, typically), its idle
        connections are dropped with it rather than left to warn as unclosed sockets.
        """
        self._close_with_last_holder = True
        if self._finalizer is None:
            self._finalizer = weakref.finalize(self, HTTPTransport.abandon, self.transport)
        return self

    async def release_if_unused(self) -> None:
        """Close a handed-over client that no sandbox ended up holding."""
        if self._holders == 0 and self._close_with_last_holder:
            await self.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close every pooled connection."""
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
        await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- calls ------------------------------------------------------------------------------

    def _jitter(self) -> float:
        return int.from_bytes(self.backend.random_bytes(4), "big") / 2**32

    async def call(
        self,
        op: Operation[A, R],
        args: A,
        *,
        base: BaseURL | None = None,
        credential: str | None = None,
        refresh: Callable[[], Awaitable[str]] | None = None,
        sandbox_id: str | None = None,
        timeouts: Timeouts | None = None,
        error_path: str | None = None,
        upload: Callable[[], AsyncIterator[bytes]] | None = None,
        sink: BodySink | None = None,
        before_retry: Callable[[], Awaitable[None]] | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
        deadline: float | Default | None = DEFAULT,
    ) -> R:
        """Run ``op`` with retries per the policy and one token refresh after a 401, within
        an overall deadline.

        Per-read timeouts alone would let a server that sends a byte now and then hold a call
        for as long as it likes, so the whole call (every attempt, the waits between them and
        the token refresh) has a deadline too: the read timeout of its attempts plus
        :attr:`deadline_margin`, unless ``deadline`` says otherwise. When it passes, the
        connection in use is closed (never pooled again) and :class:`TimeoutError` is raised.

        Args:
            op: the operation.
            args: its arguments.
            base: where to send it (the control plane when ``None``).
            credential: the API key or JWT; the client's API key for control operations.
            refresh: returns a fresh JWT after a 401 (agent operations).
            upload: makes the request body chunks afresh for each attempt.
            sink: receives a 2xx body chunk by chunk.
            before_retry: resets partial output (e.g. a download's temp file) before a retry.
            sandbox_id: the sandbox concerned, carried by errors.
            timeouts: the deadlines of each attempt; the client's when ``None``.
            error_path: the sandbox path a file error names.
            headers: extra request headers.
            deadline: seconds the whole call may take; ``None`` for no overall bound (the
                per-read timeouts still hold).

        Returns:
            The operation's decoded result.

        Raises:
            TimeoutError: the deadline passed.
            HopxError: the typed error of the last attempt.
        """
        if isinstance(deadline, Default):
            read = (timeouts or self.transport.timeouts).read
            deadline = None if read is None else read + self.deadline_margin
        attempts = self._attempts(
            op, args, base, credential, refresh, sandbox_id, timeouts, error_path, upload, sink,
            before_retry, headers,
        )  # fmt: skip
        if deadline is None:
            return await attempts
        with self.backend.move_on_after(deadline) as scope:
            return await attempts
        assert scope.cancelled_caught
        raise TimeoutError(
            f"{op.name} did not finish within its deadline of {deadline:g} s",
            operation=op.name,
            sandbox_id=sandbox_id,
        )

    async def _attempts(
        self,
        op: Operation[A, R],
        args: A,
        base: BaseURL | None,
        credential: str | None,
        refresh: Callable[[], Awaitable[str]] | None,
        sandbox_id: str | None,
        timeouts: Timeouts | None,
        error_path: str | None,
        upload: Callable[[], AsyncIterator[bytes]] | None,
        sink: BodySink | None,
        before_retry: Callable[[], Awaitable[None]] | None,
        headers: tuple[tuple[bytes, bytes], ...],
    ) -> R:
        if base is None:
            base = self.base
        if credential is None and op.credential in (Auth.API_KEY, Auth.BEARER_API_KEY):
            credential = self.api_key
        if op.credential is Auth.NONE:
            credential = None
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                request = op.encode(args, auth=credential)
            except UnicodeError as exc:
                raise LocalProtocolError(
                    f"{op.name}: an argument cannot be encoded: {exc}",
                    operation=op.name,
                    sandbox_id=sandbox_id,
                ) from None
            if headers:
                request = request.with_headers(*headers)
            retry_after: str | None = None
            try:
                if upload is not None:
                    request = attrs.evolve(request, body=None)
                response = await self.transport.request(
                    base,
                    request,
                    timeouts=timeouts,
                    upload=upload() if upload is not None else None,
                    sink=sink,
                )
                if (
                    response.status == 401
                    and refresh is not None
                    and TokenState.refresh_after_unauthorized(refreshed)
                ):
                    refreshed = True
                    attempt -= 1
                    _logger.info("%s: 401 from the agent; refreshing the token once", op.name)
                    credential = await refresh()
                    continue
                retry_after = response.header("retry-after")
                return op.decode(response, sandbox_id=sandbox_id, path=error_path)
            except HopxError as exc:
                if exc.operation is None:
                    exc.operation = op.name
                if exc.sandbox_id is None:
                    exc.sandbox_id = sandbox_id
                decision = self.retry.decide(
                    exc,
                    attempt=attempt,
                    idempotent=op.is_idempotent,
                    now=self.backend.wall_clock(),
                    jitter=self._jitter(),
                    retry_after_header=retry_after,
                )
                if isinstance(decision, GiveUp):
                    _logger.debug("%s: not retrying (%s)", op.name, decision.reason)
                    raise
                _logger.info(
                    "%s: attempt %d failed (%s); retrying in %.2f s (%s)",
                    op.name,
                    attempt,
                    exc.message,
                    decision.delay,
                    decision.reason,
                )
            await self.backend.sleep(decision.delay)
            if before_retry is not None:
                await before_retry()

    def new_token_state(self, body: Any) -> TokenState | None:
        """The token carried by a create or refresh reply ``body`` (``None`` without one),
        refreshed ``token_margin`` seconds before it expires."""
        return TokenState.from_response(body, margin=self.token_margin)
