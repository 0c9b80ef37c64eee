"""The synchronous Sandbox against an emulator in its own process: a web server started in the
background is reached through ``get_preview_url``, and what it logged is read back with
``get_process_output``."""

from __future__ import annotations

import socket
import time

import pytest

from hopx_sync import Sandbox
from tests.e2e.emulator_process import EmulatorProcess

pytestmark = pytest.mark.slow

WEB_SERVER = """
import http.server, os
os.makedirs('/workspace/site', exist_ok=True)
with open('/workspace/site/hello.txt', 'w') as f:
    f.write('hello from the sandbox\\n')
os.chdir('/workspace/site')
print('serving', flush=True)
handler = http.server.SimpleHTTPRequestHandler
http.server.ThreadingHTTPServer(('127.0.0.1', 8080), handler).serve_forever()
"""


def _get(url: str, path: str) -> bytes:
    """A GET on a plain socket: ``*.localhost`` is connected to as 127.0.0.1, the name is
    sent as ``Host``."""
    authority = url.split("://", 1)[1].rstrip("/")
    port = int(authority.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_preview_and_background_output(local: EmulatorProcess) -> None:
    with Sandbox.create(template="code-interpreter", internet_access=False) as sb:
        started = sb.run_code_background(WEB_SERVER, name="web")
        url = sb.get_preview_url(8080)
        deadline = time.monotonic() + 60
        while True:
            reply = _get(url, "/hello.txt")
            if not reply.startswith(b"HTTP/1.1 502") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert reply.startswith(b"HTTP/1.0 200"), reply[:200]
        assert reply.endswith(b"hello from the sandbox\n")
        # http.server logs each request on stderr: the log is kept and read back.
        deadline = time.monotonic() + 60
        while True:
            output = sb.get_process_output(started["process_id"])
            if "GET /hello.txt" in output.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert output.stdout == "serving\n"
        assert "GET /hello.txt HTTP/1.1" in output.stderr
        assert output.status == "running"
        assert not output.complete
