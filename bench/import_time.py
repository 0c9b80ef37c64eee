"""Import time of the clients in two or more source trees, side by side, with every ``.pyc``.

Each tree is a directory or a git revision (archived into a temporary directory); each is
compiled with ``compileall`` first, then every statement runs in a fresh interpreter with
``PYTHONPATH=<tree>`` from a neutral directory (so that no checkout shadows the tree), the
trees and statements interleaved round by round so that a change in the machine's load weighs
on every row alike. Printed: whole-process medians, the same minus a bare interpreter start,
each tree's ratio to the first, and each client's ratio to the official client's import.

    python bench/import_time.py 'c0fdb1c^' main HEAD --runs 11
    python bench/import_time.py /tmp/old-tree /tmp/new-tree
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: (label, statement, unused): what each tree is timed on. A program of an event loop has
#: imported its loop already: the "loaded" rows, less the loop's own import, are what the
#: client adds to such a program.
STATEMENTS: list[tuple[str, str, str | None]] = [
    ("import hopx_proto", "import hopx_proto", None),
    ("asyncio AsyncSandbox", "from hopx_asyncio import AsyncSandbox", None),
    (
        "asyncio AsyncSandbox, asyncio loaded",
        "import asyncio; from hopx_asyncio import AsyncSandbox",
        None,
    ),
    ("trio AsyncSandbox", "from hopx_trio import AsyncSandbox", None),
    ("trio AsyncSandbox, trio loaded", "import trio; from hopx_trio import AsyncSandbox", None),
]
#: Timed once per round, outside every tree.
BASELINES: list[tuple[str, str]] = [
    ("bare start", "pass"),
    ("import asyncio", "import asyncio"),
    ("import trio", "import trio"),
    ("official AsyncSandbox", "from hopx_ai import AsyncSandbox"),
    ("official Sandbox", "from hopx_ai import Sandbox"),
]


def _tree(spec: str, tmp: pathlib.Path, index: int) -> tuple[str, pathlib.Path]:
    path = pathlib.Path(spec)
    if path.is_dir():
        return spec, path.resolve()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", spec], cwd=ROOT, check=True, capture_output=True
    ).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", spec], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    target = tmp / f"tree{index}"
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return f"{spec} ({commit})", target


def _env(tree: pathlib.Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONPYCACHEPREFIX"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def _once(statement: str, env: dict[str, str], cwd: pathlib.Path, *, cpu: bool) -> float:
    """Seconds one interpreter took to run ``statement``: wall time, or with ``cpu`` the
    processor time it used (user and system), which other load on the machine inflates less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # No timeout: with one, the wait polls, and the times come out in steps of up to 50 ms.
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], env=env, cwd=cwd, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used if cpu else wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", help="directories or git revisions (first: base)")
    parser.add_argument("--runs", type=int, default=11, help="rounds (default 11)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time the processor time each interpreter used instead of wall time (steadier on a "
        "loaded machine)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopx-import-time-") as name:
        tmp = pathlib.Path(name)
        neutral = tmp / "cwd"
        neutral.mkdir()
        trees = [_tree(spec, tmp, i) for i, spec in enumerate(args.trees)]
        for _, path in trees:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(path)], check=True)
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for label, statement in BASELINES:
                samples.setdefault(("", label), []).append(
                    _once(statement, _env(None), neutral, cpu=args.cpu)
                )
            for tree_label, path in trees:
                for label, statement, _ in STATEMENTS:
                    key = (tree_label, label)
                    samples.setdefault(key, []).append(
                        _once(statement, _env(path), neutral, cpu=args.cpu)
                    )
    med = {key: statistics.median(values) * 1e3 for key, values in samples.items()}
    bare = med[("", "bare start")]
    official = med[("", "official AsyncSandbox")]
    clock = "processor time" if args.cpu else "wall time"
    print(
        f"python {sys.version.split()[0]}, {args.runs} interleaved runs, medians of {clock},"
        " with .pyc"
    )
    print(f"{'':38} {'whole ms':>9} {'net ms':>8}")
    for label, _ in BASELINES:
        print(f"{label:38} {med[('', label)]:9.1f} {med[('', label)] - bare:8.1f}")
    base_label = trees[0][0]
    for tree_label, _ in trees:
        print(f"\n{tree_label}")
        print(
            f"{'':38} {'whole ms':>9} {'net ms':>8} {'/ first':>8} {'/ official':>10}"
            f" {'net / off.':>10}"
        )
        for label, _, _ in STATEMENTS:
            whole = med[(tree_label, label)]
            first = med[(base_label, label)]
            print(
                f"{label:38} {whole:9.1f} {whole - bare:8.1f} {whole / first:7.2f}x"
                f" {whole / official:9.2f}x {(whole - bare) / (official - bare):9.2f}x"
            )
        for loop in ("asyncio", "trio"):
            extra = med[(tree_label, f"{loop} AsyncSandbox, {loop} loaded")]
            extra -= med[("", f"import {loop}")]
            print(f"{loop + ' AsyncSandbox minus ' + loop:38} {extra:9.1f}")


if __name__ == "__main__":
    main()
