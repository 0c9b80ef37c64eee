"""Every program in examples/ runs to completion against one emulator and says what it should.

One ``python -m hopx_local serve`` process serves the whole module; each example runs as a
subprocess with ``HOPX_BASE_URL``/``HOPX_API_KEY`` pointing at it and a timeout of its own.
Two more runs cover the other ways in: an example starting its own emulator (no variables set),
and ``python -m hopx_local run -- python examples/X.py``.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import attrs
import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUN_TIMEOUT = 60.0
STARTUP_TIMEOUT = 30.0


@attrs.frozen
class Expect:
    """How an example is run and what a successful run prints.

    Attributes:
        args: command-line arguments after the script.
        patterns: regular expressions that must each match some part of the output.
        exit_code: the expected exit status.
    """

    args: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exit_code: int = 0


def _concurrent() -> Expect:
    if shutil.which("go"):
        return Expect(patterns=(r"(?m)^Hello from code-interpreter$", r"(?m)^Hello from go$"))
    # The emulator offers the go template only where Go is installed: a typed error.
    return Expect(patterns=(r"TemplateNotFoundError", r"Template 'go' not found"), exit_code=1)


ENV_SERVICE = r"(?m)^service: http://127\.0\.0\.1:\d+ \(from the environment\)$"

#: What each program prints when it works; programs missing here must still exit with 0.
EXPECTED: dict[str, Expect] = {
    "seed_basic.py": Expect(patterns=(r"(?m)^Hello, HopX!$",)),
    "seed_context_manager.py": Expect(
        patterns=(rf"(?m)^{sys.version_info.major}\.{sys.version_info.minor}\.\d+",)
    ),
    "seed_streaming.py": Expect(patterns=("".join(f"Count: {i}\n" for i in range(5)),)),
    "seed_concurrent.py": _concurrent(),
    "demo.py": Expect(
        patterns=(
            r"tick 2 from",
            r"state kept between runs +total \* 2 = 90",
            r"rich output +(image/png from matplotlib|text/html)",
            r"killed sandbox",
            r"(?m)^done$",
        )
    ),
    "custom_loop.py": Expect(patterns=(r"execute\.run: exit_code=0", r"killed sandbox")),
    "command_progress.py": Expect(
        args=("--steps", "12", "--pause", "0.05"),
        patterns=(
            ENV_SERVICE,
            r"\[#{30}\]  12/12 100% block [0-9a-f]{12}",
            r"err: all blocks hashed",
            r"command finished: exit code 0, 12 steps seen",
            r"killed sandbox \w+",
        ),
    ),
    "sync_script.py": Expect(
        patterns=(
            ENV_SERVICE,
            r"(?m)^Hello from a script!$",
            r"(?m)^sum computed in the sandbox: 55$",
            r"killed sandbox \w+",
        )
    ),
    "sync_thread_pool.py": Expect(
        patterns=(
            r"(?m)^10! = 3628800 \(sandbox \w+\)$",
            r"(?m)^17! = 355687428096000 \(sandbox \w+\)$",
            r"(?m)^8 sandboxes, one client, all killed$",
        )
    ),
    "sync_command_progress.py": Expect(
        args=("--steps", "12", "--pause", "0.05"),
        patterns=(
            r"\[#{30}\]  12/12 100% block [0-9a-f]{12}",
            r"err: all blocks hashed",
            r"command finished: exit code 0, 12 steps seen",
            r"killed sandbox \w+",
        ),
    ),
    "upload_directory.py": Expect(
        patterns=(
            ENV_SERVICE,
            r"uploaded data/blob\.bin \(716,800 bytes, [3-9] progress updates",
            r"uploaded notes/r\u00e9sum\u00e9\.txt",
            r"/workspace/upload holds: README\.md, data, notes, src",
            r"verified 7 files: sizes and SHA-256 match",
        ),
    ),
    "terminal_session.py": Expect(
        patterns=(
            ENV_SERVICE,
            r"cd project && basename \"\$PWD\"    # exit status 0\n    project\n",
            r"    line 3\n    line 2\n    line 1\n",
            r"# exit status 2\n    ls: cannot access '/no/such/dir'",
            r"stty size says: 40 120",
            r"the shell exited with code 3",
        ),
    ),
    "trio_batch.py": Expect(
        args=("--chunks", "6", "--parallel", "2", "--limit", "200000"),
        patterns=(
            ENV_SERVICE,
            r"peak concurrency 2/2",
            r"sandboxes still listed after the batch: 0",
            r"primes below 200000: 17984 from the sandboxes, 17984 computed here",
            r"(?m)^batch OK$",
        ),
    ),
}


def programs() -> list[str]:
    """The example programs (helper modules start with an underscore)."""
    return sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


@attrs.frozen
class Emulator:
    base_url: str
    api_key: str
    log: pathlib.Path


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any HOPX_ settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPX_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def _wait_for_url(process: subprocess.Popen[bytes], out: pathlib.Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"HOPX_BASE_URL=(\S+)", out.read_text(errors="replace"))
        if found:
            return found[1]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the emulator did not start:\n{out.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """``python -m hopx_local serve`` on a free port, stopped with SIGTERM afterwards."""
    work = tmp_path_factory.mktemp("examples-emulator")
    key = "sk_local_examples_" + os.urandom(6).hex()
    out, err = work / "stdout.log", work / "stderr.log"
    command = [sys.executable, "-m", "hopx_local", "serve", "--port", "0"]
    command += ["--state-dir", str(work / "state"), "--api-key", key]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=_clean_env())
    try:
        yield Emulator(_wait_for_url(process, out), key, err)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` from the repository root; its exit status and combined output."""
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace")
        pytest.fail(f"{command} did not finish within {RUN_TIMEOUT:g} s:\n{output}")
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def check(name: str, status: int, output: str, expect: Expect) -> None:
    assert status == expect.exit_code, f"{name} exited with {status}:\n{output}"
    for pattern in expect.patterns:
        assert re.search(pattern, output), f"{name}: no match for {pattern!r} in:\n{output}"


