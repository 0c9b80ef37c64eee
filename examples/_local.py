"""Where the examples find the service: the environment, or an emulator started right here.

With ``HOPX_API_KEY`` or ``HOPX_BASE_URL`` set (as ``hopx-local run -- python examples/X.py``
sets them), an example talks to that service. Without them it starts the local emulator inside
its own event loop (asyncio or trio) for as long as it runs, so every example also works as a
plain ``python examples/X.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import attrs

from hopx_proto.aio import DEFAULT_BASE_URL

__all__ = ["Service", "service"]


@attrs.frozen
class Service:
    """The control plane an example talks to.

    Attributes:
        base_url: the control plane's URL.
        api_key: the API key to send.
        started_here: whether this process runs the emulator (it stops when the example ends).
    """

    base_url: str
    api_key: str
    started_here: bool


@contextlib.asynccontextmanager
async def service() -> AsyncIterator[Service]:
    """The service named by the environment, else a local emulator for the block's duration."""
    base_url = os.environ.get("HOPX_BASE_URL", "")
    api_key = os.environ.get("HOPX_API_KEY", "")
    if base_url or api_key:
        if not api_key:
            raise SystemExit("HOPX_BASE_URL is set but HOPX_API_KEY is not: set both")
        base_url = base_url or DEFAULT_BASE_URL
        print(f"service: {base_url} (from the environment)", flush=True)
        yield Service(base_url, api_key, started_here=False)
        return

    import hopx_local

    async with hopx_local.serve() as local:
        print(
            f"service: local emulator started at {local.base_url} (isolation: {local.isolation})",
            flush=True,
        )
        yield Service(local.base_url, local.api_key, started_here=True)
