"""An in-memory network for the async client: a backend whose connections reach a scripted server.

The server parses requests with the real HTTP machine (server role) and answers each with an
:data:`Action` chosen by a handler: a reply, a reply cut off half-way through its body, a
dropped connection, or a stall. An optional ``early`` handler sees each request head first and
may answer at once (:class:`AnswerEarly`), closing without reading the rest of the body.
Sleeps are recorded and skipped, so retry delays are checked without waiting; deadlines are
real (anyio cancel scopes), so stalls end in timeouts.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import attrs

from hopx_proto._errors import NetworkError, TimeoutError
from hopx_proto._http import (
    NEED_DATA,
    BodyChunk,
    EndOfMessage,
    HTTPConnection,
    Request,
    RequestHead,
    Response,
    Role,
)
from hopx_proto.aio import Client
from hopx_proto.aio._backend import ByteStream, Deadline

T = TypeVar("T")


@attrs.frozen
class Reply:
    """Answer with this status, JSON (or raw body) and headers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> Response:
        body = self.body if self.json is None else json.dumps(self.json).encode()
        ctype = "application/json" if self.json is not None else "application/octet-stream"
        return Response(self.status, (("content-type", ctype), *self.headers), body)


@attrs.frozen
class CutBody:
    """Send the head and part of the body of ``reply``, then close the connection."""

    reply: Reply
    keep: int = 3


@attrs.frozen
class Drop:
    """Close the connection without answering (after the request arrived)."""


@attrs.frozen
class Stall:
    """Never answer."""


@attrs.frozen
class AnswerEarly:
    """Once the head and ``after`` bytes of the body arrived, send ``reply`` (nothing when
    ``None``) and close without reading the rest: the client's next write fails."""

    reply: Reply | None = None
    after: int = 0


Action = Reply | CutBody | Drop | Stall
Handler = Callable[[Request], Action]
EarlyHandler = Callable[[RequestHead], AnswerEarly | None]


