"""Accepting connections without letting one failure stop the listener.

``Listener.serve`` ends at the first error of ``accept()``, and running out of file
descriptors (``EMFILE``) is such an error: one burst of clients would stop the whole
server. Here a failed accept is logged, waited out, and retried; a connection handler that
raises is logged and only its own connection ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
from anyio.streams.stapled import MultiListener

__all__ = ["ACCEPT_RETRY_DELAY", "serve_listener"]

log = logging.getLogger("hopx.local")

#: How long to wait after a failed accept() (e.g. no file descriptor left) before retrying.
ACCEPT_RETRY_DELAY = 0.1
#: At most one log line per this many seconds while accept() keeps failing.
_ACCEPT_LOG_INTERVAL = 5.0

Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


async def serve_listener(
    listener: MultiListener[anyio.abc.SocketStream], handler: Handler, *, plane: str
) -> None:
    """Accept connections on every socket of ``listener`` until cancelled or closed."""
    sockets = [one for one in listener.listeners if isinstance(one, anyio.abc.SocketListener)]
    if len(sockets) != len(listener.listeners):
        raise TypeError("serve_listener needs the socket listeners of create_tcp_listener()")
    async with anyio.create_task_group() as tg:
        for one in sockets:
            tg.start_soon(_accept_forever, one, handler, plane, tg)


async def _accept_forever(
    listener: anyio.abc.SocketListener,
    handler: Handler,
    plane: str,
    tg: anyio.abc.TaskGroup,
) -> None:
    last_logged: float | None = None
    while True:
        try:
            stream = await listener.accept()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        except OSError as exc:
            now = anyio.current_time()
            if last_logged is None or now - last_logged >= _ACCEPT_LOG_INTERVAL:
                log.warning("%s cannot accept connections: %s (retrying)", plane, exc)
                last_logged = now
            await anyio.sleep(ACCEPT_RETRY_DELAY)
            continue
        if last_logged is not None:
            log.info("%s accepting connections again", plane)
            last_logged = None
        tg.start_soon(_guarded, handler, stream, plane)


async def _guarded(handler: Handler, stream: anyio.abc.SocketStream, plane: str) -> None:
    try:
        await handler(stream)
    except Exception:
        log.exception("%s connection handler failed", plane)
        with anyio.CancelScope(shield=True):
            await stream.aclose()
