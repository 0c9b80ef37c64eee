"""The minimal clients: on each loop, the work a real client must do, and nothing else.

For a request, h11 over a kept-alive connection: the same ``GET /env`` the real clients send
(method, target and headers; the ``User-Agent`` says what sends it), the status checked, the
JSON body decoded and its ``env_vars`` read. For a stream, the same ``/execute/stream``
upgrade and ``execute`` message, the frames read in place (:mod:`_ws_reader`), and for each
frame what any client must do: decode its JSON, read its ``type``, and the ``data`` of a
``stdout`` frame. Nothing more: no typed events, no queue between the socket and the caller.

Each loop at its lowest public level: a blocking socket; an asyncio ``Protocol`` (h11) and a
``BufferedProtocol`` (frames, read straight into the reader's buffer); a trio socket. The
sandbox is created and killed with ``http.client`` on the control plane, outside the timing.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import h11
from _cpu_work import Report, Workload, record_stream
from _ws_reader import (
    CLOSE,
    PING,
    FrameError,
    FrameReader,
    check_upgrade,
    close_frame,
    pong_frame,
    text_frame,
    upgrade_request,
)

if TYPE_CHECKING:
    from trio.socket import SocketType

__all__ = ["LOOPS", "json_libraries", "measure", "request_row", "stream_row"]

Decode = Callable[[memoryview], Any]


def _json_loads(payload: memoryview) -> Any:
    """stdlib json: one decode of the UTF-8 (checking it), then the parse."""
    return json.loads(str(payload, "utf-8"))


def json_libraries() -> list[str]:
    """The JSON libraries the stream clients run with: stdlib json, and orjson if installed."""
    return ["json", *(["orjson"] if importlib.util.find_spec("orjson") else [])]


def _decoders() -> dict[str, Decode]:
    found: dict[str, Decode] = {"json": _json_loads}
    if "orjson" in json_libraries():
        import orjson

        found["orjson"] = orjson.loads  # reads the UTF-8 in place, checking it
    return found


# ---------------------------------------------------------------------------------------------
# The sandbox, on the control plane (not timed)


@dataclass(frozen=True)
class Agent:
    """A sandbox's agent: where it listens and the token it takes."""

    sandbox_id: str
    host: str
    port: int
    token: str

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"


def _control(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    base = urlsplit(os.environ["HOPX_BASE_URL"])
    conn = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port, timeout=60)
    try:
        headers = {"X-API-Key": os.environ["HOPX_API_KEY"], "Content-Type": "application/json"}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else {}
    finally:
        conn.close()


def create_sandbox() -> Agent:
    """A new ``code-interpreter`` sandbox of the emulator named by ``HOPX_BASE_URL``."""
    info = _control("POST", "/v1/sandboxes", {"template_name": "code-interpreter"})
    agent = urlsplit(info["public_host"])
    return Agent(info["id"], agent.hostname or "127.0.0.1", agent.port or 80, info["auth_token"])


def kill_sandbox(agent: Agent) -> None:
    _control("DELETE", f"/v1/sandboxes/{agent.sandbox_id}")


# ---------------------------------------------------------------------------------------------
# env.get_all(): one request and its response on an h11 connection


class EnvExchange:
    """``GET /env`` on one kept-alive h11 connection: request bytes out, env vars back."""

    def __init__(self, agent: Agent) -> None:
        self.conn = h11.Connection(h11.CLIENT)
        self._headers = [
            ("host", agent.host_header),
            ("accept", "application/json"),
            ("authorization", f"Bearer {agent.token}"),
            ("user-agent", "minimal-client"),
        ]
        self._status = 0
        self._body: list[bytes] = []

    def request(self) -> bytes:
        """The next request's bytes."""
        conn = self.conn
        self._status = 0
        self._body = []
        request = h11.Request(method="GET", target="/env", headers=self._headers)
        return conn.send(request) + conn.send(h11.EndOfMessage())

    def response(self, data: bytes) -> dict[str, str] | None:
        """Feed bytes read; the env vars once the response is complete, else ``None``."""
        conn = self.conn
        conn.receive_data(data)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Data):
                self._body.append(event.data)
            elif isinstance(event, h11.Response):
                self._status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                if self._status != 200:
                    raise SystemExit(f"GET /env answered {self._status}")
                conn.start_next_cycle()
                env: dict[str, str] = json.loads(b"".join(self._body))["env_vars"]
                return env
            else:
                raise SystemExit(f"GET /env: unexpected {event!r}")


