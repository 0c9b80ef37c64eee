"""What every client of ``client_cpu.py`` does, and how a child process reports it.

Each client, real or minimal, runs in a child process of its own and does the same work: a
batch of ``env.get_all()`` requests, streams of a program printing MBs in 64 KiB writes, and
streams of a program printing tiny lines one at a time. The child prints one JSON line, a
:class:`Report`, that the parent reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["METRICS", "Report", "Workload", "record_stream"]

#: The samples a row can have: CPU seconds per request, wall seconds per request, CPU seconds
#: per MB of 64 KiB stdout frames, CPU seconds per tiny stdout frame; and, per tiny stream,
#: the characters of stdout per frame (one line, unless the emulator read several at once)
#: and the bytes of a frame's JSON (seen by the minimal clients only).
METRICS = ("request", "request_wall", "mb", "frame", "frame_chars", "frame_bytes")

# Prints ``megabytes`` MB of stdout in 64 KiB writes.
_BIG_CODE = (
    "import sys\n"
    "chunk = ('x' * 1023 + '\\n') * 64\n"
    "for _ in range({megabytes} * 16):\n"
    "    sys.stdout.write(chunk)\n"
    "sys.stdout.flush()\n"
)

# Prints ``frames`` short lines, one write each, paced so that each is read (and sent) alone.
_TINY_CODE = (
    "import sys, time\n"
    "line = 'y' * {width} + '\\n'\n"
    "for _ in range({frames}):\n"
    "    sys.stdout.write(line)\n"
    "    sys.stdout.flush()\n"
    "    time.sleep({pause})\n"
)

#: Characters per tiny line, newline included: with the frame's JSON around it (type,
#: timestamp), a frame on the wire is about 160 bytes.
TINY_LINE = 90


@dataclass(frozen=True)
class Workload:
    """How much each client does in each of its processes.

    Args:
        requests: ``env.get_all()`` calls per timed batch.
        megabytes: MB of stdout per big stream.
        frames: tiny stdout frames per tiny stream.
        pause: seconds the tiny program sleeps after each line.
        batches: timed batches of requests, big streams and tiny streams, each.
    """

    requests: int
    megabytes: int
    frames: int
    pause: float
    batches: int

    @property
    def big_code(self) -> str:
        """The program of the big streams."""
        return _BIG_CODE.format(megabytes=self.megabytes)

    @property
    def tiny_code(self) -> str:
        """The program of the tiny-frame streams."""
        return _TINY_CODE.format(width=TINY_LINE - 1, frames=self.frames, pause=self.pause)

    def argv(self) -> list[str]:
        """The command-line flags that rebuild this workload in a child."""
        return [
            "--requests", str(self.requests), "--megabytes", str(self.megabytes),
            "--frames", str(self.frames), "--pause", str(self.pause),
            "--batches", str(self.batches),
        ]  # fmt: skip


@dataclass
class Report:
    """What one child measured: samples per row and metric, and what it received.

    ``rows`` maps a row of the tables (a client, or a minimal client with a JSON library) to
    its samples, by metric (:data:`METRICS`). ``facts`` holds what the parent checks to be
    the same for every client (the environment ``env.get_all()`` returned, the characters of
    stdout a stream delivered) and what it prints beside the numbers (the JSON library a
    real client loaded, the loop its stream ran on).
    """

    rows: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, row: str, metric: str, value: float) -> None:
        """One sample of ``metric`` for ``row``."""
        self.rows.setdefault(row, {}).setdefault(metric, []).append(value)

    def dumps(self) -> str:
        """One JSON line, for the parent."""
        return json.dumps({"rows": self.rows, "facts": self.facts})

    @classmethod
    def loads(cls, line: str) -> Report:
        """The report a child printed."""
        raw = json.loads(line)
        return cls(rows=raw["rows"], facts=raw["facts"])


def record_stream(
    report: Report, row: str, kind: str, work: Workload, cpu: float, frames: int, chars: int
) -> None:
    """One stream's sample for ``row``: CPU per MB (``kind`` ``"mb"``) or per frame (``"frame"``).

    Args:
        cpu: the CPU seconds the stream took, from the call to its last message.
        frames: the ``stdout`` messages it delivered.
        chars: the characters of their ``data``, checked against what the program printed.
    """
    expected = work.megabytes << 20 if kind == "mb" else work.frames * TINY_LINE
    if chars != expected:
        raise SystemExit(f"{row}: received {chars} characters of stdout, not {expected}")
    if kind == "mb":
        report.add(row, "mb", cpu / (chars / (1 << 20)))
    else:
        report.add(row, "frame", cpu / frames)
        report.add(row, "frame_chars", chars / frames)
