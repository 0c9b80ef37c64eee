"""Expiry facts of a sandbox, from one get_info call, at the instants around the deadline."""

from __future__ import annotations

import datetime as dt

import pytest

from hopx_proto import ExpiryInfo as ProtoExpiryInfo
from hopx_proto.aio import AsyncSandbox, ExpiryInfo

from .fake import Reply, ScriptedServer, make_client, sandbox_json

pytestmark = pytest.mark.anyio

EXPIRES = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_one_expiry_type() -> None:
    assert ExpiryInfo is ProtoExpiryInfo


@pytest.mark.parametrize(
    ("before", "ttl", "expired", "soon"),
    [
        (301.0, 301, False, False),
        (300.0, 300, False, True),
        (0.4, 0, False, True),
        (0.0, 0, True, False),
        (-0.4, 0, True, False),  # passed: expired, though the whole seconds left read 0
        (-42.7, -42, True, False),
    ],
)
async def test_expiry_around_the_deadline(
    before: float, ttl: int, expired: bool, soon: bool
) -> None:
    reply = Reply(json=sandbox_json(expires_at=EXPIRES.isoformat().replace("+00:00", "Z")))
    server = ScriptedServer(lambda request: reply)
    client, backend = make_client(server)
    backend.wall_clock = lambda: EXPIRES.timestamp() - before  # type: ignore[method-assign]
    sb = AsyncSandbox("sb1", client=client)
    info = await sb.get_expiry_info()
    assert (info.time_to_expiry, info.is_expired, info.is_expiring_soon) == (ttl, expired, soon)
    assert info.has_timeout
    assert info.expires_at == EXPIRES
    assert await sb.get_time_to_expiry() == ttl
    assert await sb.is_expiring_soon() is soon
    assert len(server.requests) == 3  # one get_info per call
    await sb.aclose()


async def test_no_expiry() -> None:
    server = ScriptedServer(lambda request: Reply(json=sandbox_json()))
    client, _backend = make_client(server)
    sb = AsyncSandbox("sb1", client=client)
    info = await sb.get_expiry_info()
    assert info == ExpiryInfo(None, None, False, False, False)
    assert await sb.get_time_to_expiry() is None
    assert await sb.is_expiring_soon() is False
    await sb.aclose()
