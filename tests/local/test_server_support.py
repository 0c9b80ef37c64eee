"""Raw HTTP and WebSocket clients for the emulator tests, built on the protocol machines.

Every network wait is bounded. Imported by the ``test_server_*`` modules; holds no tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import anyio
import anyio.abc

from hopx_proto._http import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_proto._url import BaseURL
from hopx_proto._ws import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    TextMessage,
    WebSocket,
)

WAIT = 30.0

Header = tuple[str, str]


class RawHTTP:
    """One keep-alive HTTP/1.1 connection to ``base_url``."""

    def __init__(self, base: BaseURL, stream: anyio.abc.ByteStream) -> None:
        self.base = base
        self.stream = stream
        self.conn = HTTPConnection(Role.CLIENT)

    @classmethod
    async def connect(cls, base_url: str) -> RawHTTP:
        base = BaseURL.parse(base_url)
        with anyio.fail_after(WAIT):
            stream = await anyio.connect_tcp(base.host, base.port)
        return cls(base, stream)

    async def send_bytes(self, data: bytes) -> None:
        with anyio.fail_after(WAIT):
            await self.stream.send(data)

    async def read_response(self) -> Response:
        with anyio.fail_after(WAIT):
            while True:
                message = self.conn.next_message()
                if isinstance(message, Response):
                    return message
                if message is not NEED_DATA:
                    raise AssertionError(f"connection closed: {message!r}")
                try:
                    data = await self.stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
                self.conn.receive_data(data)

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Iterable[Header] = (),
        body: bytes = b"",
        json_body: Any = None,
    ) -> Response:
        hdrs: list[Header] = [("host", self.base.host_header), *headers]
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.append(("content-type", "application/json"))
        if self.conn.is_reusable:
            self.conn.start_next_cycle()
        await self.send_bytes(self.conn.send_request(Request(method, target, tuple(hdrs), body)))
        return await self.read_response()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def call(
    base_url: str,
    method: str,
    target: str,
    *,
    headers: Iterable[Header] = (),
    body: bytes = b"",
    json_body: Any = None,
) -> Response:
    """One request on a fresh connection."""
    client = await RawHTTP.connect(base_url)
    try:
        return await client.request(method, target, headers=headers, body=body, json_body=json_body)
    finally:
        await client.aclose()


def doc(response: Response) -> Any:
    """The JSON body of a response."""
    return json.loads(response.body or b"null")


def api(key: str) -> list[Header]:
    return [("x-api-key", key)]


def bearer(token: str) -> list[Header]:
    return [("authorization", f"Bearer {token}")]


async def create_sandbox(base_url: str, key: str, **body: Any) -> dict[str, Any]:
    """Create a sandbox (``code-interpreter`` unless told) and return the reply."""
    body.setdefault("template_name", "code-interpreter")
    response = await call(base_url, "POST", "/v1/sandboxes", headers=api(key), json_body=body)
    assert response.status == 201, response.body
    reply: dict[str, Any] = doc(response)
    return reply


class RawWebSocket:
    """A client WebSocket to an agent path."""

    def __init__(self, stream: anyio.abc.ByteStream, ws: WebSocket) -> None:
        self.stream = stream
        self.ws = ws
        self.closed: CloseReceived | None = None
        self.accepted: Accepted | None = None

    @classmethod
    async def connect(cls, base_url: str, path: str, token: str | None) -> RawWebSocket:
        base = BaseURL.parse(base_url)
        ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
        with anyio.fail_after(WAIT):
            stream = await anyio.connect_tcp(base.host, base.port)
        headers = bearer(token) if token else []
        client = cls(stream, ws)
        await client._send(ws.connect(base, path, headers=headers))
        with anyio.fail_after(WAIT):
            while True:
                try:
                    event = ws.next_event()
                except BaseException:
                    await stream.aclose()
                    raise
                if isinstance(event, Accepted):
                    client.accepted = event
                    return client
                if event is NEED_DATA:
                    ws.receive_data(await client._recv())

    async def _send(self, data: bytes) -> None:
        with anyio.fail_after(WAIT):
            await self.stream.send(data)

    async def _recv(self) -> bytes:
        try:
            return await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return b""

    async def send_json(self, value: Any) -> None:
        await self._send(self.ws.send_text(json.dumps(value)))

    async def receive_json(self) -> dict[str, Any] | None:
        """The next JSON message, or None once the server closed."""
        with anyio.fail_after(WAIT):
            while True:
                event = self.ws.next_event()
                if isinstance(event, TextMessage | BinaryMessage):
                    raw = event.text if isinstance(event, TextMessage) else event.data
                    if not raw.strip():
                        continue
                    value: dict[str, Any] = json.loads(raw)
                    return value
                if isinstance(event, CloseReceived):
                    self.closed = event
                    reply = self.ws.data_to_send()
                    if reply:
                        try:
                            await self._send(reply)
                        except (anyio.BrokenResourceError, OSError):
                            pass
                    return None
                if event is NEED_DATA:
                    self.ws.receive_data(await self._recv())
                else:
                    reply = self.ws.data_to_send()
                    if reply:
                        await self._send(reply)

    async def output_until(self, text: str) -> str:
        """Terminal ``output`` received until it contains ``text`` (fails after 20 s)."""
        seen = ""
        with anyio.fail_after(20):
            while text not in seen:
                message = await self.receive_json()
                assert message is not None, f"closed before {text!r} appeared in {seen!r}"
                if message["type"] == "output":
                    seen += message["data"]
        return seen

    async def messages_until_close(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while (message := await self.receive_json()) is not None:
            found.append(message)
        return found

    async def close(self) -> None:
        try:
            await self._send(self.ws.send_close(1000))
        except Exception:  # noqa: BLE001  (already closed by the server)
            pass
        await self.stream.aclose()


def read_base_url(proc: subprocess.Popen[str]) -> str:
    """The control plane's URL from the banner of a ``hopx-local serve`` child process; the
    process is killed if it has not printed it within ``WAIT`` seconds."""
    assert proc.stdout is not None
    watchdog = threading.Timer(WAIT, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            if "HOPX_BASE_URL=" in line:
                return line.split("HOPX_BASE_URL=", 1)[1].strip()
    finally:
        watchdog.cancel()
    raise AssertionError("hopx-local serve did not print its URL")


def start_serve(
    state_dir: pathlib.Path, key: str, log: pathlib.Path, *options: str
) -> subprocess.Popen[str]:
    """A ``hopx-local serve`` child process on a free loopback port (stderr to ``log``), with
    ``options`` added to its command line."""
    command = [
        sys.executable,
        "-m",
        "hopx_local",
        "serve",
        "--port",
        "0",
        "--api-key",
        key,
        "--state-dir",
        str(state_dir),
        *options,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "a") as sink:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink, text=True, env=env)


def end_serve(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int | None:
    """Stop a child started by :func:`start_serve` (by its pid), killing it if it does not stop
    within ``WAIT`` seconds; its exit status."""
    try:
        if proc.poll() is None:
            proc.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return proc.returncode


@contextlib.contextmanager
def serving(
    state_dir: pathlib.Path, key: str, log: pathlib.Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``(process, base URL)`` of a ``hopx-local serve`` child, ended on the way out."""
    proc = start_serve(state_dir, key, log)
    try:
        yield proc, read_base_url(proc)
    finally:
        end_serve(proc)
