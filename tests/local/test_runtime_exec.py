"""Running code and commands in a sandbox: output, environment, timeouts, caps, streaming."""

from __future__ import annotations

import base64
import contextlib
import json
import resource
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxFault,
    SandboxRuntime,
    resolve_isolation,
)
from hopx_local._runtime.languages import python_executable

pytestmark = pytest.mark.anyio

MODES = [resolve_isolation("auto"), IsolationMode.NONE]
if MODES[0] is IsolationMode.NONE:
    MODES = MODES[:1]


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    mode: IsolationMode | None = None,
    *,
    output_cap: int = 1 << 20,
    limits: Limits | None = None,
) -> AsyncIterator[SandboxRuntime]:
    runtime = SandboxRuntime(
        f"sbx-exec-{secrets.token_hex(4)}",
        tmp_path / "sbx",
        isolation=mode or MODES[0],
        internet_access=False,
        limits=limits or Limits(),
        output_cap=output_cap,
    )
    try:
        with anyio.fail_after(60):
            yield runtime
    finally:
        await runtime.shutdown()


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
async def test_python_runs_with_separate_streams_and_exit_code(
    tmp_path: Path, mode: IsolationMode
) -> None:
    async with running(tmp_path, mode) as sandbox:
        code = "import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\nsys.exit(3)"
        outcome = await sandbox.execute(code, "python")
    assert outcome.stdout == "out 42\n"
    assert outcome.stderr == "err\n"
    assert outcome.exit_code == 3
    assert not outcome.timed_out
    assert not outcome.truncated
    assert 0 < outcome.execution_time < 30


