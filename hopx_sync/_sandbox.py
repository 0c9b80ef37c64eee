"""``Sandbox`` and its resources: ``hopx_ai.Sandbox``'s synchronous API over the one async API.

Every method here either is :func:`~hopx_sync._blocking.blocking` applied to the async method
of the same name, or converts arguments and results where the official synchronous client
differs from its async one (``timeout=`` spellings, ``CommandResult``, parameter names). No
request, retry or stream logic lives here: that is :mod:`hopx_proto.aio`, run by the
blocking backend.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from hopx_proto import CommandResult, ExecutionResult, HopxError, SandboxInfo, Template, aio
from hopx_proto.aio import ConnectionPool, EventStream
from hopx_proto.policy import TokenState
from hopx_proto.streams import CommandEvent, ExecuteEvent, TerminalServerEvent, WatchEvent
from hopx_proto.wire import BaseURL

from ._backend import BlockingBackend
from ._blocking import blocking, call
from ._driver import BlockingStream, check_no_running_loop

__all__ = [
    "Cache",
    "Client",
    "Commands",
    "Desktop",
    "EnvironmentVariables",
    "Files",
    "Sandbox",
    "Terminal",
    "TerminalSession",
]

DEFAULT_BASE_URL = aio.DEFAULT_BASE_URL

S = TypeVar("S")
#: (scheme, host, port), as the pool keys connections.
PoolKey = tuple[str, str, int]
C = TypeVar("C")


class _LockedPool(ConnectionPool[C]):
    """The pool's bookkeeping under a lock: threads share one :class:`Client`."""

    def __init__(self, limits: aio.PoolLimits | None = None) -> None:
        super().__init__(limits)
        self._lock = threading.RLock()

    def checkout(self, key: PoolKey, now: float) -> tuple[C | None, builtins.list[C]]:
        with self._lock:
            return super().checkout(key, now)

    def checkin(self, key: PoolKey, conn: C, now: float) -> builtins.list[C]:
        with self._lock:
            return super().checkin(key, conn, now)

    def expire(self, now: float) -> builtins.list[C]:
        with self._lock:
            return super().expire(now)

    def close(self) -> builtins.list[C]:
        with self._lock:
            return super().close()