class BlockingEnv:
    """``env.get_all()`` on a blocking socket."""

    def __init__(self, agent: Agent) -> None:
        self._exchange = EnvExchange(agent)
        self._sock = socket.create_connection((agent.host, agent.port), timeout=60)

    def get_all(self) -> dict[str, str]:
        exchange, sock = self._exchange, self._sock
        sock.sendall(exchange.request())
        while (env := exchange.response(sock.recv(65536))) is None:
            pass
        return env

    def close(self) -> None:
        self._sock.close()


class _EnvProtocol(asyncio.Protocol):
    def __init__(self, exchange: EnvExchange) -> None:
        self.exchange = exchange
        self.waiter: asyncio.Future[dict[str, str]] | None = None

    def data_received(self, data: bytes) -> None:
        env = self.exchange.response(data)
        if env is not None and self.waiter is not None:
            self.waiter.set_result(env)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the agent closed the connection"))


class AsyncioEnv:
    """``env.get_all()`` on an asyncio transport: the protocol wakes a future per response."""

    def __init__(self, transport: asyncio.Transport, protocol: _EnvProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, agent: Agent) -> AsyncioEnv:
        protocol = _EnvProtocol(EnvExchange(agent))
        transport, _ = await asyncio.get_running_loop().create_connection(
            lambda: protocol, agent.host, agent.port
        )
        return cls(transport, protocol)

    async def get_all(self) -> dict[str, str]:
        protocol = self._protocol
        waiter: asyncio.Future[dict[str, str]] = self._loop.create_future()
        protocol.waiter = waiter
        self._transport.write(protocol.exchange.request())
        return await waiter

    def close(self) -> None:
        self._transport.close()


