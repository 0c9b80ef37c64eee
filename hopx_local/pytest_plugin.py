"""A pytest fixture running the emulator for a test.

Enable it with ``-p hopx_local.pytest_plugin`` or ``pytest_plugins = ["hopx_local.pytest_plugin"]``
in a ``conftest.py``. The ``hopx_local`` fixture starts a server in a background thread with
its own event loop (so it serves sync and async tests alike, on any loop), gives a
:class:`~hopx_local.LocalServer` (``base_url``, ``api_key``...), and sets ``HOPX_BASE_URL``
and ``HOPX_API_KEY`` for the test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import anyio.from_thread
import pytest

from ._server.app import LocalServer, serve

__all__ = ["hopx_local"]

_START_TIMEOUT = 30.0


class _ServerThread:
    """A server on its own thread and event loop, stopped on request."""

    def __init__(self) -> None:
        self.server: LocalServer | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop: anyio.Event | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._thread = threading.Thread(target=self._main, name="hopx-local", daemon=True)

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as exc:  # noqa: BLE001  (reported to the test thread)
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with anyio.from_thread.BlockingPortal() as portal, serve() as server:
            self._portal = portal
            self._stop = anyio.Event()
            self.server = server
            self._ready.set()
            await self._stop.wait()

    def start(self) -> LocalServer:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError("the local HOPX server did not start in time")
        if self.server is None:
            raise RuntimeError(f"the local HOPX server failed to start: {self.error!r}")
        return self.server

    def stop(self) -> None:
        if self._portal is not None and self._stop is not None:
            self._portal.call(self._stop.set)
        self._thread.join(_START_TIMEOUT)


@pytest.fixture
def hopx_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """A running local HOPX service; ``HOPX_BASE_URL``/``HOPX_API_KEY`` point at it."""
    runner = _ServerThread()
    server = runner.start()
    monkeypatch.setenv("HOPX_BASE_URL", server.base_url)
    monkeypatch.setenv("HOPX_API_KEY", server.api_key)
    try:
        yield server
    finally:
        runner.stop()
