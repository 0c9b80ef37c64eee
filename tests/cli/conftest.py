"""Fixtures for the command-line tests: an emulator process, and the commands' environment."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from e2e.emulator_process import EmulatorProcess, emulator_process

#: Where the console scripts of this environment are (``hopx``, ``hopx-local``).
BIN = pathlib.Path(sys.executable).parent


def script(name: str) -> str:
    """The installed console script ``name``; fails, saying how to install it, if missing."""
    path = BIN / name
    if not path.exists():
        raise AssertionError(f"{path} is not installed: pip install -e . (make does it)")
    return str(path)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """``hopx-local serve`` in a child process, for the whole module."""
    with emulator_process() as server:
        yield server


@pytest.fixture
def cli_env(emulator: EmulatorProcess) -> dict[str, str]:
    """The variables a person exports after ``hopx-local serve``, and this venv on PATH."""
    return {**emulator.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def hopx(
    *args: str, env: dict[str, str], timeout: float = 120.0, cwd: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``hopx ARGS...`` as a script runs it: no terminal, output captured."""
    return subprocess.run(
        [script("hopx"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
