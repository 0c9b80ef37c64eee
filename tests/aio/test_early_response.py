"""A server that answers an upload before reading its body, then closes (RFC 9112 section 9.3).

The client fails while still sending; the reply already waiting on the connection is the
result, mapped to its typed error, with no retry and no connection left open. First over the
scripted in-memory network, then over real loopback sockets on both event loops.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import pytest

from hopx_proto._errors import (
    AgentError,
    AuthenticationError,
    FileOperationError,
    NetworkError,
)
from hopx_proto._http import (
    NEED_DATA,
    EndOfMessage,
    HTTPConnection,
    Request,
    RequestHead,
    Response,
    Role,
)
from hopx_proto._url import BaseURL
from hopx_proto.aio import AsyncSandbox, Client
from hopx_proto.aio._transport import HTTPTransport, Timeouts

from .fake import (
    AGENT_HOST,
    Action,
    AnswerEarly,
    FakeBackend,
    Reply,
    ScriptedServer,
    make_client,
    sandbox_json,
    token_json,
)
from .real import drive, real_backends

pytestmark = pytest.mark.anyio

DENIED = {"error": "writing to /etc is not allowed", "code": "PERMISSION_DENIED"}
UPLOAD_SIZE = 8 * 1024 * 1024


def control_routes(request: Request) -> Action:
    if request.method == "GET" and request.path == "/v1/sandboxes/sb1":
        return Reply(json=sandbox_json())
    if request.method == "POST" and request.path == "/v1/sandboxes/sb1/token/refresh":
        return Reply(json=token_json())
    if request.method == "POST" and request.path == "/files/upload":
        return Reply(json={"success": True, "path": "/workspace/up.bin"})
    return Reply(404, {"error": {"code": "not_found", "message": request.path}})


def uploads_answered(answer: AnswerEarly) -> Callable[[RequestHead], AnswerEarly | None]:
    def early(head: RequestHead) -> AnswerEarly | None:
        return answer if head.target.split("?")[0] == "/files/upload" else None

    return early


def big_file(tmp_path: pathlib.Path, size: int = 2 * 1024 * 1024) -> pathlib.Path:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(1024) * (size // 1024))
    return source


async def scripted_upload(
    tmp_path: pathlib.Path, answer: AnswerEarly
) -> tuple[ScriptedServer, FakeBackend, AsyncSandbox, pathlib.Path]:
    server = ScriptedServer(control_routes, early=uploads_answered(answer))
    client, backend = make_client(server)
    return server, backend, AsyncSandbox("sb1", client=client), big_file(tmp_path)


def agent_connections(server: ScriptedServer) -> int:
    return sum(1 for host in server.hosts if f"http://{host[0]}:{host[1]}" == AGENT_HOST)


# ---------------------------------------------------------------------------------------------
# Over the scripted network


@pytest.mark.parametrize("after", [0, 300_000])
async def test_early_403_is_the_typed_error_without_a_retry(
    tmp_path: pathlib.Path, after: int
) -> None:
    server, backend, sb, source = await scripted_upload(
        tmp_path, AnswerEarly(Reply(403, DENIED), after=after)
    )
    with pytest.raises(FileOperationError) as info:
        await sb.files.upload(source, "/etc/up.bin")
    assert info.value.status_code == 403
    assert info.value.code == "PERMISSION_DENIED"
    assert info.value.path == "/etc/up.bin"
    assert "not allowed" in info.value.message
    assert len(server.early_heads) == 1  # one attempt
    assert agent_connections(server) == 1
    assert backend.sleeps == []
    assert not any(r.path == "/files/upload" for r in server.requests)  # never read whole
    assert sb.client.transport.open_connections() == 1  # only the idle control connection
    await sb.aclose()
    assert server.open_now == 0


async def test_early_413_without_a_known_code_maps_by_status(tmp_path: pathlib.Path) -> None:
    too_big = Reply(413, {"error": "request body too large"})
    server, backend, sb, source = await scripted_upload(tmp_path, AnswerEarly(too_big))
    with pytest.raises(AgentError) as info:
        await sb.files.upload(source, "/workspace/up.bin")
    assert type(info.value) is AgentError
    assert info.value.status_code == 413
    assert info.value.message == "request body too large"
    assert len(server.early_heads) == 1
    assert backend.sleeps == []
    await sb.aclose()
    assert server.open_now == 0


async def test_early_401_refreshes_the_token_once_then_raises(tmp_path: pathlib.Path) -> None:
    unauthorized = Reply(401, {"error": "token rejected", "code": "UNAUTHORIZED"})
    server, backend, sb, source = await scripted_upload(tmp_path, AnswerEarly(unauthorized))
    with pytest.raises(AuthenticationError) as info:
        await sb.files.upload(source, "/workspace/up.bin")
    assert info.value.status_code == 401
    refreshes = [r for r in server.requests if r.path.endswith("/token/refresh")]
    assert len(refreshes) == 2  # the first token, and the one refresh after the 401
    assert len(server.early_heads) == 2  # the upload, and its one repeat with the new token
    assert backend.sleeps == []
    await sb.aclose()
    assert server.open_now == 0


async def test_a_close_without_a_reply_mid_body_is_not_retried(tmp_path: pathlib.Path) -> None:
    server, backend, sb, source = await scripted_upload(tmp_path, AnswerEarly(None, after=1000))
    with pytest.raises(NetworkError) as info:
        await sb.files.upload(source, "/workspace/up.bin")
    assert "sending POST /files/upload failed" in info.value.message
    assert info.value.request_sent  # the head was out: a POST is not repeated blindly
    assert len(server.early_heads) == 1
    assert backend.sleeps == []
    await sb.aclose()
    assert server.open_now == 0


async def test_an_early_success_is_not_taken_for_a_finished_upload(
    tmp_path: pathlib.Path,
) -> None:
    done = Reply(json={"success": True, "path": "/workspace/up.bin"})
    server, backend, sb, source = await scripted_upload(tmp_path, AnswerEarly(done, after=10))
    with pytest.raises(NetworkError) as info:
        await sb.files.upload(source, "/workspace/up.bin")
    assert info.value.request_sent
    assert len(server.early_heads) == 1
    assert backend.sleeps == []
    await sb.aclose()


async def test_an_early_reply_cut_short_keeps_its_status(tmp_path: pathlib.Path) -> None:
    server = ScriptedServer(control_routes)
    client, _backend = make_client(server)
    transport = client.transport
    payload = json.dumps(DENIED).encode()
    raw = (
        b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(payload) + payload[:20]
    )

    class Refusing:
        """Takes the head, then has the reply (cut short) waiting and fails every write."""

        def __init__(self) -> None:
            self.writes = 0
            self.pending = [raw, b""]
            self.closed = False

        async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
            self.writes += 1
            if self.writes > 1:
                raise NetworkError("connection reset by peer")

        async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
            return self.pending.pop(0)

        async def aclose(self) -> None:
            self.closed = True

    stream = Refusing()

    async def connect(*_a: Any, **_k: Any) -> Refusing:
        return stream

    backend: Any = transport.backend
    backend.connect_tcp = connect

    async def body() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 1000

    response = await transport.request(
        BaseURL.parse(AGENT_HOST),
        Request("POST", "/files/upload", (("content-length", "4000"),), None),
        upload=body(),
    )
    assert response.status == 403
    assert response.body == payload[:20]
    assert stream.closed
    assert transport.open_connections() == 0
    await client.aclose()


async def test_a_failed_head_write_still_counts_as_never_sent() -> None:
    client, _backend = make_client(ScriptedServer(control_routes))
    transport = client.transport

    class Dead:
        closed = False

        async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
            raise NetworkError("broken pipe")

        async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
            return b""

        async def aclose(self) -> None:
            self.closed = True

    dead = Dead()

    async def connect(*_a: Any, **_k: Any) -> Dead:
        return dead

    backend: Any = transport.backend
    backend.connect_tcp = connect
    with pytest.raises(NetworkError) as info:
        await transport.request(BaseURL.parse(AGENT_HOST), Request("POST", "/x", (), b"{}"))
    assert not info.value.request_sent
    assert dead.closed
    await client.aclose()


# ---------------------------------------------------------------------------------------------
# Over real loopback sockets


def socket_fds() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


class LoopbackServer:
    """Control plane and agent on two loopback listeners; the agent refuses every upload
    as soon as it has read the head, then closes without reading the body."""

    def __init__(self, status: int, reply: dict[str, Any]) -> None:
        self.status = status
        self.reply = json.dumps(reply).encode()
        self.uploads = 0
        self.upload_bytes_read = 0
        self.control_port = 0
        self.agent_port = 0

    async def serve_control(self, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            http = HTTPConnection(Role.SERVER)
            while True:
                message = http.next_request()
                if message is NEED_DATA:
                    try:
                        http.receive_data(await stream.receive())
                    except anyio.EndOfStream:
                        http.receive_data(b"")
                    continue
                if not isinstance(message, Request):
                    return
                if message.path == "/v1/sandboxes/sb1":
                    body = sandbox_json(public_host=f"http://127.0.0.1:{self.agent_port}")
                elif message.path == "/v1/sandboxes/sb1/token/refresh":
                    body = token_json()
                else:
                    body = {"error": {"code": "not_found", "message": message.path}}
                data = json.dumps(body).encode()
                await stream.send(
                    http.send_response(Response(200, (("content-type", "application/json"),), data))
                )
                http.start_next_cycle()

    async def serve_agent(self, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            http = HTTPConnection(Role.SERVER)
            while True:
                event = http.next_event()
                if event is NEED_DATA:
                    http.receive_data(await stream.receive())
                    continue
                if isinstance(event, RequestHead):
                    self.uploads += 1
                    self.upload_bytes_read = 0
                    headers = (("content-type", "application/json"), ("connection", "close"))
                    await stream.send(
                        http.send_response(Response(self.status, headers, self.reply))
                    )
                    return  # closes with the body unread (the kernel answers it with a reset)
                assert not isinstance(event, EndOfMessage), "the whole body was read"

    async def run(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        control = await anyio.create_tcp_listener(local_host="127.0.0.1")
        agent = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.control_port = control.extra(anyio.abc.SocketAttribute.local_port)
        self.agent_port = agent.extra(anyio.abc.SocketAttribute.local_port)
        async with control, agent, anyio.create_task_group() as tg:
            tg.start_soon(control.serve, self.serve_control)
            tg.start_soon(agent.serve, self.serve_agent)
            task_status.started()


@pytest.mark.parametrize(
    ("status", "reply", "error"),
    [
        (403, DENIED, FileOperationError),
        (403, {"error": "uploads are switched off", "code": "FORBIDDEN"}, AgentError),
    ],
)
async def test_real_server_refusing_an_upload_early(
    tmp_path: pathlib.Path,
    anyio_backend: str,
    status: int,
    reply: dict[str, Any],
    error: type[AgentError],
) -> None:
    source = big_file(tmp_path, UPLOAD_SIZE)
    for make_backend in real_backends(anyio_backend):
        baseline = socket_fds()
        server = LoopbackServer(status, reply)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await tg.start(server.run)
                backend = make_backend({"HOPX_API_KEY": "key-1"})
                client = Client(backend, base_url=f"http://127.0.0.1:{server.control_port}")
                sb = AsyncSandbox("sb1", client=client.close_with_last_holder())
                with pytest.raises(error) as info:
                    await drive(backend, sb.files.upload(source, "/etc/up.bin"))
                assert info.value.status_code == status, make_backend
                assert info.value.message == reply["error"]
                assert server.uploads == 1  # no retry
                assert client.transport.open_connections() == 1  # the idle control one
                await drive(backend, sb.aclose())
                assert client.transport.open_connections() == 0
                tg.cancel_scope.cancel()
        await anyio.sleep(0.01)
        assert socket_fds() == baseline, make_backend


async def test_real_server_without_a_reply_leaves_a_network_error(anyio_backend: str) -> None:
    """The agent resets the connection with no reply: the failed write stands, counted as sent
    once the head is out, and a POST is not repeated."""

    async def serve(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await stream.receive()  # the head (and maybe some body), then a close

    for make_backend in real_backends(anyio_backend):
        baseline = socket_fds()
        with anyio.fail_after(30):
            async with (
                await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
                anyio.create_task_group() as tg,
            ):
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                tg.start_soon(listener.serve, serve)
                backend = make_backend({})
                transport = HTTPTransport(backend, timeouts=Timeouts(read=5.0))

                async def body() -> AsyncIterator[bytes]:
                    chunk = b"x" * (256 * 1024)
                    for _ in range(UPLOAD_SIZE // len(chunk)):
                        yield chunk

                with pytest.raises(NetworkError) as info:
                    await drive(
                        backend,
                        transport.request(
                            BaseURL.parse(f"http://127.0.0.1:{port}"),
                            Request(
                                "POST",
                                "/files/upload",
                                (("content-length", str(UPLOAD_SIZE)),),
                                None,
                            ),
                            upload=body(),
                        ),
                    )
                assert info.value.request_sent, make_backend
                assert transport.open_connections() == 0
                await drive(backend, transport.aclose())
                tg.cancel_scope.cancel()
        await anyio.sleep(0.01)
        assert socket_fds() == baseline, make_backend
