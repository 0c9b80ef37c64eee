"""Running the emulator: the control-plane listener, the fleet, and orderly shutdown."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pathlib
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import attrs

from hopx_local._runtime.isolation import isolation_warning, resolve_isolation

from .connection import ServerLimits, serve_connection
from .control import ControlPlane
from .fleet import Fleet, FleetConfig, http_origin
from .listener import serve_listener
from .secrets_file import read_or_create

__all__ = ["LocalServer", "default_state_dir", "new_api_key", "serve"]

log = logging.getLogger("hopx.local")


@attrs.frozen
class LocalServer:
    """A running emulator.

    Attributes:
        base_url: the control plane's URL (``http://127.0.0.1:<port>``, or
            ``http://[::1]:<port>`` on the IPv6 loopback).
        api_key: the key clients send as ``X-API-Key``.
        state_dir: where the registry and the sandbox directories live.
        isolation: ``"bwrap"`` or ``"none"``: how sandboxed code is confined.
        warning: what to tell users when sandboxes are not isolated (``None`` when they are).
        host, port: where the control plane listens.
    """

    base_url: str
    api_key: str
    state_dir: pathlib.Path
    isolation: str
    warning: str | None
    host: str
    port: int
    fleet: Fleet = attrs.field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """``HOPX_BASE_URL`` and ``HOPX_API_KEY`` for clients of this server."""
        return {"HOPX_BASE_URL": self.base_url, "HOPX_API_KEY": self.api_key}


def new_api_key() -> str:
    """A fresh random API key."""
    return f"sk_local_{secrets.token_hex(16)}"


def default_state_dir() -> pathlib.Path:
    """``$XDG_DATA_HOME/hopx-local``, else ``~/.local/share/hopx-local``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return pathlib.Path(base) / "hopx-local"


def _stored_key(state_dir: pathlib.Path) -> str:
    """The generated key kept in the state directory, so restarts keep it."""

    def readable(data: bytes) -> bool:
        try:
            return bool(data.decode("ascii").strip())
        except UnicodeDecodeError:
            return False

    stored = read_or_create(
        state_dir / "api_key", lambda: (new_api_key() + "\n").encode(), valid=readable
    )
    return stored.decode("ascii").strip()


def _absolute(path: str | os.PathLike[str]) -> pathlib.Path:
    return pathlib.Path(os.path.abspath(os.path.expanduser(path)))


def _bare_host(host: str) -> str:
    """The address to bind: ``[::1]`` (as written in URLs) becomes ``::1``."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


@contextlib.asynccontextmanager
async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    isolation: str = "auto",
    max_sandboxes: int | None = None,
    token_lifetime: int = 24 * 3600,
    limits: ServerLimits | None = None,
    python_kernel: bool = True,
) -> AsyncIterator[LocalServer]:
    """Run the emulator inside the current event loop (asyncio or trio).

    ``state_dir=None`` uses a temporary directory removed on exit. The API key is
    ``api_key``, else ``$HOPX_API_KEY``, else a random one generated on first use and kept
    in the state directory (so a restart keeps it). Leaving the block kills
    every sandbox process and closes every socket; sandbox records and files stay in a
    named ``state_dir``. With ``python_kernel`` (and ipykernel installed: the ``kernel``
    extra) Python runs in a Jupyter kernel per sandbox, as in the service's
    code-interpreter; ``False`` runs each Python execution in a fresh interpreter.
    """
    if isolation not in ("auto", "bwrap", "none"):
        raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', not {isolation!r}")
    if max_sandboxes is not None and max_sandboxes < 1:
        raise ValueError("max_sandboxes must be at least 1")
    host = _bare_host(host)
    temp_dir: str | None = None
    if state_dir is None:
        temp_dir = tempfile.mkdtemp(prefix="hopx-local-")
        state_path = pathlib.Path(temp_dir)
    else:
        state_path = _absolute(state_dir)
    key = api_key or os.environ.get("HOPX_API_KEY") or _stored_key(state_path)
    mode = await anyio.to_thread.run_sync(resolve_isolation, isolation)
    server_limits = limits or ServerLimits()
    try:
        fleet = Fleet(
            FleetConfig(
                state_dir=state_path,
                isolation=mode,
                host=host,
                max_sandboxes=max_sandboxes,
                token_lifetime=token_lifetime,
                limits=server_limits,
                python_kernel=python_kernel,
            )
        )
        try:
            listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        except BaseException:
            fleet.close()
            raise
        bound = int(listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port))
        fleet.builds.origin = http_origin(host, bound)
        control = ControlPlane(fleet, key)
        handler = functools.partial(
            serve_connection, app=control, limits=server_limits, plane="control"
        )
        server = LocalServer(
            base_url=http_origin(host, bound),
            api_key=key,
            state_dir=state_path,
            isolation=mode.value,
            warning=isolation_warning(mode),
            host=host,
            port=bound,
            fleet=fleet,
        )
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                await fleet.open(tg)
                tg.start_soon(functools.partial(serve_listener, listener, handler, plane="control"))
                log.info("control plane on %s (isolation: %s)", server.base_url, mode.value)
                try:
                    yield server
                except Exception as exc:  # noqa: BLE001  (re-raised below, unwrapped)
                    failure = exc
                finally:
                    await fleet.aclose()
                    tg.cancel_scope.cancel()
            if failure is not None:
                # The caller's own error, not wrapped in the server's task group.
                raise failure
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
            fleet.close()
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
