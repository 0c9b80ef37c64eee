"""A pooled connection the server closed while it was idle is not reused (real sockets).

Servers close idle keep-alive connections on their own schedule (uvicorn after 5 s, for one),
often sooner than the pool's idle expiry. A request written on such a connection fails, and a
non-idempotent one cannot be retried; the pool must notice the close before it reuses one.
"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from hopx_proto._http import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_proto._url import BaseURL
from hopx_proto.aio._transport import HTTPTransport, Timeouts

from .real import drive, real_backends

pytestmark = pytest.mark.anyio


class ClosingServer:
    """Answers one request per connection with keep-alive, then closes it soon after."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[str] = []

    async def serve(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        async with stream:
            http = HTTPConnection(Role.SERVER)
            while (message := http.next_request()) is NEED_DATA:
                try:
                    http.receive_data(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
            assert isinstance(message, Request)
            self.requests.append(f"{message.method} {message.path}")
            reply = Response(200, (("content-type", "application/json"),), b"{}")
            await stream.send(http.send_response(reply))
            await anyio.sleep(0.05)  # then the idle connection is closed


async def test_a_connection_closed_while_idle_is_replaced(anyio_backend: str) -> None:
    for make_backend in real_backends(anyio_backend):
        server = ClosingServer()
        with anyio.fail_after(20):
            async with (
                await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
                anyio.create_task_group() as tg,
            ):
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                tg.start_soon(listener.serve, server.serve)
                backend = make_backend({})
                transport = HTTPTransport(backend, timeouts=Timeouts(read=5.0))
                base = BaseURL.parse(f"http://127.0.0.1:{port}")
                first = await drive(
                    backend, transport.request(base, Request("GET", "/health", (), b""))
                )
                assert first.status == 200
                assert transport.open_connections() == 1  # idle in the pool
                await anyio.sleep(0.3)  # the server has closed it meanwhile
                post = Request("POST", "/execute", (("content-type", "application/json"),), b"{}")
                second = await drive(backend, transport.request(base, post))
                assert second.status == 200, make_backend
                assert server.requests == ["GET /health", "POST /execute"]
                assert server.connections == 2
                await drive(backend, transport.aclose())
                tg.cancel_scope.cancel()
