"""Preview URLs: any TCP port of a sandbox, reached through its agent's listener.

A request whose ``Host`` is ``<port>-<sandbox id>.localhost[:<agent port>]`` is not an agent
request: it is passed, as it came, to ``port`` on the sandbox's own loopback, and from then on
the connection carries bytes both ways untouched (keep-alive requests, streamed bodies,
server-sent events and WebSocket upgrades alike), until either side closes or it idles out.
``7777`` (the agent's port in a HOPX VM) and any other ``Host`` mean the agent itself.

Names under ``.localhost`` are the loopback by definition (RFC 6761): browsers and curl resolve
them without any DNS set-up, and the client of this project does too. Each port is its own
origin in a browser (its cookies and storage are its own), and a page's absolute links
(``/static/app.js``) work unchanged, which a path prefix would break.

Bounded: at most :data:`MAX_CONNECTIONS` preview connections per sandbox (503 beyond), a
connect deadline, an idle deadline over both directions and a deadline on every write. The
connection into the sandbox is made as :mod:`hopx_local._runtime.ports` describes, so only
the sandbox's own ports are ever reached. A port nothing listens on gets a 502 envelope.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from hopx_local._runtime.ports import PortUnreachable, connect_port, valid_port

from .envelope import Problem

if TYPE_CHECKING:
    from .connection import Exchange
    from .fleet import LiveSandbox

__all__ = [
    "AGENT_PORT",
    "CONNECT_TIMEOUT",
    "IDLE_TIMEOUT",
    "MAX_CONNECTIONS",
    "preview_port",
    "preview_origin",
    "serve_preview",
]

log = logging.getLogger("hopx.local")

#: The port that names the agent itself, as in a HOPX VM.
AGENT_PORT = 7777
#: Preview connections one sandbox may have open at once.
MAX_CONNECTIONS = 64
#: How long connecting to the sandbox's port may take, in seconds.
CONNECT_TIMEOUT = 10.0
#: How long a preview connection may carry no byte in either direction, in seconds.
IDLE_TIMEOUT = 600.0
_READ_SIZE = 65536

_HOST = re.compile(r"^(\d{1,10})-([a-z0-9]+)\.localhost\.?$")


def preview_origin(sandbox_id: str, agent_port: int) -> str:
    """The sandbox's preview origin without a port prefix: ``http://<id>.localhost:<port>``.

    Args:
        sandbox_id: the sandbox's id.
        agent_port: the port its agent listens on.

    Returns:
        The origin; a port's URL is ``http://<port>-<id>.localhost:<agent port>/``.
    """
    return f"http://{sandbox_id}.localhost:{agent_port}"


def preview_port(host: str | None, sandbox_id: str) -> int | None:
    """The sandbox port a request's ``Host`` names, or ``None`` for the agent itself.

    Args:
        host: the ``Host`` header (``None`` when absent).
        sandbox_id: the sandbox whose agent received the request.

    Returns:
        The port to pass the request to; ``None`` when the request is for the agent (no
        preview host, or port 7777).

    Raises:
        Problem: 404 when the host names another sandbox, 400 when its port is not a TCP
            port number.
    """
    if not host:
        return None
    name = host.strip().lower()
    if not name.startswith("["):
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    found = _HOST.match(name)
    if found is None:
        return None
    port, named = int(found.group(1)), found.group(2)
    if named != sandbox_id:
        raise Problem(
            404,
            f"Host {host!r} names sandbox {named}; this address serves sandbox {sandbox_id}",
            code="NOT_FOUND",
            details={"sandbox_id": sandbox_id, "host": host},
        )
    if not valid_port(port):
        raise Problem(
            400,
            f"Host {host!r} names port {port}, which is not a TCP port (1 to 65535)",
            code="INVALID_REQUEST",
            details={"port": port},
        )
    return None if port == AGENT_PORT else port


def _head_bytes(exchange: Exchange) -> bytes:
    """The request head, as the sandbox's server is to receive it."""
    head = exchange.head
    lines = [f"{head.method} {head.target} HTTP/1.1".encode("latin-1")]
    lines += [name + b": " + value for name, value in head.headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _splice(
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.SocketStream,
    *,
    idle: float,
    write_timeout: float,
) -> None:
    """Carry bytes both ways until the sandbox's side ends, either side fails, or nothing
    moves for ``idle`` seconds. The client's end of stream is passed on as a half close (the
    server may still answer); the server's ends the connection."""
    last = anyio.current_time()

    async def pump(
        source: anyio.abc.ByteStream,
        sink: anyio.abc.ByteStream,
        scope: anyio.CancelScope,
        *,
        half_close: bool,
    ) -> None:
        nonlocal last
        try:
            while True:
                try:
                    data = await source.receive(_READ_SIZE)
                except anyio.EndOfStream:
                    break
                with anyio.fail_after(write_timeout):
                    await sink.send(data)
                last = anyio.current_time()
            if half_close and isinstance(sink, anyio.abc.SocketStream):
                await sink.send_eof()
                return
        except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        scope.cancel()

    async with anyio.create_task_group() as tg:
        scope = tg.cancel_scope
        tg.start_soon(functools.partial(pump, client, upstream, scope, half_close=True))
        tg.start_soon(functools.partial(pump, upstream, client, scope, half_close=False))
        while True:
            await anyio.sleep(max(0.0, last + idle - anyio.current_time()))
            if anyio.current_time() - last >= idle:
                scope.cancel()


async def serve_preview(live: LiveSandbox, exchange: Exchange, port: int) -> None:
    """Pass ``exchange`` and the rest of its connection to ``port`` in the sandbox.

    Args:
        live: the running sandbox.
        exchange: the request that named the port in its ``Host``.
        port: the sandbox's port.

    Raises:
        Problem: 409 when the sandbox is paused, 503 when it has :data:`MAX_CONNECTIONS`
            preview connections already, 502 when nothing of the sandbox accepts connections
            on ``port``.
    """
    runtime = live.runtime
    if runtime.paused:
        raise Problem(409, f"Sandbox {live.id} is paused; resume it first", code="SANDBOX_PAUSED")
    if live.previews >= MAX_CONNECTIONS:
        raise Problem(
            503,
            f"Sandbox {live.id} has {MAX_CONNECTIONS} preview connections open already",
            code="RESOURCE_LIMIT_EXCEEDED",
            details={"limit": MAX_CONNECTIONS, "port": port},
        )
    live.previews += 1
    try:
        processes = runtime.processes
        connected: list[socket.socket] = []

        def connect() -> socket.socket:
            sock = connect_port(processes.init_pid, port, processes.pids, timeout=CONNECT_TIMEOUT)
            connected.append(sock)
            return sock

        try:
            sock = await anyio.to_thread.run_sync(connect)
        except BaseException as exc:
            # Cancelled while the thread connected: the thread's socket is nobody's but ours.
            for orphan in connected:
                orphan.close()
            if not isinstance(exc, PortUnreachable):
                raise
            raise Problem(
                502,
                f"Nothing in sandbox {live.id} accepts connections on port {port}: {exc.reason}",
                code="PORT_NOT_LISTENING",
                details={"sandbox_id": live.id, "port": port},
            ) from None
        try:
            upstream = await anyio.abc.SocketStream.from_socket(sock)
        except BaseException:
            sock.close()
            raise
        async with upstream:
            stream, trailing = exchange.take_over()
            limits = exchange.limits
            try:
                with anyio.fail_after(limits.write_timeout):
                    await upstream.send(_head_bytes(exchange) + trailing)
            except (OSError, TimeoutError, anyio.BrokenResourceError):
                return
            await _splice(stream, upstream, idle=IDLE_TIMEOUT, write_timeout=limits.write_timeout)
    finally:
        live.previews -= 1
