"""End-to-end fixtures: the local emulator in the test's own event loop, and the adapter
matching that loop (hopx_asyncio under asyncio, hopx_trio under trio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import hopx_asyncio
import hopx_local
import hopx_trio


@pytest.fixture
def adapter(anyio_backend: str) -> Any:
    """The adapter package for the running loop."""
    return hopx_trio if anyio_backend == "trio" else hopx_asyncio


@pytest.fixture
async def local(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[hopx_local.LocalServer]:
    """A fresh emulator; ``HOPX_BASE_URL``/``HOPX_API_KEY`` point at it for the test."""
    async with hopx_local.serve() as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        yield server
