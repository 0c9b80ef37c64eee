from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both loops; a missing trio fails instead of skipping."""
    if request.param == "trio":
        import trio  # noqa: F401
    return str(request.param)
