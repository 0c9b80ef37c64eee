"""The seam between the API and one sandbox's agent: its URL, its token, calls and streams.

Every resource (``files``, ``commands``, ``env``, ``cache``, ``terminal``, ``desktop``) and the
execution methods talk to the agent through one :class:`Agent`, never through
:class:`~hopx_proto.aio.AsyncSandbox`. An :class:`Agent` needs only a :class:`Client` and a
sandbox id, so any driver of the same coroutines (an event loop, or a blocking backend whose
operations complete without suspending) gets the whole agent API from it.
"""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import AuthenticationError, HopxError, RemoteProtocolError, SandboxKilledError
from .._models.control import SandboxInfo
from .._ops import control as control_ops
from .._ops._base import Operation
from .._url import BaseURL
from ._backend import Backend
from ._client import Client
from ._transport import Timeouts

if TYPE_CHECKING:
    from ._websocket import WebSocketSession

__all__ = ["Agent"]

A = TypeVar("A")
R = TypeVar("R")

#: Seconds a WebSocket handshake may take by default.
WS_CONNECT_TIMEOUT = 30.0
#: Sandbox states in which the agent is not up yet, and how long to wait for it to come up.
STARTING_STATES = frozenset({"creating", "starting", "pending"})
READY_WAIT = 60.0


