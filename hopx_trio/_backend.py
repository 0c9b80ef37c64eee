"""The trio implementation of :class:`hopx_proto.aio.Backend`."""

from __future__ import annotations

import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import trio

from hopx_proto._errors import NetworkError
from hopx_proto.aio._backend import ByteStream, Deadline

__all__ = ["TrioBackend", "TrioByteStream"]

T = TypeVar("T")

_NETWORK_ERRORS = (OSError, ssl.SSLError, trio.BrokenResourceError, trio.ClosedResourceError)
_default_tls: ssl.SSLContext | None = None


class TrioByteStream:
    """A trio stream (TCP, maybe TLS) with errors mapped to :class:`NetworkError`."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while sending: {exc!r}") from exc

    async def receive_some(self, max_bytes: int) -> bytes:
        try:
            return bytes(await self.stream.receive_some(max_bytes))
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while receiving: {exc!r}") from exc

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        except _NETWORK_ERRORS:
            pass


class TrioBackend:
    """Sockets, TLS, deadlines and locks from trio."""

    name = "trio"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        try:
            sock = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot connect to {host}:{port}: {exc}", request_sent=False
            ) from exc
        stream = TrioByteStream(sock)
        if tls is None:
            return stream
        return await self.start_tls(stream, tls=tls, server_hostname=server_hostname or host)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        if not isinstance(stream, TrioByteStream) or not isinstance(tls, ssl.SSLContext):
            raise NetworkError("TLS needs a trio stream and an ssl.SSLContext", request_sent=False)
        wrapped = trio.SSLStream(
            stream.stream, tls, server_hostname=server_hostname, https_compatible=True
        )
        try:
            await wrapped.do_handshake()
        except _NETWORK_ERRORS as exc:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc.__cause__ or exc}",
                request_sent=False,
            ) from exc
        return TrioByteStream(wrapped)

    def default_tls(self) -> object:
        global _default_tls
        if _default_tls is None:
            _default_tls = ssl.create_default_context()
        return _default_tls

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> Deadline:
        return trio.CancelScope() if seconds is None else trio.move_on_after(seconds)

    def shielded(self, seconds: float) -> Deadline:
        scope = trio.move_on_after(seconds)
        scope.shield = True
        return scope

    def lock(self) -> trio.Lock:
        return trio.Lock()

    def semaphore(self, value: int) -> trio.Semaphore:
        return trio.Semaphore(value)

    def event(self) -> trio.Event:
        return trio.Event()

    def monotonic(self) -> float:
        return trio.current_time()

    def wall_clock(self) -> float:
        return time.time()

    def random_bytes(self, count: int) -> bytes:
        return secrets.token_bytes(count)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args)
