"""Fixtures of the synchronous client's tests: the emulator in a child process (a blocking
client cannot share an event loop with a server), with ``HOPX_BASE_URL``/``HOPX_API_KEY``
pointing at it for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.emulator_process import EmulatorProcess, emulator_process


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """One emulator per test module."""
    with emulator_process() as process:
        yield process


@pytest.fixture
def local(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    """The module's emulator, with the environment pointing at it for this test."""
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    return emulator
