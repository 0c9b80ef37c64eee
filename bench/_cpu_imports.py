"""Import time of the clients, with every ``.pyc`` compiled and with the project's compiled
from source at each start (as this machine runs it by default; :func:`bytecode_note` says)."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

__all__ = ["MODES", "ImportRow", "bytecode_note", "import_times"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("hopx_proto", "hopx_asyncio", "hopx_trio", "hopx_sync", "hopx_local")

#: The two bytecode caches: every module's ``.pyc``, or all but the project's own.
MODES = ("with .pyc", "without .pyc")


@dataclass(frozen=True)
class ImportRow:
    """One statement timed, and the row it is compared with (``None``: none)."""

    label: str
    statement: str
    official: str | None


def _python_env(cache: pathlib.Path, *, write: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    if write:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _once(statement: str, env: dict[str, str]) -> float:
    # No timeout: with one, the wait polls, and the times come out in steps of up to 50 ms.
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - start


def import_times(rows: list[ImportRow], runs: int) -> dict[str, dict[str, float]]:
    """Median wall time of each statement in a fresh interpreter, minus a bare start, by mode.

    Two bytecode caches (``PYTHONPYCACHEPREFIX``), both filled first by one run of every
    statement with writing on (which compiles every module it imports): "with .pyc" keeps
    them all; "without .pyc" drops the project's own, so that its modules are compiled from
    source at every start while the standard library and the installed packages load their
    ``.pyc``. The timed runs write nothing, and are interleaved (each statement, and a bare
    start, once per round in each cache), so that a change in the machine's load weighs on
    every row alike.
    """
    statements = {row.label: row.statement for row in rows} | {"": "pass"}
    with tempfile.TemporaryDirectory(prefix="hopx-bench-pyc-") as tmp:
        caches = {mode: pathlib.Path(tmp) / str(i) for i, mode in enumerate(MODES)}
        for cache in caches.values():
            for statement in statements.values():
                _once(statement, _python_env(cache, write=True))
        for package in PROJECT_PACKAGES:
            spec = importlib.util.find_spec(package)
            if spec is not None and spec.origin is not None:
                source = pathlib.Path(spec.origin).resolve().parent
                shutil.rmtree(caches[MODES[1]] / source.relative_to("/"), ignore_errors=True)
        samples: dict[tuple[str, str], list[float]] = {
            (mode, label): [] for mode in caches for label in statements
        }
        for _ in range(runs):
            for mode, cache in caches.items():
                env = _python_env(cache, write=False)
                for label, statement in statements.items():
                    samples[(mode, label)].append(_once(statement, env))
    bare = {mode: statistics.median(samples[(mode, "")]) for mode in caches}
    return {
        mode: {
            row.label: statistics.median(samples[(mode, row.label)]) - bare[mode] for row in rows
        }
        for mode in caches
    }


def bytecode_note() -> str:
    """How this machine runs the project by default: with its ``.pyc``, or without."""
    sources = [
        path
        for package in PROJECT_PACKAGES
        if (ROOT / package).is_dir()
        for path in (ROOT / package).rglob("*.py")
    ]
    cached = sum(pathlib.Path(importlib.util.cache_from_source(str(p))).exists() for p in sources)
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "this machine writes .pyc: after a first start, imports run as 'with .pyc'"
    return (
        "this machine sets PYTHONDONTWRITEBYTECODE, and the project is an editable install: "
        "a start compiles each of its modules that has no .pyc in the tree, as 'without .pyc' "
        f"does for all of them ({cached} of its {len(sources)} modules have one here, written "
        "by processes started without the variable); the venv's packages and the standard "
        "library have theirs, written at install"
    )
