"""Misusing ``AsyncSandbox.create(...)`` says what to write instead, and ``asyncio.run`` of it
just works: the first hour of a new user, tried against the emulator."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import pytest

import hopx_sync
from hopx_asyncio import AsyncSandbox
from tests.e2e.emulator_process import EmulatorProcess, emulator_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with emulator_process(isolation="none") as server:
        yield server


@pytest.fixture
def local(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    return emulator


def test_asyncio_run_of_create_gives_the_sandbox(local: EmulatorProcess) -> None:
    sandbox = asyncio.run(AsyncSandbox.create(template="code-interpreter"))
    assert isinstance(sandbox, AsyncSandbox)
    # Its connections belong to the loop that ended; the blocking client can go on with it.
    with hopx_sync.Sandbox.connect(sandbox.sandbox_id) as again:
        assert again.get_info().status == "running"
        assert again.run_code("print(6 * 7)").stdout == "42\n"
    # asyncio.run closed its loop with the pool's idle connection still open (asyncio does
    # not close transports with their loop): collect it here, where its ResourceWarning is
    # expected, not in whichever later test the garbage collector happens to run.
    del sandbox
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", pytest.PytestUnraisableExceptionWarning)
        gc.collect()


def test_a_forgotten_await_names_the_right_forms(local: EmulatorProcess) -> None:
    async def forgot() -> None:
        sandbox = AsyncSandbox.create(template="code-interpreter")
        try:
            await sandbox.run_code("print(1)")
        finally:
            sandbox.close()  # the test's own tidying; users get the warning below

    with pytest.raises(AttributeError) as info:
        asyncio.run(forgot())
    message = str(info.value)
    assert "'run_code'" in message
    assert "await AsyncSandbox.create(...)" in message
    assert "async with AsyncSandbox.create(...)" in message
    assert "from hopx_sync import Sandbox" in message


def test_a_plain_with_names_async_with_and_the_sync_sandbox(local: EmulatorProcess) -> None:
    with pytest.raises(TypeError) as info, AsyncSandbox.create(template="code-interpreter"):
        pass
    message = str(info.value)
    assert "async with AsyncSandbox.create(...)" in message
    assert "from hopx_sync import Sandbox" in message


def test_a_create_never_awaited_warns(local: EmulatorProcess) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AsyncSandbox.create(template="code-interpreter")
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("AsyncSandbox.create" in m and "never awaited" in m for m in messages), messages