async def _trio_send_all(sock: SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


class TrioEnv:
    """``env.get_all()`` on a trio socket."""

    def __init__(self, sock: SocketType, exchange: EnvExchange) -> None:
        self._sock = sock
        self._exchange = exchange

    @classmethod
    async def open(cls, agent: Agent) -> TrioEnv:
        import trio

        sock = trio.socket.socket()
        await sock.connect((agent.host, agent.port))
        return cls(sock, EnvExchange(agent))

    async def get_all(self) -> dict[str, str]:
        exchange, sock = self._exchange, self._sock
        await _trio_send_all(sock, exchange.request())
        while (env := exchange.response(await sock.recv(65536))) is None:
            pass
        return env

    def close(self) -> None:
        self._sock.close()


# ---------------------------------------------------------------------------------------------
# run_code_stream(): frames read in place, each frame's JSON decoded


class Tally:
    """What a client does with each message of ``/execute/stream``, and what it saw.

    Decodes each text (or binary) message's JSON and reads its ``type``; for ``stdout`` it
    reads ``data``. Counts the ``stdout`` frames and their characters, queues a pong for a
    ping, and is ``done`` at ``complete`` (or the server's close frame).
    """

    def __init__(self, decode: Decode) -> None:
        self.decode = decode
        self.frames = 0
        self.chars = 0
        self.sizes = 0  # bytes of stdout frames on the wire (their JSON)
        self.done = False
        self.replies = b""

    def take(self, messages: list[tuple[int, memoryview]]) -> None:
        decode = self.decode
        for opcode, payload in messages:
            if opcode < CLOSE:
                message = decode(payload)
                kind = message.get("type")
                if kind == "stdout":
                    self.frames += 1
                    self.chars += len(message.get("data", ""))
                    self.sizes += len(payload)
                elif kind == "complete":
                    self.done = True
                    return
            elif opcode == PING:
                self.replies += pong_frame(bytes(payload))
            elif opcode == CLOSE:
                self.done = True
                return


def _execute(code: str) -> str:
    return json.dumps(
        {"type": "execute", "code": code, "language": "python", "timeout": 120,
         "workdir": "/workspace"}
    )  # fmt: skip


def stream_blocking(agent: Agent, code: str, decode: Decode) -> Tally:
    """One ``run_code_stream(code)`` on a blocking socket, reading into the frame buffer."""
    tally, reader = Tally(decode), FrameReader()
    upgrade, key = upgrade_request(agent.host_header, "/execute/stream", agent.token)
    with socket.create_connection((agent.host, agent.port), timeout=120) as sock:
        sock.sendall(upgrade)
        while (head := reader.take_head()) is None:
            reader.filled(_some(sock.recv_into(reader.space())))
        check_upgrade(head, key)
        sock.sendall(text_frame(_execute(code)))
        tally.take(reader.messages())
        while not tally.done:
            reader.filled(_some(sock.recv_into(reader.space())))
            tally.take(reader.messages())
            if tally.replies:
                sock.sendall(tally.replies)
                tally.replies = b""
        sock.sendall(close_frame())
    return tally


def _some(count: int) -> int:
    if not count:
        raise FrameError("the agent closed the connection before 'complete'")
    return count


class _StreamProtocol(asyncio.BufferedProtocol):
    """The socket's bytes land in the frame reader's buffer; the frames are read at once."""

    def __init__(self, agent: Agent, code: str, tally: Tally, done: asyncio.Future[None]) -> None:
        self.upgrade, self.key = upgrade_request(agent.host_header, "/execute/stream", agent.token)
        self.code = code
        self.tally = tally
        self.done = done
        self.reader = FrameReader()
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.upgrade)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.reader.space()

    def buffer_updated(self, nbytes: int) -> None:
        reader, tally, transport = self.reader, self.tally, self.transport
        assert transport is not None
        reader.filled(nbytes)
        try:
            if not self.open:
                head = reader.take_head()
                if head is None:
                    return
                check_upgrade(head, self.key)
                self.open = True
                transport.write(text_frame(_execute(self.code)))
            tally.take(reader.messages())
        except Exception as exc:
            if not self.done.done():
                self.done.set_exception(exc)
            transport.close()
            return
        if tally.replies:
            transport.write(tally.replies)
            tally.replies = b""
        if tally.done and not self.done.done():
            transport.write(close_frame())
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(FrameError("the agent closed the connection early"))


async def stream_asyncio(agent: Agent, code: str, decode: Decode) -> Tally:
    """One ``run_code_stream(code)`` on an asyncio ``BufferedProtocol``."""
    loop = asyncio.get_running_loop()
    tally, done = Tally(decode), loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _StreamProtocol(agent, code, tally, done), agent.host, agent.port
    )
    try:
        await done
    finally:
        transport.close()
    return tally


async def stream_trio(agent: Agent, code: str, decode: Decode) -> Tally:
    """One ``run_code_stream(code)`` on a trio socket, reading into the frame buffer."""
    import trio

    tally, reader = Tally(decode), FrameReader()
    upgrade, key = upgrade_request(agent.host_header, "/execute/stream", agent.token)
    with trio.socket.socket() as sock:
        await sock.connect((agent.host, agent.port))
        await _trio_send_all(sock, upgrade)
        while (head := reader.take_head()) is None:
            reader.filled(_some(await sock.recv_into(reader.space())))
        check_upgrade(head, key)
        await _trio_send_all(sock, text_frame(_execute(code)))
        tally.take(reader.messages())
        while not tally.done:
            reader.filled(_some(await sock.recv_into(reader.space())))
            tally.take(reader.messages())
            if tally.replies:
                await _trio_send_all(sock, tally.replies)
                tally.replies = b""
        await _trio_send_all(sock, close_frame())
    return tally


# ---------------------------------------------------------------------------------------------
# The measurement, the same on every loop

