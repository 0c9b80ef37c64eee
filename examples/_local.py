"""Where the examples find the service: the environment, or an emulator started right here.

With ``HOPX_API_KEY`` or ``HOPX_BASE_URL`` set (as ``hopx-local run -- python examples/X.py``
sets them), an example talks to that service. Without them it starts the local emulator inside
its own event loop (asyncio or trio) for as long as it runs, so every example also works as a
plain ``python examples/X.py``. A synchronous example has no loop to share: it starts the
emulator as a child process instead (:func:`blocking_service`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator

import attrs

from hopx_proto.aio import DEFAULT_BASE_URL

__all__ = ["Service", "blocking_service", "service"]


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


def _from_environ() -> Service | None:
    base_url = os.environ.get("HOPX_BASE_URL", "")
    api_key = os.environ.get("HOPX_API_KEY", "")
    if not (base_url or api_key):
        return None
    if not api_key:
        raise SystemExit("HOPX_BASE_URL is set but HOPX_API_KEY is not: set both")
    base_url = base_url or DEFAULT_BASE_URL
    print(f"service: {base_url} (from the environment)", flush=True)
    return Service(base_url, api_key, started_here=False)


@contextlib.contextmanager
def blocking_service(startup_timeout: float = 30.0) -> Iterator[Service]:
    """The service named by the environment, else ``python -m hopx_local serve`` in a child
    process for the block's duration (stopped with SIGTERM)."""
    found = _from_environ()
    if found is not None:
        yield found
        return
    api_key = "sk_local_" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="hopx-example-") as state:
        log = open(os.path.join(state, "serve.log"), "w+b")  # noqa: SIM115  (closed below)
        command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0"]
        command += ["--state-dir", os.path.join(state, "state"), "--api-key", api_key]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_timeout
            base_url = None
            while base_url is None:
                log.seek(0)
                match = re.search(rb"HOPX_BASE_URL=(\S+)", log.read())
                if match:
                    base_url = match[1].decode()
                elif process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the local emulator did not start")
                else:
                    time.sleep(0.05)
            print(f"service: local emulator started at {base_url} (a child process)", flush=True)
            yield Service(base_url, api_key, started_here=True)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
