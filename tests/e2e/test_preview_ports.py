"""Ports of a sandbox reached through ``get_preview_url``: HTTP (our transport, a raw socket
and curl), a WebSocket echo both ways, a 502 for a port nothing listens on, sandboxes with and
without internet access, and never a port of the host."""

from __future__ import annotations

import json
import shutil
import socket
from typing import Any

import anyio
import anyio.abc
import pytest
import wsproto
import wsproto.events

import hopx_local
from hopx_proto._errors import HopxError
from hopx_proto._http import Request, Response
from hopx_proto._url import BaseURL

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WEB_SERVER = """
import http.server, os, sys
os.makedirs('/workspace/site', exist_ok=True)
with open('/workspace/site/hello.txt', 'w') as f:
    f.write('hello from the sandbox\\n')
os.chdir('/workspace/site')
server = http.server.ThreadingHTTPServer(('127.0.0.1', PORT), http.server.SimpleHTTPRequestHandler)
with open('/workspace/port.txt', 'w') as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
"""

ECHO_SERVER = r"""
import base64, hashlib, socket, struct, threading
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def exact(c, n):
    data = b""
    while len(data) < n:
        got = c.recv(n - len(data))
        if not got:
            raise EOFError
        data += got
    return data

def serve(c):
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            got = c.recv(4096)
            if not got:
                return
            head += got
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            b1, b2 = exact(c, 2)
            op, n = b1 & 15, b2 & 127
            if n == 126:
                n = struct.unpack("!H", exact(c, 2))[0]
            elif n == 127:
                n = struct.unpack("!Q", exact(c, 8))[0]
            mask = exact(c, 4) if b2 & 128 else b"\0\0\0\0"
            raw = exact(c, n)
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(raw))
            if op == 8:
                c.sendall(b"\x88\x00")
                return
            if op in (1, 2):
                size = len(data)
                if size < 126:
                    frame = bytes([0x80 | op, size])
                elif size < 65536:
                    frame = bytes([0x80 | op, 126]) + struct.pack("!H", size)
                else:
                    frame = bytes([0x80 | op, 127]) + struct.pack("!Q", size)
                c.sendall(frame + data)
    except EOFError:
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765))
s.listen()
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


async def _get(sb: Any, url: str, path: str) -> Response:
    transport = sb._client.transport
    return await transport.request(BaseURL.parse(url), Request("GET", path))  # type: ignore[no-any-return]


async def _until_served(sb: Any, url: str, path: str) -> Response:
    """The first answer that is not a 502 (the server in the sandbox is starting)."""
    with anyio.fail_after(60):
        while True:
            response = await _get(sb, url, path)
            if response.status != 502:
                return response
            await anyio.sleep(0.2)


def _raw_get(agent_port: int, host: str, path: str) -> bytes:
    """A GET written on a plain socket to the agent's port, with the preview ``Host``."""
    with socket.create_connection(("127.0.0.1", agent_port), timeout=30) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_http_server_reached_through_preview_url(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(
        template="code-interpreter", internet_access=False
    ) as sb:
        info = await sb.get_info()
        agent_port = BaseURL.parse(info.public_host).port
        url = await sb.get_preview_url(8080)
        assert url == f"http://8080-{sb.sandbox_id}.localhost:{agent_port}/"
        assert await sb.agent_url == f"http://7777-{sb.sandbox_id}.localhost:{agent_port}/"
        await sb.run_code_background(WEB_SERVER.replace("PORT", "8080"), name="web")
        response = await _until_served(sb, url, "/hello.txt")
        assert response.status == 200
        assert response.body == b"hello from the sandbox\n"
        # Keep-alive on the same pooled connection, and a second request path.
        listing = await _get(sb, url, "/")
        assert listing.status == 200
        assert b"hello.txt" in (listing.body or b"")
        # A plain socket with the preview Host, no name resolution at all.
        host = f"8080-{sb.sandbox_id}.localhost:{agent_port}"
        raw = await anyio.to_thread.run_sync(_raw_get, agent_port, host, "/hello.txt")
        assert raw.startswith(b"HTTP/1.0 200")
        assert raw.endswith(b"hello from the sandbox\n")
        # The agent URL is the agent.
        health = await _get(sb, await sb.agent_url, "/health")
        assert health.status == 200
        assert json.loads(health.body or b"{}")["status"] == "healthy"
        # curl resolves names under .localhost to the loopback itself.
        curl = shutil.which("curl")
        if curl is None:
            pytest.skip("curl is not installed: the curl half of this test cannot run")
        done = await anyio.run_process(
            [curl, "-sS", "--noproxy", "*", "--max-time", "30", url + "hello.txt"], check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"hello from the sandbox\n"


async def test_websocket_echo_through_preview_url(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(
        template="code-interpreter", internet_access=False
    ) as sb:
        await sb.run_code_background(ECHO_SERVER, name="echo")
        url = await sb.get_preview_url(8765)
        base = BaseURL.parse(url)
        transport = sb._client.transport
        big = "x" * 200_000
        received: list[str] = []
        with anyio.fail_after(60):
            while True:  # until the server in the sandbox listens (502 before)
                stream = await transport.open_stream(base, timeout=30)
                ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
                handshake = wsproto.events.Request(host=base.host_header, target="/")
                await stream.send_all(ws.send(handshake))
                first = await stream.receive_some(65536)
                if not first.startswith(b"HTTP/1.1 502"):
                    break
                await stream.aclose()
                await anyio.sleep(0.2)
            try:
                ws.receive_data(first)
                pending = ""
                sent = False
                while True:
                    for event in ws.events():
                        if isinstance(event, wsproto.events.AcceptConnection) and not sent:
                            sent = True
                            await stream.send_all(ws.send(wsproto.events.Message(data="ping")))
                            await stream.send_all(ws.send(wsproto.events.Message(data=big)))
                        elif isinstance(event, wsproto.events.TextMessage):
                            pending += event.data
                            if event.message_finished:
                                received.append(pending)
                                pending = ""
                    if len(received) == 2:
                        break
                    data = await stream.receive_some(65536)
                    assert data, "the preview connection closed early"
                    ws.receive_data(data)
                await stream.send_all(ws.send(wsproto.events.CloseConnection(code=1000)))
            finally:
                await stream.aclose()
        assert received == ["ping", big]


async def test_dead_port_is_a_502_envelope(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        url = await sb.get_preview_url(9)
        response = await _get(sb, url, "/")
        assert response.status == 502
        doc = json.loads(response.body or b"{}")
        assert doc["code"] == "PORT_NOT_LISTENING"
        assert "port 9" in doc["error"]
        assert doc["details"] == {"sandbox_id": sb.sandbox_id, "port": 9}
        for bad in (0, 65536, -1, True, "8080"):
            with pytest.raises(HopxError, match="port must be"):
                await sb.get_preview_url(bad)


async def test_internet_sandbox_reaches_its_own_ports_only(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    """A sandbox in the host's network namespace: its server (on a port it picks) is reached;
    a port only the host listens on is a 502, never the host's service."""
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as host_listener,
        adapter.AsyncSandbox.create(template="code-interpreter", internet_access=True) as sb,
    ):
        host_port = host_listener.extra(anyio.abc.SocketAttribute.local_port)
        refused = await _get(sb, await sb.get_preview_url(host_port), "/")
        assert refused.status == 502
        assert json.loads(refused.body or b"{}")["code"] == "PORT_NOT_LISTENING"
        await sb.run_code_background(WEB_SERVER.replace("PORT", "0"), name="web")
        text = ""
        with anyio.fail_after(60):
            while True:  # until the server in the sandbox has bound its port
                if await sb.files.exists("/workspace/port.txt"):
                    text = await sb.files.read("/workspace/port.txt")
                    if text:
                        break
                await anyio.sleep(0.2)
        url = await sb.get_preview_url(int(text))
        response = await _until_served(sb, url, "/hello.txt")
        assert response.status == 200
        assert response.body == b"hello from the sandbox\n"


async def test_other_sandbox_host_is_refused(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        agent_port = BaseURL.parse((await sb.get_info()).public_host).port
        raw = await anyio.to_thread.run_sync(
            _raw_get, agent_port, f"8080-someoneelse.localhost:{agent_port}", "/"
        )
        assert raw.startswith(b"HTTP/1.1 404")
        assert b"someoneelse" in raw


def _ws_handshake(agent_port: int, host: str) -> tuple[socket.socket, bytes]:
    """A raw socket that asked the sandbox's port for a WebSocket, and the first answer bytes."""
    sock = socket.create_connection(("127.0.0.1", agent_port), timeout=30)
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock, sock.recv(65536)


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_connection_cap_idle_timeout_and_pause(
    adapter: Any, local: hopx_local.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._server import preview

    monkeypatch.setattr(preview, "MAX_CONNECTIONS", 1)
    async with adapter.AsyncSandbox.create(
        template="code-interpreter", internet_access=False
    ) as sb:
        await sb.run_code_background(ECHO_SERVER, name="echo")
        agent_port = BaseURL.parse((await sb.get_info()).public_host).port
        host = f"8765-{sb.sandbox_id}.localhost:{agent_port}"
        with anyio.fail_after(60):
            while True:
                first, answer = await anyio.to_thread.run_sync(_ws_handshake, agent_port, host)
                if not answer.startswith(b"HTTP/1.1 502"):
                    break
                first.close()
                await anyio.sleep(0.2)
        try:
            assert answer.startswith(b"HTTP/1.1 101"), answer
            # The one allowed connection is open: the next is refused, in the envelope.
            second = await anyio.to_thread.run_sync(_raw_get, agent_port, host, "/")
            assert second.startswith(b"HTTP/1.1 503"), second
            assert b"RESOURCE_LIMIT_EXCEEDED" in second
        finally:
            first.close()
        # A silent connection is closed by the emulator once it idled out.
        monkeypatch.setattr(preview, "IDLE_TIMEOUT", 1.0)
        with anyio.fail_after(60):
            while True:
                idle, answer = await anyio.to_thread.run_sync(_ws_handshake, agent_port, host)
                if answer.startswith(b"HTTP/1.1 101"):
                    break
                idle.close()  # the slot of the first connection is not free yet
                await anyio.sleep(0.2)
            with idle:
                assert await anyio.to_thread.run_sync(_read_to_end, idle) == b""
        await sb.pause()
        try:
            paused = await anyio.to_thread.run_sync(_raw_get, agent_port, host, "/")
            assert paused.startswith(b"HTTP/1.1 409"), paused
            assert b"SANDBOX_PAUSED" in paused
        finally:
            await sb.resume()
