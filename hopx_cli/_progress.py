"""A one-line progress bar on a terminal, for transfers a person waits for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "human_size", "render"]

#: Redraws closer together than this (seconds) are skipped; the last state is always drawn.
_REDRAW_INTERVAL = 0.1
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(count: float) -> str:
    """``count`` bytes as ``"512 B"``, ``"1.5 MiB"``..."""
    for unit in _UNITS:
        if abs(count) < 1024 or unit == _UNITS[-1]:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _fit(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, its middle replaced by ``…`` if needed."""
    if len(text) <= room:
        return text
    if room < 2:
        return text[:room]
    head = room // 3
    return text[:head] + "…" + text[len(text) - (room - head - 1) :]


def render(label: str, done: int, total: int | None, elapsed: float, width: int) -> str:
    """One line, at most ``width`` characters, showing ``done`` of ``total`` bytes.

    ``total=None`` (size unknown) shows the count and the rate without a bar. ``elapsed`` is
    the seconds since the transfer started, for the rate. The figures are always whole; the
    bar takes 10 to 40 characters, and the label is shortened in the middle to fit.
    """
    rate = f"  {human_size(done / elapsed)}/s" if elapsed > 0 else ""
    if total:
        fraction = min(1.0, done / total)
        figures = f"{fraction:4.0%}  {human_size(done)} / {human_size(total)}{rate}"
        bar_width = max(10, min(40, width - len(figures) - len(label) - 6))
        label_room = width - len(figures) - bar_width - 6
        if label_room >= 8:
            filled = round(fraction * bar_width)
            bar = "#" * filled + "." * (bar_width - filled)
            return f"{_fit(label, label_room)}  [{bar}]  {figures}"
    else:
        figures = f"{human_size(done)}{rate}"
    return f"{_fit(label, max(0, width - len(figures) - 2))}  {figures}"[:width]


class ProgressBar:
    """Draws :func:`render` lines over each other on ``stream`` (a terminal).

    Parameters:
        label: what is being transferred, shown first.
        stream: where to draw (standard error, a terminal).
        width: the line's width in characters.
        clock: a monotonic clock in seconds (``time.monotonic``).
    """

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        width: int = 80,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._stream = stream
        self._width = max(20, width - 1)
        self._clock = clock
        self._start = clock()
        self._drawn_at: float | None = None
        self._done = 0
        self._total: int | None = None

    def update(self, done: int, total: int | None) -> None:
        """Record progress; redraws at most every 0.1 s."""
        self._done, self._total = done, total if total is not None else self._total
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= _REDRAW_INTERVAL:
            self._draw(now)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self._draw(self._clock())
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        line = render(self._label, self._done, self._total, now - self._start, self._width)
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()
