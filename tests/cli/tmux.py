"""A real terminal for tests: a tmux session on its own socket, driven by keys, read by screen.

Every wait is bounded; the tmux server (started by the test, on a socket in the test's
directory) is killed when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping

__all__ = ["Terminal", "terminal"]

#: The prompt of the test's local shell, distinct from any prompt inside a sandbox.
PROMPT = "local$ "


class Terminal:
    """One tmux pane running bash, ``width`` x ``height`` characters."""

    def __init__(self, tmux: str, socket: pathlib.Path) -> None:
        self._tmux = tmux
        self._socket = socket

    def tmux(self, *args: str) -> str:
        """Runs a tmux command against this session's server; its standard output."""
        done = subprocess.run(
            [self._tmux, "-S", str(self._socket), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def type(self, text: str, *, enter: bool = True) -> None:
        """Types ``text`` literally, then Enter."""
        self.tmux("send-keys", "-t", "t", "-l", text)
        if enter:
            self.tmux("send-keys", "-t", "t", "Enter")

    def keys(self, *names: str) -> None:
        """Presses keys by tmux name (``C-c``, ``C-d``, ``Enter``...)."""
        self.tmux("send-keys", "-t", "t", *names)

    def screen(self) -> str:
        """The pane's text, the whole scrollback, wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")

    def wait_for(self, text: str | Callable[[str], bool], *, timeout: float = 60.0) -> str:
        """The screen, once it contains ``text`` (or satisfies it); ``AssertionError`` after
        ``timeout`` seconds, quoting the screen."""
        check = (lambda screen: text in screen) if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not on the screen after {timeout} s: {text!r}\n{screen}")
            time.sleep(0.05)

    def run(self, command: str, *, timeout: float = 60.0) -> tuple[int, str]:
        """Types ``command`` at the local prompt, waits for it to end; (exit status, screen).

        The output is what the screen shows between the command and the next prompt.
        """
        marker = f"__done_{time.monotonic_ns()}"
        self.type(f"{command}; echo {marker}=$?")
        screen = self.wait_for(
            lambda s: f"{marker}=" in s.replace(f"echo {marker}=$?", ""), timeout=timeout
        )
        typed = screen.rindex(f"echo {marker}=$?")
        start = screen.index("\n", typed) + 1
        end = screen.index(f"{marker}=", start)
        status = int(screen[end + len(marker) + 1 :].split()[0])
        return status, screen[start:end]

    def resize(self, width: int, height: int) -> None:
        """Resizes the window (the programs in it get ``SIGWINCH``)."""
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))


@contextlib.contextmanager
def terminal(
    directory: pathlib.Path,
    env: Mapping[str, str],
    *,
    width: int = 100,
    height: int = 30,
) -> Iterator[Terminal]:
    """A tmux pane running ``bash`` in ``directory``, with ``env`` added to this environment
    for the shell (``PATH`` included) but not for tmux itself."""
    tmux, bash = shutil.which("tmux"), shutil.which("bash")
    if tmux is None or bash is None:
        raise RuntimeError("tmux and bash are needed: apt-get install tmux")
    socket = directory / "tmux.sock"
    variables = {**env, "PS1": PROMPT, "TERM": "xterm-256color"}
    shell = shlex.join(
        ["env", *(f"{k}={v}" for k, v in variables.items()), bash, "--norc", "--noprofile"]
    )
    subprocess.run(
        [
            tmux,
            "-S",
            str(socket),
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(directory),
            shell,
        ],
        check=True,
        timeout=30,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    term = Terminal(tmux, socket)
    try:
        term.tmux("set-option", "-g", "window-size", "manual")
        term.tmux("set-option", "-g", "history-limit", "20000")
        term.wait_for(PROMPT, timeout=30)
        yield term
    finally:
        subprocess.run(
            [tmux, "-S", str(socket), "kill-server"], capture_output=True, timeout=30, check=False
        )
