"""Run every fuzz harness in smoke mode; exit non-zero on any crash or missing target.

    python fuzz/run_smoke.py [--iterations N] [--seed S] [--only NAME ...]

Each harness runs its seeds, then ``N`` inputs from the seeded mutator (deterministic: the
same ``--seed`` gives the same inputs). A crashing input is saved under fuzz/crashes/.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import time
from typing import Any

__all__ = ["HARNESS_MODULES", "load_harness", "main"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python fuzz/run_smoke.py`` from anywhere
    sys.path.insert(0, str(ROOT))

#: Every harness, by module name under fuzz/.
HARNESS_MODULES = (
    "fuzz_http_response",
    "fuzz_http_request",
    "fuzz_ws_client",
    "fuzz_ws_server",
    "fuzz_multipart",
    "fuzz_sse",
    "fuzz_streams",
)


def load_harness(module: str) -> Any:
    """The :class:`fuzz._harness.Harness` of ``fuzz.<module>``.

    Raises :class:`fuzz._harness.MissingTarget` if the module it fuzzes does not exist.
    """
    from fuzz._harness import Harness

    harness = importlib.import_module(f"fuzz.{module}").HARNESS
    if not isinstance(harness, Harness):
        raise TypeError(f"fuzz.{module}.HARNESS is not a Harness")
    return harness


def main(argv: list[str] | None = None) -> int:
    """Run the harnesses; 0 when every one ran its inputs without a crash."""
    from fuzz._harness import FUZZ_DIR, MissingTarget, SmokeFailure, run_smoke

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME")
    args = parser.parse_args(argv)
    failures = 0
    total = 0
    started = time.perf_counter()
    for module in HARNESS_MODULES:
        if args.only and module not in args.only and module.removeprefix("fuzz_") not in args.only:
            continue
        try:
            harness = load_harness(module)
            report = run_smoke(
                harness, args.iterations, seed=args.seed, crash_dir=FUZZ_DIR / "crashes"
            )
        except MissingTarget as exc:
            print(f"FAIL {module}: {exc}", file=sys.stderr)
            failures += 1
            continue
        except SmokeFailure as exc:
            print(f"FAIL {module}: {exc}", file=sys.stderr)
            failures += 1
            continue
        total += report.iterations
        print(f"ok   {report.name}: {report.iterations} inputs in {report.seconds:.1f} s")
    elapsed = time.perf_counter() - started
    print(f"{total} inputs, {failures} failing harness(es), {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
