"""The blocking backend over TLS, an HTTP proxy (CONNECT for TLS, absolute form for plain
HTTP) and IPv6, with the same policy objects as the async clients: ``tls=`` contexts and the
proxy variables of the environment. The servers are threads of the test on loopback."""

from __future__ import annotations

import builtins
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import pytest
import trustme

from hopx_sync import BlockingBackend, Client, NetworkError, Sandbox

HEALTH = json.dumps({"status": "healthy"}).encode()
REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(HEALTH)}\r\nconnection: close\r\n\r\n".encode()
    + HEALTH
)


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def server(
    handle: Callable[[socket.socket], None], host: str = "127.0.0.1", family: int = socket.AF_INET
) -> Iterator[int]:
    """A listener on ``host`` whose connections ``handle`` serves, one thread each (at most
    16 connections, each with a 10 s socket timeout); its port."""
    listener = socket.create_server((host, 0), family=family)
    listener.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set() and len(threads) < 16:
            try:
                conn, _ = listener.accept()
            except builtins.TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)

            def serve(conn: socket.socket = conn) -> None:
                with conn, contextlib.suppress(OSError):
                    handle(conn)

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for thread in threads:
            thread.join(15)


def answer_health(conn: socket.socket) -> None:
    head = _read_head(conn)
    assert head.startswith(b"GET /health ")
    conn.sendall(REPLY)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def test_tls_with_a_custom_context(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    def handle(conn: socket.socket) -> None:
        with server_context.wrap_socket(conn, server_side=True) as tls:
            answer_health(tls)

    with server(handle) as port:
        base = f"https://localhost:{port}"
        with Client(api_key="k", base_url=base, tls=client_context) as client:
            assert Sandbox.health_check(client=client) == {"status": "healthy"}
        # The default context does not trust the test's authority: a typed error, nothing sent.
        with Client(api_key="k", base_url=base) as client:
            with pytest.raises(NetworkError, match="TLS handshake") as info:
                Sandbox.health_check(client=client)
            assert info.value.request_sent is False


def test_tls_through_an_http_proxy_tunnel(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    tunnels: list[bytes] = []

    def target(conn: socket.socket) -> None:
        with server_context.wrap_socket(conn, server_side=True) as tls:
            answer_health(tls)

    with server(target) as target_port:

        def proxy(conn: socket.socket) -> None:
            head = _read_head(conn)
            tunnels.append(head.split(b"\r\n", 1)[0])
            upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with upstream:
                done = threading.Event()

                def pump(src: socket.socket, dst: socket.socket) -> None:
                    with contextlib.suppress(OSError):
                        while chunk := src.recv(65536):
                            dst.sendall(chunk)
                    done.set()

                threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
                pump(conn, upstream)
                done.wait(10)

        with server(proxy) as proxy_port:
            backend = BlockingBackend({"HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}"})
            base = f"https://localhost:{target_port}"
            with Client(backend, api_key="k", base_url=base, tls=client_context) as client:
                assert Sandbox.health_check(client=client) == {"status": "healthy"}
    assert tunnels == [f"CONNECT localhost:{target_port} HTTP/1.1".encode()]


def test_plain_http_through_a_proxy_uses_the_absolute_form() -> None:
    targets: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        head = _read_head(conn)
        targets.append(head.split(b"\r\n", 1)[0])
        conn.sendall(REPLY)

    with server(proxy) as proxy_port:
        backend = BlockingBackend({"http_proxy": f"127.0.0.1:{proxy_port}"})
        with Client(backend, api_key="k", base_url="http://api.example.invalid:8080") as client:
            assert Sandbox.health_check(client=client) == {"status": "healthy"}
    assert targets == [b"GET http://api.example.invalid:8080/health HTTP/1.1"]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    with (
        server(answer_health, host="::1", family=socket.AF_INET6) as port,
        Client(api_key="k", base_url=f"http://[::1]:{port}") as client,
    ):
        assert Sandbox.health_check(client=client) == {"status": "healthy"}
