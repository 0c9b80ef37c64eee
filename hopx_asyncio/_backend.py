"""The anyio implementation of :class:`hopx_proto.aio.Backend` (asyncio, or trio via anyio)."""

from __future__ import annotations

import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.streams.tls

from hopx_proto._errors import NetworkError
from hopx_proto.aio._backend import ByteStream, Deadline

__all__ = ["AnyioBackend", "AnyioByteStream"]

T = TypeVar("T")

_NETWORK_ERRORS = (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.ClosedResourceError)
_default_tls: ssl.SSLContext | None = None


class AnyioByteStream:
    """An anyio byte stream with EOF as ``b""`` and errors mapped to :class:`NetworkError`."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes) -> None:
        try:
            await self.stream.send(data)
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while sending: {exc!r}") from exc

    async def receive_some(self, max_bytes: int) -> bytes:
        try:
            return await self.stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"connection lost while receiving: {exc!r}") from exc

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        except _NETWORK_ERRORS:
            pass


class AnyioBackend:
    """Sockets, TLS, deadlines and locks from anyio."""

    name = "asyncio"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    async def connect_tcp(
        self, host: str, port: int, *, tls: object | None, server_hostname: str | None
    ) -> ByteStream:
        try:
            sock = await anyio.connect_tcp(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot connect to {host}:{port}: {exc}", request_sent=False
            ) from exc
        stream = AnyioByteStream(sock)
        if tls is None:
            return stream
        return await self.start_tls(stream, tls=tls, server_hostname=server_hostname or host)

    async def start_tls(
        self, stream: ByteStream, *, tls: object, server_hostname: str
    ) -> ByteStream:
        if not isinstance(stream, AnyioByteStream) or not isinstance(tls, ssl.SSLContext):
            raise NetworkError(
                "TLS needs an anyio stream and an ssl.SSLContext", request_sent=False
            )
        try:
            wrapped = await anyio.streams.tls.TLSStream.wrap(
                stream.stream, hostname=server_hostname, ssl_context=tls, standard_compatible=False
            )
        except _NETWORK_ERRORS as exc:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise NetworkError(
                f"TLS handshake with {server_hostname} failed: {exc}", request_sent=False
            ) from exc
        return AnyioByteStream(wrapped)

    def default_tls(self) -> object:
        global _default_tls
        if _default_tls is None:
            _default_tls = ssl.create_default_context()
        return _default_tls

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

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
        return await anyio.to_thread.run_sync(fn, *args)
