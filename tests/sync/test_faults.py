"""The synchronous Sandbox over a scripted server on loopback: a reply cut mid-body, a reply
that stalls, 401 then a token refresh, 429 with Retry-After, and a POST that fails after it
was sent (not repeated). The server runs in a thread of the test; the client under test
starts none."""

from __future__ import annotations

import builtins
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hopx_proto import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_sync import Client, NetworkError, Sandbox, TimeoutError
from tests.aio.fake import sandbox_json, token_json

#: An action for one request: ("reply", status, headers, body), ("cut", body) to send a
#: head promising more than ``body`` and close, ("stall",) to send a head and go quiet, or
#: ("drop",) to close without a word.
Action = tuple[Any, ...]


class ScriptedServer:
    """Control plane and agent on one loopback port, each request answered by the next
    action scripted for ``"METHOD /path"`` (the last one repeats); a sandbox lookup and a
    token refresh are answered by default."""

    def __init__(self, script: dict[str, list[Action]]) -> None:
        self.script = script
        self.seen: list[tuple[str, dict[str, str], float]] = []
        self.closed_by_client = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self.refreshes = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _action(self, key: str) -> Action:
        if key == "GET /v1/sandboxes/sb1":
            return ("reply", 200, {}, sandbox_json(public_host=self.base_url))
        if key == "POST /v1/sandboxes/sb1/token/refresh":
            self.refreshes += 1
            return ("reply", 200, {}, token_json(f"jwt-{self.refreshes + 1}"))
        actions = self.script.get(key)
        if not actions:
            return ("reply", 404, {}, {"error": {"code": "not_found", "message": key}})
        return actions.pop(0) if len(actions) > 1 else actions[0]

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        http = HTTPConnection(Role.SERVER)
        try:
            while not self._stop.is_set():
                message = http.next_request()
                if message is NEED_DATA:
                    data = conn.recv(65536)
                    http.receive_data(data)
                    if not data:
                        self.closed_by_client.set()
                        return
                    continue
                if not isinstance(message, Request):
                    return
                headers = {k.decode().lower(): v.decode() for k, v in message.headers}
                key = f"{message.method} {message.path.split('?', 1)[0]}"
                self.seen.append((key, headers, time.monotonic()))
                action = self._action(key)
                if action[0] == "drop":
                    return
                if action[0] == "stall":
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
                    if conn.recv(1) == b"":
                        self.closed_by_client.set()
                    return
                if action[0] == "cut":
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + action[1])
                    return
                _, status, extra, body = action
                out = [("content-type", "application/json"), *extra.items()]
                conn.sendall(
                    http.send_response(Response(status, tuple(out), json.dumps(body).encode()))
                )
                http.start_next_cycle()
        except OSError:
            return
        finally:
            conn.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except builtins.TimeoutError:  # the standard library's, not the client's
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def __enter__(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(25)

    def count(self, key: str) -> int:
        return sum(1 for seen, _, _ in self.seen if seen == key)


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, list[Action]]], tuple[ScriptedServer, Sandbox]]]:
    made: list[tuple[ScriptedServer, Client]] = []

    def make(script: dict[str, list[Action]]) -> tuple[ScriptedServer, Sandbox]:
        server = ScriptedServer(script).__enter__()
        client = Client(api_key="key-1", base_url=server.base_url, timeout=2, max_retries=2)
        made.append((server, client))
        return server, Sandbox("sb1", client=client)

    yield make
    for server, client in made:
        client.close()
        server.__exit__()


ENV = {"A": "1"}


def test_a_reply_cut_mid_body_is_retried_for_a_get(scripted: Any) -> None:
    server, sb = scripted(
        {"GET /env": [("cut", b'{"env_va'), ("reply", 200, {}, {"env_vars": ENV})]}
    )
    assert sb.env.get_all() == ENV
    assert server.count("GET /env") == 2


def test_a_post_cut_after_it_was_sent_is_not_repeated(scripted: Any) -> None:
    server, sb = scripted({"POST /execute": [("cut", b'{"stdout": "')]})
    with pytest.raises(NetworkError) as info:
        sb.run_code("print(1)", timeout=5)
    assert info.value.request_sent
    assert server.count("POST /execute") == 1
    server2, sb2 = scripted({"POST /execute": [("drop",)]})
    with pytest.raises(NetworkError):
        sb2.run_code("print(1)", timeout=5)
    assert server2.count("POST /execute") == 1


def test_a_stalled_reply_times_out_and_its_connection_is_closed(scripted: Any) -> None:
    server, sb = scripted({"GET /env": [("stall",)]})
    sb.client.retry = type(sb.client.retry)(max_attempts=1)
    with pytest.raises(TimeoutError):
        sb.env.get_all(timeout=1)
    assert server.closed_by_client.wait(10)
    assert sb.client.transport.open_connections() <= 1  # at most the idle lookup one


def test_401_refreshes_the_token_once(scripted: Any) -> None:
    unauthorized = ("reply", 401, {}, {"error": {"code": "unauthorized", "message": "expired"}})
    server, sb = scripted({"GET /env": [unauthorized, ("reply", 200, {}, {"env_vars": ENV})]})
    assert sb.env.get_all() == ENV
    tokens = [h.get("authorization") for key, h, _ in server.seen if key == "GET /env"]
    assert tokens == ["Bearer jwt-2", "Bearer jwt-3"]
    assert server.refreshes == 2  # the first token, then one refresh after the 401


def test_retry_after_is_honoured(scripted: Any) -> None:
    limited = (
        "reply",
        429,
        {"retry-after": "1"},
        {"error": {"code": "rate_limited", "message": "slow"}},
    )
    server, sb = scripted({"GET /env": [limited, ("reply", 200, {}, {"env_vars": ENV})]})
    assert sb.env.get_all() == ENV
    times = [at for key, _, at in server.seen if key == "GET /env"]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95  # waited as told, not at once