class FakeStream:
    """The client end of one in-memory connection."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.http = HTTPConnection(Role.SERVER)
        self.outgoing = bytearray()
        self.closed_by_server = False
        self.closed = False
        self.wakeup = anyio.Event()
        self.head: RequestHead | None = None
        self.body = bytearray()
        # What the early handler watches: heads and body sizes, on a machine of its own.
        self.watch = HTTPConnection(Role.SERVER)
        self.watched = 0
        self.early: AnswerEarly | None = None

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        # The scripted server takes every byte at once: a send never waits for its timeout.
        if self.closed or self.closed_by_server:
            raise NetworkError("broken pipe")
        if self.server.early is not None and self._answered_early(data):
            return
        self.http.receive_data(data)
        while True:
            message = self.http.next_message()
            if message is NEED_DATA:
                return
            if not isinstance(message, Request):
                return
            self.server.requests.append(message)
            if message.method == "CONNECT":
                # A proxy tunnel: answer, then speak HTTP to the target on the same stream.
                self.outgoing += b"HTTP/1.1 200 Connection established\r\n\r\n"
                self.http = HTTPConnection(Role.SERVER)
                self.wakeup.set()
                continue
            self._answer(self.server.handler(message))

    def _answered_early(self, data: bytes) -> bool:
        """Watch ``data`` for a head the early handler answers; True once it answered."""
        assert self.server.early is not None
        self.watch.receive_data(data)
        while True:
            event = self.watch.next_event()
            if event is NEED_DATA:
                return False
            if isinstance(event, RequestHead):
                self.watched = 0
                self.early = self.server.early(event)
                if self.early is not None:
                    self.server.early_heads.append(event)
            elif isinstance(event, BodyChunk):
                self.watched += len(event.data)
            elif isinstance(event, EndOfMessage):
                self.early = None
                rest = self.watch.trailing_data
                self.watch = HTTPConnection(Role.SERVER)
                if rest:
                    self.watch.receive_data(rest)
                continue
            if self.early is not None and self.watched >= self.early.after:
                if self.early.reply is not None:
                    self.outgoing += self.watch.send_response(self.early.reply.response())
                self.closed_by_server = True
                self.wakeup.set()
                return True

    def _answer(self, action: Action) -> None:
        if isinstance(action, Reply):
            self.outgoing += self.http.send_response(action.response())
            if self.http.is_reusable:
                self.http.start_next_cycle()
        elif isinstance(action, CutBody):
            data = self.http.send_response(action.reply.response())
            head_len = data.index(b"\r\n\r\n") + 4
            self.outgoing += data[: head_len + action.keep]
            self.closed_by_server = True
        elif isinstance(action, Drop):
            self.closed_by_server = True
        self.wakeup.set()

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        with anyio.move_on_after(timeout):
            return await self._receive_some(max_bytes)
        raise TimeoutError(f"nothing received within {timeout:g} s")

    async def _receive_some(self, max_bytes: int) -> bytes:
        while True:
            if self.closed:
                raise NetworkError("receive on a closed stream")
            if self.outgoing:
                data = bytes(self.outgoing[:max_bytes])
                del self.outgoing[:max_bytes]
                return data
            if self.closed_by_server:
                return b""
            self.wakeup = anyio.Event()
            await self.wakeup.wait()

    def is_stale(self) -> bool:
        return self.closed or self.closed_by_server or bool(self.outgoing)

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.closed += 1
            self.wakeup.set()


class ScriptedServer:
    """Counts connections and keeps every request it received."""

    def __init__(
        self, handler: Handler, *, refuse: int = 0, early: EarlyHandler | None = None
    ) -> None:
        self.handler = handler
        self.refuse = refuse
        self.early = early
        self.early_heads: list[RequestHead] = []  # the heads the early handler answers
        self.requests: list[Request] = []
        self.opened = 0
        self.closed = 0
        self.hosts: list[tuple[str, int]] = []

    @property
    def open_now(self) -> int:
        return self.opened - self.closed

    def targets(self) -> list[str]:
        return [f"{r.method} {r.target}" for r in self.requests]


class FakeBackend:
    """A :class:`hopx_proto.aio.Backend` wired to a :class:`ScriptedServer`."""

    name = "fake"

    def __init__(self, server: ScriptedServer, environ: Mapping[str, str] | None = None) -> None:
        self.server = server
        self.environ: Mapping[str, str] = environ or {}
        self.sleeps: list[float] = []

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        await anyio.lowlevel.checkpoint()
        self.server.hosts.append((host, port))
        if self.server.refuse > 0:
            self.server.refuse -= 1
            raise NetworkError(f"connection to {host}:{port} refused", request_sent=False)
        self.server.opened += 1
        return FakeStream(self.server)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        return stream

    def default_tls(self) -> object:
        return object()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    def move_on_after(self, seconds: float | None) -> Deadline:
        return anyio.move_on_after(seconds)

    def shielded(self, seconds: float) -> Deadline:
        return anyio.move_on_after(seconds, shield=True)

    def lock(self) -> anyio.Lock:
        return anyio.Lock()

    def semaphore(self, value: int) -> anyio.Semaphore:
        return anyio.Semaphore(value)

    def event(self) -> anyio.Event:
        return anyio.Event()

    def monotonic(self) -> float:
        return anyio.current_time()

    def wall_clock(self) -> float:
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        return secrets.token_bytes(count)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


CONTROL = "http://api.test"
AGENT_HOST = "http://agent.test:7777"


def sandbox_json(sandbox_id: str = "sb1", public_host: str = AGENT_HOST, **extra: Any) -> Any:
    return {"id": sandbox_id, "status": "running", "public_host": public_host, **extra}


def token_json(token: str = "jwt-1") -> Any:
    return {"auth_token": token, "token_expires_at": "2099-01-01T00:00:00Z"}


def make_client(
    server: ScriptedServer, environ: Mapping[str, str] | None = None, **kwargs: Any
) -> tuple[Client, FakeBackend]:
    backend = FakeBackend(server, {"HOPX_API_KEY": "key-1", **(environ or {})})
    return Client(backend, base_url=CONTROL, **kwargs).close_with_last_holder(), backend
