"""The samples of every process of ``client_cpu.py``, and its tables: one per path.

Each table lists the real clients, with their ratio to the official client and to the
minimal client of their loop, then the minimal clients. Medians of all batches; the spread
is the lowest and the highest median of one process.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _cpu_imports import MODES, ImportRow
from _cpu_minimal import LOOPS, request_row, stream_row
from _cpu_real import OFFICIAL_ASYNC, RealClient
from _cpu_work import Report

__all__ = ["Samples", "import_table", "path_table", "same_bytes"]


@dataclass
class Samples:
    """Every sample of every row and metric, each process's median, and what each job saw."""

    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    per_process: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, job: str, report: Report) -> None:
        """The report of one process of ``job``."""
        for row, metrics in report.rows.items():
            for metric, values in metrics.items():
                self.values.setdefault((row, metric), []).extend(values)
                self.per_process.setdefault((row, metric), []).append(statistics.median(values))
        self.facts.setdefault(job, {}).update(report.facts)

    def median(self, row: str, metric: str) -> float | None:
        values = self.values.get((row, metric))
        return statistics.median(values) if values else None

    def spread(self, row: str, metric: str) -> tuple[float, float]:
        medians = self.per_process[(row, metric)]
        return min(medians), max(medians)


def _without_sandbox_id(env: dict[str, str]) -> dict[str, str]:
    sandbox_id = env.get("HOPX_SANDBOX_ID")
    if not sandbox_id:
        return env
    return {key: value.replace(sandbox_id, "<id>") for key, value in env.items()}


def same_bytes(samples: Samples) -> None:
    """Check that every client received the same ``env.get_all()`` (each child checked that
    every stream delivered every character its program printed). The environment names the
    client's own sandbox (``HOPX_SANDBOX_ID``, ``HOSTNAME``): its id, always of one length,
    is left out of the comparison."""
    seen = {
        repr(sorted(_without_sandbox_id(facts["env"]).items()))
        for facts in samples.facts.values()
        if "env" in facts
    }
    if len(seen) > 1:
        raise SystemExit(f"the clients did not all receive the same env.get_all(): {seen}")


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    head = line(header)
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for row in rows:
        print(line(row))


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value is not None and base is not None else ""


@dataclass(frozen=True)
class Path:
    """One table: its title, metric, unit, and whether it is a stream (two JSON libraries)."""

    title: str
    metric: str
    unit: str
    scale: float
    stream: bool


PATHS = {
    "request": Path("CPU per env.get_all()", "request", "µs", 1e6, stream=False),
    "mb": Path("CPU per MB of streamed stdout, 64 KiB frames", "mb", "ms", 1e3, stream=True),
    "frame": Path("CPU per tiny stdout frame", "frame", "µs", 1e6, stream=True),
}


def _measured(samples: Samples, row: str, path: Path) -> list[str]:
    """The median, the spread, and the path's extra column."""
    median = samples.median(row, path.metric)
    if median is None:
        return ["failed", ""] + ([""] if path.metric != "mb" else [])
    low, high = samples.spread(row, path.metric)
    cells = [f"{median * path.scale:.1f}", f"{low * path.scale:.1f}-{high * path.scale:.1f}"]
    if path.metric == "request":
        wall = samples.median(row, "request_wall")
        cells.append(f"{wall * 1e6:.0f}" if wall is not None else "")
    elif path.metric == "frame":
        chars = samples.median(row, "frame_chars")
        cells.append(f"{chars:.0f}" if chars is not None else "")
    return cells


def path_table(
    samples: Samples, clients: list[RealClient], libraries: list[str], key: str, note: str
) -> None:
    """The table of one path (``"request"``, ``"mb"`` or ``"frame"``)."""
    path = PATHS[key]
    metric = path.metric
    official = {c.label: samples.median(c.label, metric) for c in clients if c.official is None}
    floors = libraries if path.stream else ["h11"]
    rows: list[list[str]] = []
    for client in clients:
        loop = client.loop
        if path.stream:
            loop = samples.facts.get(client.label, {}).get("stream_loop", loop)
        value = samples.median(client.label, metric)
        base = official.get(client.official) if client.official else None
        mins = [
            _ratio(value, samples.median(_floor_row(loop, floor, path), metric)) for floor in floors
        ]
        rows.append([client.label, loop, *_measured(samples, client.label, path),
                     _ratio(value, base), *mins])  # fmt: skip
    for loop in LOOPS:
        for floor in floors:
            row = _floor_row(loop, floor, path)
            if (row, metric) in samples.values:
                ratio = _ratio(samples.median(row, metric), official.get(OFFICIAL_ASYNC))
                blank = [""] * len(floors)
                rows.append(
                    [f"minimal, {floor}", loop, *_measured(samples, row, path), ratio, *blank]
                )
    extra = {"request": ["µs wall"], "frame": ["chars/frame"]}.get(key, [])
    mins = [f"x minimal {floor}" if path.stream else "x minimal" for floor in floors]
    header = ["client", "loop", f"{path.unit} CPU", "spread", *extra, "x official", *mins]
    print_table(f"{path.title}: {note}", header, rows)


def _floor_row(loop: str, floor: str, path: Path) -> str:
    return stream_row(loop, floor) if path.stream else request_row(loop)


def import_table(rows: list[ImportRow], times: dict[str, dict[str, float]], note: str) -> None:
    """The import table: each statement in both caches, and its ratio to the official."""
    table = []
    for row in rows:
        cells = [row.label]
        for mode in MODES:
            value = times[mode][row.label]
            base = times[mode].get(row.official) if row.official else None
            cells += [f"{value * 1e3:.1f}", _ratio(value, base)]
        table.append(cells)
    header = ["import", "ms " + MODES[0], "x official", "ms " + MODES[1], "x official"]
    print_table(note, header, table)
