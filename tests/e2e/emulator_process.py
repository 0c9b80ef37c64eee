"""The emulator in a child process, so that the client's own resources (file descriptors, CPU
time) can be measured without the server's."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence

import attrs


@attrs.frozen
class EmulatorProcess:
    base_url: str
    api_key: str
    pid: int

    @property
    def env(self) -> dict[str, str]:
        return {"HOPX_BASE_URL": self.base_url, "HOPX_API_KEY": self.api_key}


@contextlib.contextmanager
def emulator_process(
    *,
    isolation: str = "auto",
    startup_timeout: float = 20.0,
    command: Sequence[str] = (sys.executable, "-m", "hopx_local"),
    env: Mapping[str, str] | None = None,
) -> Iterator[EmulatorProcess]:
    """Start ``python -m hopx_local serve`` (or ``command serve``, with ``env`` as its
    environment) on a free port; stop it (SIGTERM) on exit."""
    key = "sk_local_" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="hopx-emu-") as state:
        proc = subprocess.Popen(
            [
                *command,
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(pathlib.Path(state) / "state"),
                "--api-key",
                key,
                "--isolation",
                isolation,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=state,
        )
        try:
            base_url = _read_base_url(proc, startup_timeout)
            yield EmulatorProcess(base_url, key, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _read_base_url(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            if "HOPX_BASE_URL=" in line:
                return line.split("HOPX_BASE_URL=", 1)[1].strip()
    finally:
        watchdog.cancel()
    raise RuntimeError("the emulator did not start")
