"""``make``'s first run says what it is doing before each slow step.

The real Makefile runs, with its virtual environment in a temporary directory and a stand-in
interpreter whose ``pip`` records its arguments instead of installing: what is checked is the
order of what a person sees, each step announced before it starts.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: A stand-in for ``python3 -m venv DIR`` that makes DIR/bin/pip a script printing its arguments.
_FAKE_PYTHON = f"""#!{sys.executable}
import os, pathlib, sys
assert sys.argv[1:3] == ["-m", "venv"], sys.argv
pip = pathlib.Path(sys.argv[3]) / "bin" / "pip"
pip.parent.mkdir(parents=True)
pip.write_text("#!/bin/sh\\necho \\"pip ran: $*\\"\\n")
pip.chmod(0o755)
print("venv ran")
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_first_run_announces_each_step(tmp_path: pathlib.Path) -> None:
    fake = tmp_path / "python"
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), f"PYTHON={fake}", f"VENV={venv}", f"{venv}/.installed"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    lines = done.stdout.splitlines()
    steps = [i for i, line in enumerate(lines) if not line.startswith("==> ")]
    assert [lines[i].split(":")[0] for i in steps] == ["venv ran", "pip ran", "pip ran"]
    for i in steps:
        # Just before each step, a line says what it is about to do.
        assert i > 0, lines
        assert lines[i - 1].startswith("==> "), lines
    assert "installing hopx-sansio" in lines[steps[-1] - 1]
    assert lines[-1].startswith("==> ")
    assert "ready" in lines[-1]
    assert (venv / ".installed").exists()
