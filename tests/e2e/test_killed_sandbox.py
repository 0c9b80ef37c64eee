"""A killed sandbox says so: every later call raises SandboxKilledError (a NotFoundError) naming
the sandbox, without a request; a second kill() does nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import hopx_local
from hopx_proto._errors import LocalProtocolError, NotFoundError, SandboxKilledError

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _drain(stream: Any) -> None:
    async for _event in stream:
        pass


def _calls(sb: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "get_info": sb.get_info,
        "run_code": lambda: sb.run_code("print(1)"),
        "run_code_stream": lambda: _drain(sb.run_code_stream("print(1)")),
        "run_code_background": lambda: sb.run_code_background("print(1)"),
        "files.read": lambda: sb.files.read("/workspace/x.txt"),
        "files.write": lambda: sb.files.write("/workspace/x.txt", "x"),
        "commands.run": lambda: sb.commands.run("true"),
        "env.get_all": sb.env.get_all,
        "set_timeout": lambda: sb.set_timeout(600),
        "pause": sb.pause,
        "refresh_token": sb.refresh_token,
        "get_token": sb.get_token,
        "terminal.connect": sb.terminal.connect,
    }


async def test_calls_after_kill_say_killed(adapter: Any, local: hopx_local.LocalServer) -> None:
    sb = await adapter.AsyncSandbox.create(template="code-interpreter")
    await sb.run_code("print('alive')")
    await sb.kill()
    for name, call in _calls(sb).items():
        with pytest.raises(SandboxKilledError) as caught:
            await call()
        err = caught.value
        assert isinstance(err, NotFoundError), name
        assert not isinstance(err, LocalProtocolError), name
        assert err.sandbox_id == sb.sandbox_id, name
        assert sb.sandbox_id in str(err), name
        assert "killed" in str(err), name
    assert not await sb.is_healthy()
    # A second kill, and leaving ``async with`` afterwards, are no-ops.
    await sb.kill()
    async with sb:
        pass
    with pytest.raises(NotFoundError):
        await adapter.AsyncSandbox.connect(sb.sandbox_id)


async def test_kill_with_a_shared_client(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.Client() as client:
        sb = await adapter.AsyncSandbox.create(template="code-interpreter", client=client)
        other = await adapter.AsyncSandbox.connect(sb.sandbox_id, client=client)
        await sb.kill()
        with pytest.raises(SandboxKilledError, match=sb.sandbox_id):
            await sb.files.list("/workspace")
        # Another object for the same sandbox learns it from the service: still a
        # NotFoundError, and the shared client stays usable.
        with pytest.raises(NotFoundError):
            await other.get_info()
        await other.aclose()
        assert not client.closed


async def test_kill_of_a_sandbox_already_gone(adapter: Any, local: hopx_local.LocalServer) -> None:
    sb = await adapter.AsyncSandbox.create(template="code-interpreter")
    twin = await adapter.AsyncSandbox.connect(sb.sandbox_id)
    await twin.kill()
    with pytest.raises(NotFoundError) as gone:
        await sb.kill()
    assert not isinstance(gone.value, SandboxKilledError)
    with pytest.raises(SandboxKilledError):
        await sb.run_code("print(1)")
    await sb.kill()
