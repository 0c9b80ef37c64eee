"""A pytest fixture running the emulator for a test.

Enable it with ``-p hopx_local.pytest_plugin`` or ``pytest_plugins = ["hopx_local.pytest_plugin"]``
in a ``conftest.py``. The ``hopx_local`` fixture starts a server in a background thread with
its own event loop (so it serves sync and async tests alike, on any loop), gives a
:class:`~hopx_local.LocalServer` (``base_url``, ``api_key``...), and sets ``HOPX_BASE_URL``
and ``HOPX_API_KEY`` for the test.

Each ``@pytest.mark.anyio`` test runs twice, on asyncio and on trio (``anyio_backend``; a
conftest.py fixture of that name picks one), and ``hopx_sandbox_class`` is the
``AsyncSandbox`` for the loop the test runs on.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import pytest

from ._server.app import LocalServer, serve

__all__ = ["anyio_backend", "hopx_local", "hopx_sandbox_class"]

#: The client package for each loop anyio runs a test on.
_DRIVERS = {"asyncio": "hopx_asyncio", "trio": "hopx_trio"}

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


@pytest.fixture(params=sorted(_DRIVERS))
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The loop an ``@pytest.mark.anyio`` test runs on: each such test runs on asyncio and on
    trio (trio's run is skipped, saying how to install it, when trio is missing).

    Define an ``anyio_backend`` fixture in your ``conftest.py`` returning ``"asyncio"`` (or
    ``"trio"``) to run on one loop only; it takes precedence over this one.
    """
    loop = str(request.param)
    if loop == "trio" and importlib.util.find_spec("trio") is None:
        pytest.skip("trio is not installed: pip install 'hopx-sansio[trio]'")
    return loop


@pytest.fixture
def hopx_sandbox_class(anyio_backend: str) -> Any:
    """``AsyncSandbox`` of the client for the test's loop: ``hopx_asyncio.AsyncSandbox``
    under asyncio, ``hopx_trio.AsyncSandbox`` under trio."""
    driver = _DRIVERS.get(anyio_backend)
    if driver is None:
        raise ValueError(f"no HOPX client for the {anyio_backend!r} loop; use asyncio or trio")
    return importlib.import_module(driver).AsyncSandbox