@pytest.mark.parametrize("language", ["bash", "sh", "shell"])
async def test_shells_run(tmp_path: Path, language: str) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute("echo $((40 + 2)); echo oops >&2; exit 5", language)
    assert (outcome.stdout, outcome.stderr, outcome.exit_code) == ("42\n", "oops\n", 5)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_javascript_runs(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute("console.log([1, 2, 3].map(x => x * 2).join(','))", "js")
    assert outcome.stdout == "2,4,6\n"
    assert outcome.exit_code == 0


async def test_commands_run_with_arguments(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.run_command("bash", ["-c", 'printf "%s|" "$@"', "x", "a b", "c"])
        missing = await sandbox.run_command("no-such-program-here", [])
    assert outcome.stdout == "a b|c|"
    assert missing.exit_code == 127
    assert "no-such-program-here" in missing.stderr


async def test_unknown_language_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        with pytest.raises(SandboxFault) as caught:
            await sandbox.execute("x", "cobol")
    assert (caught.value.code, caught.value.status) == ("INVALID_REQUEST", 400)


async def test_env_precedence_request_over_stored_over_base(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        sandbox.env_set({"LAYER": "stored", "ONLY_STORED": "s", "HOME": "/workspace/home"})
        outcome = await sandbox.execute(
            'echo "$LAYER $ONLY_STORED $HOME $LANG"', "bash", env={"LAYER": "request"}
        )
        sandbox.env_clear()
        cleared = await sandbox.execute('echo "${ONLY_STORED:-unset}"', "bash")
    assert outcome.stdout == "request s /workspace/home C.UTF-8\n"
    assert cleared.stdout == "unset\n"


async def test_bad_env_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        with pytest.raises(SandboxFault) as caught:
            await sandbox.execute("true", "bash", env={"A=B": "x"})
    assert caught.value.code == "INVALID_REQUEST"


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
async def test_workdir_is_created_and_used(tmp_path: Path, mode: IsolationMode) -> None:
    async with running(tmp_path, mode) as sandbox:
        outcome = await sandbox.execute(
            "import os; open('made-here', 'w').close(); print(os.getcwd())",
            "python",
            workdir="/workspace/project/sub",
        )
        assert sandbox.files.exists("/workspace/project/sub/made-here")
    expected = "/workspace/project/sub" if mode is IsolationMode.BWRAP else "workspace/project/sub"
    assert outcome.stdout.strip().endswith(expected)


async def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        started = time.monotonic()
        outcome = await sandbox.execute(
            "sleep 60 & sleep 60 & echo started; wait", "bash", timeout=1.0
        )
        elapsed = time.monotonic() - started
        leftovers = sandbox.processes.pids()
    assert outcome.timed_out
    assert outcome.stdout == "started\n"
    assert outcome.exit_code != 0
    assert elapsed < 8
    assert leftovers == set()


async def test_output_cap_on_100_mb_is_flagged_and_bounded(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with running(tmp_path, output_cap=1 << 20) as sandbox:
        started = time.monotonic()
        outcome = await sandbox.execute("yes | head -c 100000000; echo done >&2", "bash")
        elapsed = time.monotonic() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert outcome.truncated
    assert len(outcome.stdout) == 1 << 20
    assert outcome.stdout.startswith("y\ny\n")
    assert outcome.stderr.endswith("done\n")
    assert outcome.exit_code == 0
    assert elapsed < 30
    assert grown_kib < 60 * 1024


async def test_ten_thousand_lines_arrive_complete(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute("for i in range(10000):\n    print(i)", "python")
    assert outcome.stdout.splitlines() == [str(i) for i in range(10000)]
    assert not outcome.truncated


async def test_stream_yields_chunks_in_order_as_they_happen(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "print('first')\n"
        "time.sleep(0.4)\n"
        "print('second', file=sys.stderr)\n"
        "time.sleep(0.4)\n"
        "print('third')\n"
    )
    async with running(tmp_path) as sandbox:
        seen: list[tuple[str, str, float]] = []
        async with contextlib.aclosing(sandbox.stream_execute(code, "python")) as stream:
            async for kind, text in stream:
                seen.append((kind, text, time.monotonic()))
    kinds = [kind for kind, _text, _at in seen]
    assert kinds[-1] == "exit"
    text_by_kind = [(kind, text) for kind, text, _at in seen[:-1]]
    joined = [(k, "".join(t for kk, t in text_by_kind if kk == k)) for k in ("stdout", "stderr")]
    assert joined == [("stdout", "first\nthird\n"), ("stderr", "second\n")]
    order = [text.strip() for _kind, text, _at in seen[:-1] if text.strip()]
    assert order == ["first", "second", "third"]
    first_at = next(at for _kind, text, at in seen if "first" in text)
    assert seen[-1][2] - first_at > 0.6
    summary = json.loads(seen[-1][1])
    assert summary["exit_code"] == 0
    assert summary["timed_out"] is False
    assert summary["rich"] == []


async def test_closing_a_stream_kills_the_process(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        stream = sandbox.stream_execute(
            "import time\nwhile True:\n    print('tick')\n    time.sleep(0.05)", "python"
        )
        kind, text = await stream.__anext__()
        assert (kind, text.strip()) == ("stdout", "tick"), text
        assert sandbox.processes.pids()
        await stream.aclose()  # type: ignore[attr-defined]
        assert sandbox.processes.pids() == set()


async def test_paused_sandbox_refuses_executions(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        sandbox.pause()
        with pytest.raises(SandboxFault) as caught:
            await sandbox.execute("print(1)", "python")
        sandbox.resume()
        outcome = await sandbox.execute("print(1)", "python")
    assert (caught.value.code, caught.value.status) == ("SANDBOX_PAUSED", 409)
    assert outcome.stdout == "1\n"


def _sandbox_python_has(module: str) -> bool:
    check = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    probe = [python_executable(), "-c", check]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


@pytest.mark.skipif(not _sandbox_python_has("IPython"), reason="IPython is not installed")
async def test_ipython_display_becomes_rich_output(tmp_path: Path) -> None:
    code = (
        "from IPython.display import HTML, display\n"
        "class Chart:\n"
        "    def _repr_png_(self):\n"
        "        return b'\\x89PNG fake'\n"
        "display(HTML('<b>bold</b>'))\n"
        "display(Chart())\n"
        "display(42)\n"
    )
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute(code, "python", timeout=60)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.rich == [
        {"type": "text/html", "data": "<b>bold</b>"},
        {"type": "image/png", "data": base64.b64encode(b"\x89PNG fake").decode()},
    ]
    assert outcome.stdout == "42\n"


@pytest.mark.skipif(not _sandbox_python_has("IPython"), reason="IPython is not installed")
async def test_streamed_run_reports_its_rich_outputs_at_exit(tmp_path: Path) -> None:
    code = (
        "from IPython.display import HTML, display\n"
        "print('before')\n"
        "display(HTML('<i>shown</i>'))\n"
        "display({'application/json': {'k': [1, 2]}}, raw=True)\n"
    )
    async with (
        running(tmp_path) as sandbox,
        contextlib.aclosing(sandbox.stream_execute(code, "python", timeout=60)) as run,
    ):
        seen = [item async for item in run]
    assert "".join(text for kind, text in seen if kind == "stdout") == "before\n"
    kind, text = seen[-1]
    assert kind == "exit"
    summary = json.loads(text)
    assert summary["exit_code"] == 0, seen
    assert summary["rich"] == [
        {"type": "text/html", "data": "<i>shown</i>"},
        {"type": "application/json", "data": {"k": [1, 2]}},
    ]


async def test_python_without_display_has_no_rich_output(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        outcome = await sandbox.execute("import sys; print('sitecustomize' in sys.modules)", "py")
    assert outcome.rich == []
    assert outcome.stdout == "True\n"


async def test_metrics_count_executions(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        await sandbox.execute("exit 1", "bash")
        await sandbox.execute("true", "bash")
        metrics = sandbox.metrics()
    assert metrics["total_executions"] == 2
    assert metrics["failed_executions"] == 1
    assert metrics["active_executions"] == 0
    assert metrics["requests"]["execute"] == 2


FAKE_PYPLOT = """
import importlib, os
_open = {}
_made = [0]
class Figure:
    def __init__(self, number):
        self.number = number
    def savefig(self, buffer, format, bbox_inches=None):
        buffer.write(b"PNG-%d" % self.number)
def figure(num=None):
    if num is None:
        _made[0] += 1
        num = _made[0]
    return _open.setdefault(num, Figure(num))
def get_fignums():
    return sorted(_open)
def close(which):
    _open.clear()
def show():
    backend = os.environ["MPLBACKEND"].removeprefix("module://")
    importlib.import_module(backend).show()
"""


async def test_figures_shown_and_left_open_become_png_outputs(tmp_path: Path) -> None:
    """The matplotlib hooks, driven by a stand-in package exposing the calls they use."""
    async with running(tmp_path) as sandbox:
        for name, text in {
            "matplotlib/__init__.py": "",
            "matplotlib/backends/__init__.py": "",
            "matplotlib/backends/backend_agg.py": "class FigureCanvasAgg: pass\n",
            "matplotlib/backend_bases.py": "class FigureManagerBase: pass\n",
            "matplotlib/pyplot.py": FAKE_PYPLOT,
        }.items():
            sandbox.files.write(f"/workspace/{name}", text.encode())
        outcome = await sandbox.execute(
            "import matplotlib.pyplot as plt\nplt.figure()\nplt.show()\nplt.figure()\nplt.figure()",
            "python",
        )
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.rich == [
        {"type": "image/png", "data": base64.b64encode(b"PNG-%d" % n).decode()} for n in (1, 2, 3)
    ]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), True])
async def test_bad_timeouts_are_refused_before_anything_runs(
    tmp_path: Path, seconds: float
) -> None:
    async with running(tmp_path) as sandbox:
        with pytest.raises(SandboxFault) as caught:
            sandbox.stream_execute("print(1)", "python", timeout=seconds)
        assert caught.value.code == "INVALID_REQUEST"
        with pytest.raises(SandboxFault):
            await sandbox.run_command("true", [], timeout=seconds)
        assert list((sandbox.layout.state / "exec").iterdir()) == []


async def test_cancelling_an_execution_kills_it_promptly(tmp_path: Path) -> None:
    async with running(tmp_path) as sandbox:
        started = time.monotonic()
        with anyio.move_on_after(0.5) as scope:
            await sandbox.execute("sleep 30 & sleep 30", "bash", timeout=60)
        elapsed = time.monotonic() - started
        leftovers = sandbox.processes.pids()
        metrics = sandbox.metrics()
    assert scope.cancelled_caught
    assert elapsed < 5
    assert leftovers == set()
    assert metrics["active_executions"] == 0
    assert list((sandbox.layout.state / "exec").iterdir()) == []
