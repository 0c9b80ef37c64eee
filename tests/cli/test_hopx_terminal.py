"""``hopx`` in a real terminal (tmux): streamed exec, an interactive shell, cp with a progress bar.

Each test types at a bash prompt as a person would and reads the screen.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
from collections.abc import Callable

import pytest
from e2e.emulator_process import emulator_process

from .conftest import BIN, hopx
from .tmux import PROMPT, terminal

pytestmark = pytest.mark.slow


def _prompt_after(command: str) -> Callable[[str], bool]:
    """A screen test: ``command``'s line, then a fresh shell prompt as the last line."""

    def check(screen: str) -> bool:
        lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
        # The command's line may be followed by the echoed interrupt (``^C``).
        return (
            len(lines) >= 2
            and any(command in line for line in lines[-3:-1])
            and lines[-1].endswith(("#", "$"))
        )

    return check


def _new_sandbox(env: dict[str, str]) -> str:
    made = hopx("create", env=env)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_exec_streams_output_and_exits_with_the_remote_code(
    cli_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    sid = _new_sandbox(cli_env)
    # The remote command prints, then waits for a file the test creates: "first" on the screen
    # while "second" is not yet proves the output streams rather than arriving at the end.
    remote = "echo first; while [ ! -e /workspace/go ]; do sleep 0.1; done; echo second >&2; exit 7"
    with terminal(tmp_path, cli_env) as term:
        term.type(f"hopx exec {sid} -- '{remote}'; echo status=$?")
        screen = term.wait_for("\nfirst")
        assert "\nsecond\n" not in screen
        assert hopx("exec", sid, "--", "touch", "/workspace/go", env=cli_env).returncode == 0
        screen = term.wait_for("status=7")
        assert "\nsecond\n" in screen
    hopx("kill", sid, env=cli_env)


def test_shell_is_a_raw_terminal_that_follows_the_window_size(
    cli_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    sid = _new_sandbox(cli_env)
    with terminal(tmp_path, cli_env, width=100, height=30) as term:
        term.type('saved="$(stty -g)"')
        term.type(f"hopx shell {sid}; echo shell-status=$?")
        term.wait_for(f"@{sid}")
        # The remote PTY has this window's size, and follows it when it changes (SIGWINCH).
        term.type("stty size")
        term.wait_for("\n30 100")
        term.resize(120, 40)
        term.type("stty size")
        term.wait_for("\n40 120")
        # Raw mode: Ctrl-C reaches the remote shell and interrupts its command, not hopx.
        term.type("sleep 300")
        # Interrupt only once the remote shell has read the line (its readline echoes it):
        # on a busy machine an earlier Ctrl-C flushes the line unread and nothing is shown.
        term.wait_for("sleep 300")
        term.keys("C-c")
        # The interrupt flushes the remote terminal's input queue (no NOFLSH): type the next
        # line only once the shell shows its prompt again, as a person would.
        term.wait_for(_prompt_after("sleep 300"))
        term.type("echo alive-$((6 * 7))")
        term.wait_for("\nalive-42")
        # Tab completion is the remote shell's too.
        term.type("touch /workspace/completion-target && ls /workspace/completion-t", enter=False)
        term.keys("Tab")
        term.wait_for("completion-target ")
        term.keys("C-u")
        term.type("exit 5")
        screen = term.wait_for("shell-status=5")
        assert screen.rstrip().endswith(PROMPT.strip())
        # The local terminal is back as it was (cooked mode, echo on).
        status, _ = term.run('[ "$(stty -g)" = "$saved" ]')
        assert status == 0
    hopx("kill", sid, env=cli_env)


def test_cp_both_ways_with_a_progress_bar(cli_env: dict[str, str], tmp_path: pathlib.Path) -> None:
    sid = _new_sandbox(cli_env)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * (8 * 4096))  # 8 MiB
    with terminal(tmp_path, cli_env) as term:
        status, shown = term.run(f"hopx cp payload.bin {sid}:/workspace/")
        assert status == 0, shown
        assert "payload.bin" in shown
        assert "/workspace/payload.bin  [" + "#" * 10 in shown
        assert "100%" in shown
        assert "8.0 MiB / 8.0 MiB" in shown
        status, shown = term.run(f"hopx cp {sid}:payload.bin back.bin")
        assert status == 0, shown
        assert "100%" in shown
        assert "8.0 MiB / 8.0 MiB" in shown
    assert (tmp_path / "back.bin").read_bytes() == payload.read_bytes()
    hopx("kill", sid, env=cli_env)


def test_shell_says_so_when_the_server_dies_and_restores_the_terminal(
    tmp_path: pathlib.Path,
) -> None:
    with emulator_process() as server:
        env = {**server.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        sid = _new_sandbox(env)
        with terminal(tmp_path, env) as term:
            term.type('saved="$(stty -g)"')
            term.type(f"hopx shell {sid}; echo shell-status=$?")
            term.wait_for(f"@{sid}")
            os.kill(server.pid, signal.SIGKILL)
            screen = term.wait_for(lambda s: re.search(r"shell-status=\d", s) is not None)
            assert "shell-status=1" in screen
            assert "hopx shell: the connection closed" in screen or "hopx: " in screen
            assert "Traceback" not in screen
            status, _ = term.run('[ "$(stty -g)" = "$saved" ]')
            assert status == 0