def test_every_owned_example_is_listed() -> None:
    """The programs whose output is checked in detail are all there."""
    owned = {"command_progress.py", "upload_directory.py", "terminal_session.py", "trio_batch.py"}
    owned |= {"sync_script.py", "sync_thread_pool.py", "sync_command_progress.py"}
    assert owned <= set(programs())


@pytest.mark.parametrize("name", programs())
def test_example_against_emulator(name: str, emulator: Emulator) -> None:
    expect = EXPECTED.get(name, Expect())
    env = _clean_env(HOPX_BASE_URL=emulator.base_url, HOPX_API_KEY=emulator.api_key)
    status, output = run([sys.executable, str(EXAMPLES / name), *expect.args], env)
    check(name, status, output, expect)


def test_example_starts_its_own_emulator() -> None:
    """Without HOPX_ variables an example runs the emulator in its own (trio) loop."""
    expect = EXPECTED["trio_batch.py"]
    status, output = run(
        [sys.executable, str(EXAMPLES / "trio_batch.py"), *expect.args], _clean_env()
    )
    own = r"service: local emulator started at http://127\.0\.0\.1:\d+ \(isolation: \w+\)"
    check(
        "trio_batch.py", status, output, attrs.evolve(expect, patterns=(own, *expect.patterns[1:]))
    )


def test_sync_example_starts_its_own_emulator() -> None:
    """Without HOPX_ variables a synchronous example starts the emulator as a child process."""
    expect = EXPECTED["sync_script.py"]
    status, output = run([sys.executable, str(EXAMPLES / "sync_script.py")], _clean_env())
    own = r"service: local emulator started at http://127\.0\.0\.1:\d+ \(a child process\)"
    check(
        "sync_script.py", status, output, attrs.evolve(expect, patterns=(own, *expect.patterns[1:]))
    )


def test_example_under_hopx_local_run() -> None:
    """``python -m hopx_local run -- python examples/X.py`` hands the example its service."""
    expect = EXPECTED["command_progress.py"]
    script = [sys.executable, str(EXAMPLES / "command_progress.py"), *expect.args]
    status, output = run([sys.executable, "-m", "hopx_local", "run", "--", *script], _clean_env())
    check("command_progress.py", status, output, expect)
    assert re.search(r"hopx\.local agent:\w+ GET /commands/stream 101", output), output
