"""Headless Chromium for tests, driven over the DevTools protocol (a WebSocket, via wsproto).

:func:`chromium` starts a browser with a fresh profile and no network beyond what a page asks
for; :meth:`Page.evaluate` runs JavaScript in the page and :meth:`Page.wait_for` polls an
expression until it is true. Every wait is bounded; the browser is killed on exit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import wsproto
import wsproto.events

__all__ = ["Page", "chromium", "chromium_path"]

#: The flags of a quiet, isolated headless browser (no sync, updates or background fetches).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    # file:// pages may not be reached from the DevTools origin otherwise.
    "--remote-allow-origins=*",
)


def chromium_path() -> str | None:
    """The Chromium executable (Debian's ``chromium``), if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab, spoken to over its DevTools WebSocket."""

    def __init__(self, ws_url: str) -> None:
        rest = ws_url.removeprefix("ws://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=30)
        self._ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._ids = itertools.count(1)
        self._text: list[str] = []
        self._send(wsproto.events.Request(host=hostport, target="/" + path))
        while not any(isinstance(e, wsproto.events.AcceptConnection) for e in self._events()):
            pass

    def _send(self, event: wsproto.events.Event) -> None:
        self._sock.sendall(self._ws.send(event))

    def _events(self) -> list[wsproto.events.Event]:
        data = self._sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the browser closed the DevTools connection")
        self._ws.receive_data(data)
        return list(self._ws.events())

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Sends one DevTools command; its result (events in between are dropped)."""
        ident = next(self._ids)
        self._send(
            wsproto.events.TextMessage(
                json.dumps({"id": ident, "method": method, "params": params})
            )
        )
        while True:
            for event in self._events():
                if isinstance(event, wsproto.events.TextMessage):
                    self._text.append(event.data)
                    if not event.message_finished:
                        continue
                    message = json.loads("".join(self._text))
                    self._text.clear()
                    if message.get("id") == ident:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        result: dict[str, Any] = message["result"]
                        return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def goto(self, url: str, *, width: int = 1280, height: int = 900) -> None:
        """Opens ``url`` in a ``width`` x ``height`` window and waits for it to load."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def wait_for(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Polls ``expression`` until it is truthy; its value. ``AssertionError`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def screenshot(self, path: pathlib.Path) -> None:
        """Saves what the window shows as a PNG."""
        import base64

        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


@contextlib.contextmanager
def chromium(profile: pathlib.Path) -> Iterator[Page]:
    """A headless Chromium with a fresh profile in ``profile``; its one tab."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium is not installed: apt-get install chromium")
    proc = subprocess.Popen(
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page: Page | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            targets = json.load(reply)
        (tab,) = [t for t in targets if t["type"] == "page"]
        page = Page(tab["webSocketDebuggerUrl"])
        page.call("Page.enable")
        yield page
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
