"""Deadlines are deadlines: a server that drips a byte now and then cannot hold a call.

Each read of the client is bounded, but a server sending one byte every quarter of a second
never lets a read time out. The calls below must still end with the typed TimeoutError soon
after their overall deadline (their timeout plus the client's ``deadline_margin``), on both
event loops, and drop the connection they used. The server is real, on loopback: it answers
the lookups a sandbox needs at once and drips everything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest

from hopx_proto import TimeoutError
from hopx_proto.aio import AsyncSandbox, Client
from hopx_proto.ops import FILES_READ, FilePath

from .real import drive, loop_backends, real_backends

pytestmark = pytest.mark.anyio

#: Seconds between two bytes of a dripped reply: well under the client's read timeout.
DRIP = 0.25
#: The client's read timeout and deadline margin in these tests (seconds).
READ_TIMEOUT = 1.0
MARGIN = 0.5
#: How late after its deadline a call may end (the promise is one second).
LATE = 1.0
#: The most a dripped reply sends before the server gives up (a bound for the test).
DRIP_LIMIT = 200
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class DrippingServer:
    """Control plane and agent on one loopback port. ``GET /v1/sandboxes/sb1`` and the token
    refresh are answered at once; any other request gets a reply dripped byte by byte, and a
    WebSocket upgrade is accepted at once, then a text frame is dripped."""

    def __init__(self) -> None:
        self.port = 0
        self.dripping = 0  # connections being dripped to
        self.dropped = 0  # of those, the ones the client closed
        self.drop_seen = anyio.Event()
        self.requests: list[str] = []

    def routes(self, method: str, path: str) -> bytes | None:
        if method == "GET" and path == "/v1/sandboxes/sb1":
            body = {
                "id": "sb1",
                "status": "running",
                "public_host": f"http://127.0.0.1:{self.port}",
            }
        elif method == "POST" and path == "/v1/sandboxes/sb1/token/refresh":
            body = {"auth_token": "jwt-1", "token_expires_at": "2099-01-01T00:00:00Z"}
        else:
            return None
        data = json.dumps(body).encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )

    async def drip(self, stream: anyio.abc.ByteStream, data: bytes) -> None:
        self.dripping += 1
        try:
            for byte in data[:DRIP_LIMIT]:
                await stream.send(bytes([byte]))
                await anyio.sleep(DRIP)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self.dropped += 1
            self.drop_seen.set()
            return
        # Still connected after the whole drip: the client kept the connection.

    async def serve(self, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            buffer = b""
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = await stream.receive()
                        buffer += chunk
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    method, target, _ = lines[0].split(" ", 2)
                    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                    headers = {k.lower(): v for k, v in headers.items()}
                    length = int(headers.get("content-length", "0"))
                    while len(buffer) < length:
                        buffer += await stream.receive()
                    buffer = buffer[length:]
                    path = target.split("?", 1)[0]
                    self.requests.append(f"{method} {path}")
                    quick = self.routes(method, path)
                    if quick is not None:
                        await stream.send(quick)
                        continue
                    if headers.get("upgrade", "").lower() == "websocket":
                        key = headers["sec-websocket-key"].encode()
                        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
                        await stream.send(
                            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                            b"connection: Upgrade\r\nsec-websocket-accept: " + accept + b"\r\n\r\n"
                        )
                        text = json.dumps(
                            {"type": "stdout", "data": "x" * 60}
                        ).encode()  # under 126 bytes
                        await self.drip(stream, bytes([0x81, len(text)]) + text)
                        return
                    await self.drip(
                        stream,
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: 150\r\n\r\n" + b" " * 150,
                    )
                    return
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started()
            await listener.serve(self.serve)


Call = Callable[[AsyncSandbox, Client], Awaitable[Any]]


async def _create(_sandbox: AsyncSandbox, client: Client) -> Any:
    return await AsyncSandbox.create(template="code-interpreter", client=client)


async def _run_code(sandbox: AsyncSandbox, _client: Client) -> Any:
    return await sandbox.run_code("print(1)", timeout_seconds=1)


async def _files_read(sandbox: AsyncSandbox, _client: Client) -> Any:
    return await sandbox.files.read("/workspace/a.txt")


async def _run_code_stream(sandbox: AsyncSandbox, _client: Client) -> Any:
    return [event async for event in sandbox.run_code_stream("print(1)", timeout=3)]


#: Each call and its overall deadline in seconds: its own timeout plus the margin.
CALLS: list[tuple[str, Call, float]] = [
    ("create", _create, READ_TIMEOUT + MARGIN),
    ("run_code", _run_code, 1 + MARGIN),
    ("files.read", _files_read, READ_TIMEOUT + MARGIN),
    ("run_code_stream", _run_code_stream, 3 + MARGIN),
]


@pytest.mark.parametrize(("name", "call", "deadline"), CALLS, ids=[c[0] for c in CALLS])
async def test_a_dripping_server_cannot_hold_a_call(
    anyio_backend: str, name: str, call: Call, deadline: float
) -> None:
    for make_backend in real_backends(anyio_backend):
        server = DrippingServer()
        with anyio.fail_after(30):  # on a client without overall deadlines: a failure, not a hang
            async with anyio.create_task_group() as tg:
                await tg.start(server.run)
                client = Client(
                    make_backend({"HOPX_API_KEY": "key-1"}),
                    base_url=f"http://127.0.0.1:{server.port}",
                    timeout=READ_TIMEOUT,
                    max_retries=0,
                    deadline_margin=MARGIN,
                )
                sandbox = AsyncSandbox("sb1", client=client)
                started = anyio.current_time()
                with pytest.raises(TimeoutError) as info:
                    await drive(client.backend, call(sandbox, client))
                took = anyio.current_time() - started
                assert "deadline" in info.value.message, info.value.message
                # Not before its deadline (the reads alone never time out), and soon after it.
                assert deadline - 0.05 <= took <= deadline + LATE, (name, took)
                # The connection that was dripped to is closed, not kept for reuse.
                assert client.transport.open_connections() <= 1  # at most the idle lookup one
                with anyio.fail_after(5):
                    await server.drop_seen.wait()
                assert server.dripping == server.dropped == 1, server.requests
                await drive(client.backend, sandbox.aclose())
                await drive(client.backend, client.aclose())
                tg.cancel_scope.cancel()


async def test_the_deadline_can_be_turned_off_per_call(anyio_backend: str) -> None:
    """``deadline=None`` leaves only the per-read bound: the dripped call is still running
    well past what its deadline would have been (cancelled from the loop, hence on the
    loop's own backend)."""
    for make_backend in loop_backends(anyio_backend):
        server = DrippingServer()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await tg.start(server.run)
                client = Client(
                    make_backend({"HOPX_API_KEY": "key-1"}),
                    base_url=f"http://127.0.0.1:{server.port}",
                    timeout=READ_TIMEOUT,
                    max_retries=0,
                    deadline_margin=MARGIN,
                )
                sandbox = AsyncSandbox("sb1", client=client)
                agent = sandbox.agent
                with anyio.move_on_after(READ_TIMEOUT + MARGIN + 1.5) as scope:
                    await agent.call(FILES_READ, FilePath(path="/a"), deadline=None)
                assert scope.cancelled_caught  # still dripping: no deadline cut it short
                await sandbox.aclose()
                await client.aclose()
                tg.cancel_scope.cancel()