#: Requests, and short streams, before the timing: what is measured is the steady cost.
WARMUP = 20


class AsyncEnv(Protocol):
    """A request client of an event loop (:class:`AsyncioEnv`, :class:`TrioEnv`)."""

    async def get_all(self) -> dict[str, str]: ...
    def close(self) -> None: ...


Stream = Callable[[Agent, str, Decode], Awaitable[Tally]]

#: The event loops' clients: how to connect the request client, and how to stream.
ASYNC_LOOPS: dict[str, tuple[Callable[[Agent], Awaitable[AsyncEnv]], Stream]] = {
    "asyncio": (AsyncioEnv.open, stream_asyncio),
    "trio": (TrioEnv.open, stream_trio),
}

#: Every loop with minimal clients.
LOOPS = ("blocking", *ASYNC_LOOPS)


def _record(report: Report, row: str, kind: str, work: Workload, cpu: float, tally: Tally) -> None:
    record_stream(report, row, kind, work, cpu, tally.frames, tally.chars)
    if kind == "frame":
        report.add(row, "frame_bytes", tally.sizes / tally.frames)


def request_row(loop: str) -> str:
    return f"minimal {loop} + h11"


def stream_row(loop: str, library: str) -> str:
    return f"minimal {loop} + {library}"


def _streams(work: Workload, decoders: dict[str, Decode]) -> list[tuple[str, str, str, Decode]]:
    """Every stream of a process, in its order: (kind, code, library, decode); the JSON
    libraries take turns, so that a change in the machine's load weighs on each alike."""
    return [
        (kind, code, library, decode)
        for kind, code in (("mb", work.big_code), ("frame", work.tiny_code))
        for _ in range(work.batches)
        for library, decode in decoders.items()
    ]


def _measure_blocking(agent: Agent, work: Workload, report: Report) -> None:
    env = BlockingEnv(agent)
    try:
        for _ in range(WARMUP):
            env.get_all()
        row = request_row("blocking")
        for _ in range(work.batches):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(work.requests):
                env.get_all()
            report.add(row, "request", (time.process_time() - cpu) / work.requests)
            report.add(row, "request_wall", (time.perf_counter() - wall) / work.requests)
        report.facts["env"] = env.get_all()
    finally:
        env.close()
    decoders = _decoders()
    for decode in decoders.values():
        stream_blocking(agent, "print('warm-up')", decode)
    for kind, code, library, decode in _streams(work, decoders):
        cpu = time.process_time()
        tally = stream_blocking(agent, code, decode)
        _record(
            report, stream_row("blocking", library), kind, work, time.process_time() - cpu, tally
        )


async def _measure_async(loop: str, agent: Agent, work: Workload, report: Report) -> None:
    open_env, stream = ASYNC_LOOPS[loop]
    env = await open_env(agent)
    try:
        for _ in range(WARMUP):
            await env.get_all()
        row = request_row(loop)
        for _ in range(work.batches):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(work.requests):
                await env.get_all()
            report.add(row, "request", (time.process_time() - cpu) / work.requests)
            report.add(row, "request_wall", (time.perf_counter() - wall) / work.requests)
        report.facts["env"] = await env.get_all()
    finally:
        env.close()
    decoders = _decoders()
    for decode in decoders.values():
        await stream(agent, "print('warm-up')", decode)
    for kind, code, library, decode in _streams(work, decoders):
        cpu = time.process_time()
        tally = await stream(agent, code, decode)
        _record(report, stream_row(loop, library), kind, work, time.process_time() - cpu, tally)


def measure(loop: str, work: Workload) -> Report:
    """The minimal clients of ``loop`` (one of :data:`LOOPS`), on a sandbox of their own."""
    report = Report()
    agent = create_sandbox()
    try:
        if loop == "blocking":
            _measure_blocking(agent, work, report)
        elif loop == "trio":
            import trio

            trio.run(_measure_async, loop, agent, work, report)
        else:
            asyncio.run(_measure_async(loop, agent, work, report))
    finally:
        kill_sandbox(agent)
    return report
