"""The server dies (SIGKILL) while a client reads an execution stream: the client gets a
typed error promptly, on both loops, instead of hanging."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import anyio
import pytest

from hopx_proto._errors import HopxError, NetworkError, StreamEndedError

from .emulator_process import emulator_process

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: The sandboxed code stops by itself after this long, whatever happens to the server.
_CODE = (
    "import time\n"
    "end = time.monotonic() + 20\n"
    "while time.monotonic() < end:\n"
    "    print('tick', flush=True)\n"
    "    time.sleep(0.05)\n"
)
#: How soon after the kill the client must have failed.
PROMPT = 10.0


async def test_client_fails_promptly_when_the_server_is_killed(adapter: Any) -> None:
    with emulator_process() as server:
        async with adapter.AsyncSandbox.create(
            template="code-interpreter", api_key=server.api_key, base_url=server.base_url
        ) as sb:
            seen: list[dict[str, Any]] = []
            killed_at: list[float] = []

            async def read_while_killing() -> None:
                async with sb.run_code_stream(_CODE, timeout=60) as stream:
                    async for event in stream:
                        seen.append(dict(event))
                        if not killed_at and event["type"] == "stdout":
                            os.kill(server.pid, signal.SIGKILL)
                            killed_at.append(time.monotonic())

            with anyio.fail_after(60), pytest.raises(HopxError) as failure:
                await read_while_killing()
            assert killed_at, seen
            assert time.monotonic() - killed_at[0] < PROMPT
            assert not any(e["type"] == "complete" for e in seen)
            # Later calls fail fast too, as network errors.
            with anyio.fail_after(PROMPT), pytest.raises(NetworkError):
                await sb.get_info()
    # The connection dropped without a close frame, before the run's complete message.
    assert isinstance(failure.value, StreamEndedError | NetworkError), repr(failure.value)
