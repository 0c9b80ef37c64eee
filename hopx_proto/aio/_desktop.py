"""``sandbox.desktop``: desktop automation, filled in from the desktop operation table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._sandbox import AsyncSandbox

__all__ = ["AsyncDesktop"]


class AsyncDesktop:
    """Desktop automation (VNC, mouse, keyboard, screenshots, windows, recordings)."""

    def __init__(self, sandbox: AsyncSandbox) -> None:
        self._sandbox = sandbox