class Client(aio.Client, backend=BlockingBackend, pool=_LockedPool):
    """Credentials and one connection pool for blocking calls; share it between threads.

    Takes the arguments of :class:`hopx_proto.aio.Client` (``api_key``, ``base_url``,
    ``timeout``, ``max_retries``, ``connect_timeout``, ``tls``, ``proxies``, ``limits``, ...).
    Close it with :meth:`close` or ``with``.

    Args:
        args: positional arguments of :class:`hopx_proto.aio.Client`.
        kwargs: keyword arguments of :class:`hopx_proto.aio.Client`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holders_lock = threading.Lock()

    def acquire(self) -> None:
        """One more sandbox object uses this client."""
        with self._holders_lock:
            super().acquire()

    def close(self) -> None:
        """Close every pooled connection."""
        call("Client.close", self.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AsyncSandbox(aio.AsyncSandbox, backend=BlockingBackend):
    """The async sandbox the synchronous one drives."""


def _stream(events: EventStream[Any], convert: Callable[[Any], Any] | None = None) -> Any:
    if convert is None:
        return BlockingStream(events)
    return BlockingStream(_Mapped(events, convert))


class _Mapped:
    """An async stream with each item converted."""

    def __init__(self, events: EventStream[Any], convert: Callable[[Any], Any]) -> None:
        self._events = events
        self._convert = convert

    def __aiter__(self) -> _Mapped:
        return self

    async def __anext__(self) -> Any:
        return self._convert(await self._events.__anext__())

    async def aclose(self) -> None:
        await self._events.aclose()


# -- resources ---------------------------------------------------------------------------------


class Files:
    """File operations; see :class:`hopx_proto.aio.AsyncFiles` (``timeout=``: the read
    deadline of a call, in seconds).

    Args:
        inner: the async resource this one drives (``sandbox.files`` makes this object).
    """

    def __init__(self, inner: aio.AsyncFiles) -> None:
        self._inner = inner

    read = blocking(aio.AsyncFiles.read)
    read_bytes = blocking(aio.AsyncFiles.read_bytes)
    write = blocking(aio.AsyncFiles.write)
    write_bytes = blocking(aio.AsyncFiles.write_bytes)
    list = blocking(aio.AsyncFiles.list)
    exists = blocking(aio.AsyncFiles.exists)
    remove = blocking(aio.AsyncFiles.remove)
    mkdir = blocking(aio.AsyncFiles.mkdir)
    upload = blocking(aio.AsyncFiles.upload)
    download = blocking(aio.AsyncFiles.download)

    def watch(
        self,
        path: str = "/workspace",
        *,
        timeout: int | None = None,
        idle_timeout: float | None = None,
    ) -> BlockingStream[WatchEvent]:
        """Change events under ``path``, as an iterator; leaving a ``with`` block around it
        (or :meth:`~hopx_sync.BlockingStream.close`) stops watching at once.

        Args:
            path: the directory to watch (absolute, recursively).
            timeout: seconds the WebSocket handshake may take (30 when ``None``).
            idle_timeout: seconds without a message after which the watch ends with
                :class:`~hopx_proto.TimeoutError`; ``None`` waits as long as the server keeps
                the connection open.
        """
        return _stream(self._inner.watch(path, timeout=timeout, idle_timeout=idle_timeout))  # type: ignore[no-any-return]


class Commands:
    """Shell commands; see :class:`hopx_proto.aio.AsyncCommands`.

    Args:
        inner: the async resource this one drives (``sandbox.commands`` makes this object).
    """

    def __init__(self, inner: aio.AsyncCommands) -> None:
        self._inner = inner

    def run(
        self,
        command: str,
        *,
        timeout: int = 120,
        background: bool = False,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        timeout_seconds: int | None = None,
    ) -> CommandResult:
        """Run ``bash -c command`` and wait for it.

        Args:
            command: the shell command line.
            timeout: how long the agent lets it run, in seconds.
            background: start it and return at once (``stdout`` then names the process).
            env: environment variables for this command only.
            working_dir: the directory it runs in.
            on_stdout: called with each chunk of standard output as it comes.
            on_stderr: the same for standard error.
            timeout_seconds: another spelling of ``timeout`` (the async API's).

        Returns:
            Its output and exit code.

        Raises:
            CommandExecutionError: the agent could not run it.
            TimeoutError: no reply within ``timeout`` plus a margin.
        """
        result: ExecutionResult = call(
            "Commands.run",
            self._inner.run(
                command,
                timeout_seconds=timeout,
                background=background,
                env=env,
                working_dir=working_dir,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                timeout=timeout_seconds,
            ),
        )
        return CommandResult(
            stdout=result.stdout,
            stderr=result.stderr,
            exit_code=result.exit_code if result.exit_code is not None else -1,
            execution_time=result.execution_time or 0.0,
            command=command,
            success=result.exit_code == 0,
        )

    def stream(
        self,
        command: str,
        *,
        timeout_seconds: int = 120,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        timeout: int | None = None,
    ) -> BlockingStream[CommandEvent]:
        """Output events of a command as they happen, as an iterator; leaving a ``with``
        block around it stops the command.

        Args:
            command: the shell command line (run as ``bash -c command``).
            timeout_seconds: how long the agent lets it run.
            env: environment variables for this command only.
            working_dir: the directory it runs in.
            timeout: another spelling of ``timeout_seconds``.
        """
        return _stream(  # type: ignore[no-any-return]
            self._inner.stream(
                command,
                timeout_seconds=timeout_seconds,
                env=env,
                working_dir=working_dir,
                timeout=timeout,
            )
        )


class EnvironmentVariables:
    """Sandbox-wide environment variables; see :class:`hopx_proto.aio.AsyncEnvironmentVariables`.

    Args:
        inner: the async resource this one drives (``sandbox.env`` makes this object).
    """

    def __init__(self, inner: aio.AsyncEnvironmentVariables) -> None:
        self._inner = inner

    get_all = blocking(aio.AsyncEnvironmentVariables.get_all)
    set_all = blocking(aio.AsyncEnvironmentVariables.set_all)
    update = blocking(aio.AsyncEnvironmentVariables.update)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The variable ``key``, or ``default`` when it is not set."""
        return call("EnvironmentVariables.get", self._inner.get(key, default))

    def set(self, key: str, value: str, *, timeout: int | None = None) -> dict[str, str]:
        """Set the variable ``key`` to ``value``; every variable afterwards (``timeout``: the
        read deadline in seconds)."""
        return call("EnvironmentVariables.set", self._inner.update({key: value}, timeout=timeout))

    def delete(self, key: str, *, timeout: int | None = None) -> None:
        """Remove the variable ``key`` (nothing happens if it is not set; ``timeout``: the
        read deadline of each call in seconds)."""
        call("EnvironmentVariables.delete", self._inner.delete(key, timeout=timeout))


class Cache:
    """The agent's execution cache; see :class:`hopx_proto.aio.AsyncCache`.

    Args:
        inner: the async resource this one drives (``sandbox.cache`` makes this object).
    """

    def __init__(self, inner: aio.AsyncCache) -> None:
        self._inner = inner

    stats = blocking(aio.AsyncCache.stats)
    clear = blocking(aio.AsyncCache.clear)


class TerminalSession:
    """One open terminal: send keystrokes, resize, read output; close it with :meth:`close`
    or ``with``.

    Args:
        inner: the async session this one drives.
    """

    def __init__(self, inner: aio.TerminalSession) -> None:
        self._inner = inner

    @property
    def closed(self) -> bool:
        """Whether the terminal's WebSocket is closed."""
        return self._inner.closed

    send_input = blocking(aio.TerminalSession.send_input)
    resize = blocking(aio.TerminalSession.resize)

    def iter_output(
        self, *, idle_timeout: float | None = None
    ) -> BlockingStream[TerminalServerEvent]:
        """Output events, then ``exit`` when the shell ends, as an iterator.

        Args:
            idle_timeout: seconds without output after which the iteration raises
                :class:`~hopx_proto.TimeoutError` (the terminal stays open); ``None`` waits as
                long as the terminal is open.
        """
        return _stream(self._inner.iter_output(idle_timeout=idle_timeout))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the terminal's WebSocket (the shell is ended by the agent)."""
        call("TerminalSession.close", self._inner.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Terminal:
    """Open terminals; also the official function shapes taking the session first.

    Args:
        inner: the async resource this one drives (``sandbox.terminal`` makes this object).
    """

    def __init__(self, inner: aio.AsyncTerminal) -> None:
        self._inner = inner

    def connect(self, *, timeout: int | None = 30) -> TerminalSession:
        """Open a terminal (``timeout`` bounds the handshake, in seconds)."""
        return TerminalSession(call("Terminal.connect", self._inner.connect(timeout=timeout)))

    def send_input(self, ws: TerminalSession, data: str) -> None:
        """Send ``data`` as keystrokes to the terminal ``ws``."""
        ws.send_input(data)

    def resize(self, ws: TerminalSession, cols: int, rows: int) -> None:
        """Resize ``ws`` to ``cols`` x ``rows`` cells (each from 1 to 65535)."""
        ws.resize(cols, rows)

    def iter_output(
        self, ws: TerminalSession, *, idle_timeout: float | None = None
    ) -> BlockingStream[TerminalServerEvent]:
        """Events of ``ws`` until it closes (``idle_timeout`` as for
        :meth:`TerminalSession.iter_output`)."""
        return ws.iter_output(idle_timeout=idle_timeout)


class Desktop:
    """Desktop automation; see :class:`hopx_proto.aio.AsyncDesktop`.

    Args:
        inner: the async resource this one drives (``sandbox.desktop`` makes this object).
    """

    def __init__(self, inner: aio.AsyncDesktop) -> None:
        self._inner = inner

    start_vnc = blocking(aio.AsyncDesktop.start_vnc)
    stop_vnc = blocking(aio.AsyncDesktop.stop_vnc)
    get_vnc_status = blocking(aio.AsyncDesktop.get_vnc_status)
    get_vnc_url = blocking(aio.AsyncDesktop.get_vnc_url)
    click = blocking(aio.AsyncDesktop.click)
    move = blocking(aio.AsyncDesktop.move)
    drag = blocking(aio.AsyncDesktop.drag)
    scroll = blocking(aio.AsyncDesktop.scroll)
    type = blocking(aio.AsyncDesktop.type)
    press = blocking(aio.AsyncDesktop.press)
    combination = blocking(aio.AsyncDesktop.combination)
    hotkey = blocking(aio.AsyncDesktop.hotkey)
    set_clipboard = blocking(aio.AsyncDesktop.set_clipboard)
    get_clipboard = blocking(aio.AsyncDesktop.get_clipboard)
    get_clipboard_history = blocking(aio.AsyncDesktop.get_clipboard_history)
    screenshot = blocking(aio.AsyncDesktop.screenshot)
    screenshot_region = blocking(aio.AsyncDesktop.screenshot_region)
    capture_window = blocking(aio.AsyncDesktop.capture_window)
    start_recording = blocking(aio.AsyncDesktop.start_recording)
    stop_recording = blocking(aio.AsyncDesktop.stop_recording)
    get_recording_status = blocking(aio.AsyncDesktop.get_recording_status)
    download_recording = blocking(aio.AsyncDesktop.download_recording)
    get_windows = blocking(aio.AsyncDesktop.get_windows)
    focus_window = blocking(aio.AsyncDesktop.focus_window)
    close_window = blocking(aio.AsyncDesktop.close_window)
    resize_window = blocking(aio.AsyncDesktop.resize_window)
    minimize_window = blocking(aio.AsyncDesktop.minimize_window)
    get_display = blocking(aio.AsyncDesktop.get_display)
    get_available_resolutions = blocking(aio.AsyncDesktop.get_available_resolutions)
    set_resolution = blocking(aio.AsyncDesktop.set_resolution)
    ocr = blocking(aio.AsyncDesktop.ocr)
    find_element = blocking(aio.AsyncDesktop.find_element)
    wait_for = blocking(aio.AsyncDesktop.wait_for)
    drag_drop = blocking(aio.AsyncDesktop.drag_drop)
    get_bounds = blocking(aio.AsyncDesktop.get_bounds)
    get_debug_logs = blocking(aio.AsyncDesktop.get_debug_logs)
    get_debug_processes = blocking(aio.AsyncDesktop.get_debug_processes)


# -- the sandbox -------------------------------------------------------------------------------


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class Sandbox:
    """One sandbox, for synchronous programs: ``hopx_ai.Sandbox``'s API, blocking.

    ``with Sandbox.create(...) as sandbox:`` kills the sandbox on exit; :meth:`close` releases
    the connections of an object without killing the sandbox.

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

    _inner: aio.AsyncSandbox

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
        self._inner = _AsyncSandbox(
            sandbox_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            client=client,
        )
        self._resources: dict[str, object] = {}

    @classmethod
    def _wrap(cls, inner: aio.AsyncSandbox) -> Self:
        sandbox = cls.__new__(cls)
        sandbox._inner = inner
        sandbox._resources = {}
        return sandbox

    @property
    def sandbox_id(self) -> str:
        """The sandbox's id."""
        return self._inner.sandbox_id

    @property
    def client(self) -> aio.Client:
        """The client (credentials and connection pool) this sandbox uses."""
        return self._inner.client

    def __repr__(self) -> str:
        return f"<Sandbox {self.sandbox_id}>"

    def __str__(self) -> str:
        return f"Sandbox(id={self.sandbox_id})"

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release this object's hold on the connection pool (the sandbox keeps running)."""
        call("Sandbox.close", self._inner.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Kill the sandbox (errors are logged, not raised) and close connections."""
        call("Sandbox.__exit__", self._inner.__aexit__(exc_type, exc, tb))

    # -- lifecycle and info ---------------------------------------------------------------

    kill = blocking(aio.AsyncSandbox.kill)
    start = blocking(aio.AsyncSandbox.start)
    stop = blocking(aio.AsyncSandbox.stop)
    pause = blocking(aio.AsyncSandbox.pause)
    resume = blocking(aio.AsyncSandbox.resume)
    set_timeout = blocking(aio.AsyncSandbox.set_timeout)
    refresh_token = blocking(aio.AsyncSandbox.refresh_token)
    get_token = blocking(aio.AsyncSandbox.get_token)
    get_preview_url = blocking(aio.AsyncSandbox.get_preview_url)
    get_info = blocking(aio.AsyncSandbox.get_info)
    get_time_to_expiry = blocking(aio.AsyncSandbox.get_time_to_expiry)
    is_expiring_soon = blocking(aio.AsyncSandbox.is_expiring_soon)
    get_expiry_info = blocking(aio.AsyncSandbox.get_expiry_info)
    is_healthy = blocking(aio.AsyncSandbox.is_healthy)
    ensure_healthy = blocking(aio.AsyncSandbox.ensure_healthy)

    @property
    def agent_url(self) -> str:
        """The agent's preview URL (port 7777)."""
        return call("Sandbox.agent_url", self._inner.get_preview_url(7777))

    # -- execution ------------------------------------------------------------------------

    def run_code(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 120,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        preflight: bool = False,
        timeout_seconds: int | None = None,
    ) -> ExecutionResult:
        """Run code and wait for it.

        Args:
            code: the source to run.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ... as the template offers.
            timeout: how long the agent lets it run, in seconds.
            env: environment variables for this run only.
            working_dir: the directory it runs in.
            preflight: check first that the sandbox is alive (:meth:`ensure_healthy`).
            timeout_seconds: another spelling of ``timeout`` (the async API's).

        Returns:
            stdout, stderr, the exit code and the rich outputs (images, HTML, ...).

        Raises:
            CodeExecutionError: the agent could not run it.
            TimeoutError: no reply within ``timeout`` plus a margin.
        """
        return call(
            "Sandbox.run_code",
            self._inner.run_code(
                code,
                language=language,
                timeout_seconds=timeout,
                env=env,
                working_dir=working_dir,
                preflight=preflight,
                timeout=timeout_seconds,
            ),
        )

    def run_code_stream(
        self,
        code: str,
        *,
        language: str = "python",
        timeout: int = 60,
        env: dict[str, str] | None = None,
        working_dir: str = "/workspace",
        timeout_seconds: int | None = None,
    ) -> BlockingStream[ExecuteEvent]:
        """Output events (readable as dicts) until ``complete``, as an iterator.

        ``for event in sandbox.run_code_stream(...)``; put it in a ``with`` block to stop
        early: leaving the block closes the WebSocket, which stops the remote process.

        Args:
            code: the source to run.
            language: ``"python"``, ``"javascript"``, ``"bash"``, ... as the template offers.
            timeout: how long the agent lets it run, in seconds.
            env: environment variables for this run only.
            working_dir: the directory it runs in.
            timeout_seconds: another spelling of ``timeout`` (the reference page's).
        """
        return _stream(  # type: ignore[no-any-return]
            self._inner.run_code_stream(
                code,
                language=language,
                timeout=timeout,
                env=env,
                working_dir=working_dir,
                timeout_seconds=timeout_seconds,
            )
        )

    run_code_background = blocking(aio.AsyncSandbox.run_code_background)
    run_code_async = blocking(aio.AsyncSandbox.run_code_async)
    list_processes = blocking(aio.AsyncSandbox.list_processes)
    get_process_output = blocking(aio.AsyncSandbox.get_process_output)
    kill_process = blocking(aio.AsyncSandbox.kill_process)
    list_system_processes = blocking(aio.AsyncSandbox.list_system_processes)
    get_metrics_snapshot = blocking(aio.AsyncSandbox.get_metrics_snapshot)
    get_agent_metrics = blocking(aio.AsyncSandbox.get_agent_metrics)
    get_agent_info = blocking(aio.AsyncSandbox.get_agent_info)
    get_jupyter_sessions = blocking(aio.AsyncSandbox.get_jupyter_sessions)

    # -- resources ------------------------------------------------------------------------

    def _resource(self, name: str, make: Callable[[Any], S], inner: object) -> S:
        found = self._resources.get(name)
        if found is None:
            found = self._resources[name] = make(inner)
        return found  # type: ignore[return-value]

    @property
    def files(self) -> Files:
        """File operations."""
        return self._resource("files", Files, self._inner.files)

    @property
    def commands(self) -> Commands:
        """Shell commands."""
        return self._resource("commands", Commands, self._inner.commands)

    @property
    def env(self) -> EnvironmentVariables:
        """Sandbox-wide environment variables."""
        return self._resource("env", EnvironmentVariables, self._inner.env)

    @property
    def cache(self) -> Cache:
        """The agent's cache."""
        return self._resource("cache", Cache, self._inner.cache)

    @property
    def terminal(self) -> Terminal:
        """Interactive terminals."""
        return self._resource("terminal", Terminal, self._inner.terminal)

    @property
    def desktop(self) -> Desktop:
        """Desktop automation (templates with a desktop)."""
        return self._resource("desktop", Desktop, self._inner.desktop)

    # -- class-level API ------------------------------------------------------------------

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
    ) -> Self:
        """Create a sandbox and return it; ``with Sandbox.create(...) as sandbox:`` kills it
        on exit.

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

        Raises:
            TemplateNotFoundError: no template of that name (lists the available ones).
            ValidationError: the service refused the arguments.
            AuthenticationError: the API key was refused.
        """
        check_no_running_loop("Sandbox.create")  # before a coroutine exists to be left behind
        made = _AsyncSandbox.create(
            template,
            template_id=template_id,
            region=region,
            timeout_seconds=timeout_seconds,
            internet_access=internet_access,
            env_vars=env_vars,
            api_key=api_key,
            base_url=base_url,
            client=client,
        )
        return cls._wrap(call("Sandbox.create", _awaited(made)))

    @classmethod
    def connect(
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
            client: share a :class:`Client` instead of making one.

        Raises:
            NotFoundError: there is no such sandbox.
        """
        coro = _AsyncSandbox.connect(sandbox_id, api_key=api_key, base_url=base_url, client=client)
        return cls._wrap(call("Sandbox.connect", coro))

    @classmethod
    def list(
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
            client: share a :class:`Client` instead of making one.
        """
        coro = _AsyncSandbox.list(
            status=status,
            region=region,
            limit=limit,
            api_key=api_key,
            base_url=base_url,
            client=client,
        )
        return [cls._wrap(inner) for inner in call("Sandbox.list", coro)]

    @classmethod
    def iter(
        cls,
        *,
        status: str | None = None,
        region: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> Iterator[Self]:
        """Every sandbox, fetched lazily page by page, as an iterator.

        Args:
            status: only sandboxes in this state (``"running"``, ...).
            region: only sandboxes in this region.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` instead of making one.
        """
        events = _AsyncSandbox.iter(
            status=status, region=region, api_key=api_key, base_url=base_url, client=client
        )
        return _stream(events, cls._wrap)  # type: ignore[no-any-return]

    @classmethod
    def list_templates(
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
            client: share a :class:`Client` instead of making one.
        """
        coro = _AsyncSandbox.list_templates(
            category=category, language=language, api_key=api_key, base_url=base_url, client=client
        )
        return call("Sandbox.list_templates", coro)

    @classmethod
    def get_template(
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
            client: share a :class:`Client` instead of making one.

        Raises:
            NotFoundError: there is no such template.
        """
        coro = _AsyncSandbox.get_template(name, api_key=api_key, base_url=base_url, client=client)
        return call("Sandbox.get_template", coro)

    @classmethod
    def delete_template(
        cls,
        template_id: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        client: Client | None = None,
    ) -> dict[str, Any]:
        """Delete a custom template; the service's reply.

        Args:
            template_id: the template's id.
            api_key: the API key (``HOPX_API_KEY`` when ``None``).
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: share a :class:`Client` instead of making one.
        """
        coro = _AsyncSandbox.delete_template(
            template_id, api_key=api_key, base_url=base_url, client=client
        )
        return call("Sandbox.delete_template", coro)

    @classmethod
    def health_check(
        cls, *, base_url: str = DEFAULT_BASE_URL, client: Client | None = None
    ) -> dict[str, Any]:
        """The control plane's ``/health`` reply (no API key needed).

        Args:
            base_url: the control plane (``HOPX_BASE_URL`` overrides the default).
            client: ask through this :class:`Client` instead of a new one.
        """
        coro = _AsyncSandbox.health_check(base_url=base_url, client=client)
        return call("Sandbox.health_check", coro)

    @classmethod
    def debug(
        cls,
        agent_url: str,
        jwt_token: str,
        sandbox_id: str = "debug",
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """An object talking straight to an agent with a token, without the control plane.

        Args:
            agent_url: the agent's URL (``https://...``; ``wss://`` and ``ws://`` are read as
                ``https://`` and ``http://``).
            jwt_token: the agent token.
            sandbox_id: the id errors name.
            environ: the environment read for proxies (``os.environ`` when ``None``).

        Raises:
            HopxError: ``agent_url`` is not an ``http(s)``/``ws(s)`` URL.
        """
        if agent_url.startswith("wss://"):
            agent_url = "https://" + agent_url[len("wss://") :]
        elif agent_url.startswith("ws://"):
            agent_url = "http://" + agent_url[len("ws://") :]
        base = BaseURL.parse(agent_url, what="agent_url")
        if not jwt_token:
            raise HopxError("jwt_token must be a non-empty string")
        client = Client(
            BlockingBackend(environ), api_key="debug", base_url=DEFAULT_BASE_URL
        ).close_with_last_holder()
        inner = _AsyncSandbox(sandbox_id, client=client)
        inner.agent.adopt(
            SandboxInfo(sandbox_id=sandbox_id, status="running", public_host=str(base))
        )
        client.tokens[sandbox_id] = TokenState(token=jwt_token, expires_at=None)
        return cls._wrap(inner)
