"""Write every harness's seed inputs to fuzz/corpus-seeds/<harness>/, one file per input.

    python -m fuzz.make_seeds [NAME ...]

The seeds come from the wire vectors in tests/vectors/*.json (rendered to bytes by the
project's own encoders) and from hand-written edge cases in each harness. The directory is
regenerated from scratch, so it always matches the current vectors; atheris reads it as a
read-only corpus next to the growing one in fuzz/corpus/<harness>/.
"""

from __future__ import annotations

import hashlib
import shutil
import sys

from fuzz._harness import MissingTarget
from fuzz.run_smoke import HARNESS_MODULES, load_harness

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    failures = 0
    for module in HARNESS_MODULES:
        name = module.removeprefix("fuzz_")
        if wanted and name not in wanted and module not in wanted:
            continue
        try:
            harness = load_harness(module)
        except MissingTarget as exc:
            print(f"FAIL {name}: {exc}", file=sys.stderr)
            failures += 1
            continue
        directory = harness.seed_dir()
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        seeds = harness.seeds()
        for data in seeds:
            (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        harness.corpus_dir().mkdir(parents=True, exist_ok=True)
        print(f"{name}: {len(seeds)} seeds in {directory}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
