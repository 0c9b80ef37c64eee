"""Sandbox objects nobody closes, as a listing gives them: their connections are closed when the
objects are collected, without a ResourceWarning, on both loops and in the blocking client.

A client the library made for a class method (``list``, ``iter``, ``connect``, ``create``)
belongs to the sandbox objects it returned; when the last of them is garbage, so is the
client, and its pooled sockets go with it. A client the caller made stays the caller's to
close (and warns if forgotten, as a file does)."""

from __future__ import annotations

import contextlib
import gc
import socket
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import trio

import hopx_local
import hopx_sync
from hopx_trio._backend import TrioByteStream

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def _resource_warnings() -> Iterator[list[str]]:
    """The ResourceWarnings raised in the block (garbage collected at its end), as text."""
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield caught
        gc.collect()
        gc.collect()
    caught.extend(str(r.message) for r in records if issubclass(r.category, ResourceWarning))


async def test_listed_sandboxes_close_their_connections_when_collected(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    kept = await adapter.AsyncSandbox.create(template="code-interpreter")
    try:
        for _round in range(3):
            with _resource_warnings() as warned:
                listed = await adapter.AsyncSandbox.list()
                assert [s.sandbox_id for s in listed] == [kept.sandbox_id]
                # An agent call too: the forgotten client holds an agent connection as well.
                assert (await listed[0].get_info()).sandbox_id == kept.sandbox_id
                assert "PATH" in await listed[0].env.get_all()
                seen = [s async for s in adapter.AsyncSandbox.iter()]
                assert [s.sandbox_id for s in seen] == [kept.sandbox_id]
                del listed, seen
            assert warned == []
        # The sandbox itself is untouched by its forgotten objects.
        assert (await kept.run_code("print(6 * 7)")).stdout == "42\n"
    finally:
        await kept.kill()


async def test_a_client_of_the_caller_outlives_the_sandboxes_it_served(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.Client(api_key=local.api_key, base_url=local.base_url) as client:
        kept = await adapter.AsyncSandbox.create(template="code-interpreter", client=client)
        listed = await adapter.AsyncSandbox.list(client=client)
        assert [s.sandbox_id for s in listed] == [kept.sandbox_id]
        del listed
        gc.collect()
        assert not client.closed
        assert client.transport.open_connections() == 1  # still pooled, still usable
        await kept.kill()


async def test_blocking_listed_sandboxes_close_their_connections_when_collected(
    local: hopx_local.LocalServer,
) -> None:
    def forget() -> list[str]:
        with hopx_sync.Sandbox.create(template="code-interpreter") as kept:
            with _resource_warnings() as warned:
                listed = hopx_sync.Sandbox.list()
                assert [s.sandbox_id for s in listed] == [kept.sandbox_id]
                assert "PATH" in listed[0].env.get_all()
                del listed
            return warned

    assert await anyio.to_thread.run_sync(forget) == []


def test_a_trio_stream_is_dropped_outside_a_trio_run_too() -> None:
    # At interpreter exit, or on a thread of its own, a finalizer runs with no trio run to
    # tell: the socket is closed all the same, at once and without a warning.
    ours, theirs = socket.socketpair()
    try:
        stream = TrioByteStream(trio.SocketStream(trio.socket.from_stdlib_socket(ours)))
        with _resource_warnings() as warned:
            stream.abort()
            stream.abort()  # a second drop does nothing
            del stream
        assert warned == []
        assert ours.fileno() == -1
        assert theirs.recv(1) == b""  # the peer sees the close
    finally:
        theirs.close()