class Agent:
    """One sandbox's agent, as the resources use it.

    Owns the agent's base URL (from the sandbox's ``public_host``, fetched and waited for on
    first use), its JWT (kept in the client's token store, refreshed before it expires and
    once after a 401), :meth:`call` for one operation and :meth:`open_ws` for a stream.

    Args:
        client: the client whose connection pool, credentials and retry policy are used.
        sandbox_id: the sandbox whose agent this is.
    """

    def __init__(self, client: Client, sandbox_id: str) -> None:
        self.client = client
        self.sandbox_id = sandbox_id
        self._base: BaseURL | None = None
        self._token_lock = client.backend.lock()
        self._killed = False
        #: The sandbox as the control plane last described it here (``None`` before).
        self.last_info: SandboxInfo | None = None

    @property
    def backend(self) -> Backend:
        """The event-loop capabilities of the client (clocks, randomness, local files)."""
        return self.client.backend

    # -- liveness ---------------------------------------------------------------------------

    @property
    def killed(self) -> bool:
        """Whether :meth:`mark_killed` was called: the sandbox was deleted through this
        agent's sandbox object."""
        return self._killed

    def mark_killed(self) -> None:
        """Remember that the sandbox was deleted: every later call raises
        :class:`SandboxKilledError` without sending anything."""
        self._killed = True

    def check_alive(self, operation: str) -> None:
        """Raise :class:`SandboxKilledError` naming ``operation`` once the sandbox was killed.

        Args:
            operation: the name of the operation about to run (carried by the error).
        """
        if self._killed:
            raise SandboxKilledError(sandbox_id=self.sandbox_id, operation=operation)

    # -- the URL ----------------------------------------------------------------------------

    async def info(self) -> SandboxInfo:
        """The sandbox as the control plane describes it (one ``GET /v1/sandboxes/{id}``).

        Raises:
            NotFoundError: the sandbox does not exist (any other :class:`HopxError` as the
                control plane answers).
            SandboxKilledError: the sandbox was killed through this object.
        """
        self.check_alive(control_ops.SANDBOXES_GET.name)
        info = await self.client.call(
            control_ops.SANDBOXES_GET,
            control_ops.SandboxId(id=self.sandbox_id),
            sandbox_id=self.sandbox_id,
        )
        self.last_info = info
        return info

    def adopt(self, info: SandboxInfo) -> BaseURL | None:
        """Take the agent's URL from ``info`` (a create, connect, get or listing entry), and
        keep ``info`` as :attr:`last_info`.

        Returns:
            The agent's base URL, or ``None`` when ``info`` has no ``public_host`` yet.

        Raises:
            RemoteProtocolError: ``public_host`` is not a usable ``http(s)`` URL.
        """
        self.last_info = info
        raw = info.agent_base
        if not raw:
            self._base = None
            return None
        try:
            self._base = BaseURL.parse(raw, what=f"public_host of sandbox {self.sandbox_id}")
        except HopxError as exc:
            raise RemoteProtocolError(
                exc.message, sandbox_id=self.sandbox_id, operation="sandboxes.get"
            ) from None
        return self._base

    async def base_url(self) -> BaseURL:
        """The agent's base URL; waits (up to a minute) for a starting sandbox to get one.

        Raises:
            RemoteProtocolError: the sandbox has no ``public_host`` once it is no longer
                starting.
        """
        if self._base is not None:
            return self._base
        backend = self.backend
        deadline = backend.monotonic() + READY_WAIT
        delay = 0.2
        while True:
            info = await self.info()
            if info.status in STARTING_STATES and backend.monotonic() < deadline:
                await backend.sleep(delay)
                delay = min(delay * 2, 3.0)
                continue
            base = self.adopt(info)
            if base is None:
                raise RemoteProtocolError(
                    f"sandbox {self.sandbox_id} has no public_host (status {info.status!r})",
                    sandbox_id=self.sandbox_id,
                    operation="sandboxes.get",
                )
            return base

    # -- the token --------------------------------------------------------------------------

    async def refresh_token(self) -> str:
        """Fetch a new agent JWT from the control plane and keep it.

        Returns:
            The new token.

        Raises:
            RemoteProtocolError: the reply carries no ``auth_token``.
        """
        op = control_ops.SANDBOXES_REFRESH_TOKEN
        self.check_alive(op.name)
        reply = await self.client.call(
            op, control_ops.SandboxId(id=self.sandbox_id), sandbox_id=self.sandbox_id
        )
        state = self.client.new_token_state(reply)
        if state is None or state.token is None:
            raise RemoteProtocolError(
                "the token refresh reply carries no auth_token",
                sandbox_id=self.sandbox_id,
                operation=op.name,
            )
        self.client.tokens[self.sandbox_id] = state
        return state.token

    async def token(self) -> str:
        """A valid agent JWT: the kept one, or a fresh one when it is missing or expires
        within the client's ``token_margin``. Concurrent callers share one refresh."""
        self.check_alive(control_ops.SANDBOXES_REFRESH_TOKEN.name)
        state = self.client.tokens.get(self.sandbox_id)
        if (
            state is not None
            and state.token is not None
            and not state.needs_refresh(self.backend.wall_clock())
        ):
            return state.token  # the usual case: no lock to take, nothing awaited
        async with self._token_lock:
            state = self.client.tokens.get(self.sandbox_id)
            if (
                state is None
                or state.token is None
                or state.needs_refresh(self.backend.wall_clock())
            ):
                return await self.refresh_token()
            return state.token

    # -- calls and streams ------------------------------------------------------------------

    async def call(
        self,
        op: Operation[A, R],
        args: A,
        *,
        read_timeout: float | None = None,
        error_path: str | None = None,
        **kw: Any,
    ) -> R:
        """Run the agent operation ``op`` with ``args`` (retries per the client's policy, one
        token refresh after a 401).

        Args:
            op: an agent-plane operation.
            args: its arguments.
            read_timeout: the per-read deadline in seconds; the client's default when
                ``None``.
            error_path: the sandbox path a file error names.
            kw: passed to :meth:`Client.call` (``upload``, ``sink``, ``before_retry``,
                ``headers``).

        Returns:
            The operation's decoded result.

        Raises:
            SandboxKilledError: the sandbox was killed through this object.
            HopxError: the typed error of the agent's reply, or of the transport.
        """
        self.check_alive(op.name)
        base = self._base if self._base is not None else await self.base_url()
        credential = await self.token()
        timeouts = None
        if read_timeout is not None:
            timeouts = Timeouts(connect=self.client.transport.timeouts.connect, read=read_timeout)
        return await self.client.call(
            op,
            args,
            base=base,
            credential=credential,
            refresh=self.refresh_token,
            sandbox_id=self.sandbox_id,
            timeouts=timeouts,
            error_path=error_path,
            **kw,
        )

    async def open_ws(
        self, op: Operation[Any, Any], *, timeout: float | None = WS_CONNECT_TIMEOUT
    ) -> WebSocketSession:
        """A WebSocket to ``op``'s path, on a connection of its own.

        Args:
            op: an agent-plane stream operation (``EXECUTE_STREAM``, ``TERMINAL``, ...).
            timeout: seconds the handshake may take (``None``: no bound).

        Returns:
            The open session.

        Raises:
            AuthenticationError: the agent refused the token twice (after one refresh).
            TimeoutError: the handshake did not finish within ``timeout``.
            NetworkError: the connection failed.
            SandboxKilledError: the sandbox was killed through this object.
        """
        # The WebSocket layer is a submodule only streams use: the first stream loads it.
        from ._websocket import WebSocketSession

        self.check_alive(op.name)
        base = await self.base_url()
        credential = await self.token()
        transport = self.client.transport
        for attempt in (1, 2):
            stream = await transport.open_stream(base, timeout=transport.timeouts.connect)
            try:
                return await WebSocketSession.open(
                    self.backend,
                    stream,
                    base,
                    op.path,
                    headers=[("authorization", f"Bearer {credential}")],
                    timeout=timeout,
                    operation=op.name,
                    sandbox_id=self.sandbox_id,
                )
            except AuthenticationError:
                if attempt == 2:
                    raise
                credential = await self.refresh_token()
        raise AssertionError("unreachable")
