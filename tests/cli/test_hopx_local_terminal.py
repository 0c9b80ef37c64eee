"""``hopx-local`` in a real terminal (tmux): defaults in ``--help``, a busy port, the isolation
warning, and the upload limit as a ``serve`` option."""

from __future__ import annotations

import os
import pathlib
import socket
import sys

import pytest

from .conftest import BIN, hopx, script
from .tmux import terminal

pytestmark = pytest.mark.slow

_WARNING = "sandboxes run as plain host processes"


def _env() -> dict[str, str]:
    return {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _banner_url(screen: str) -> str:
    return screen.split("HOPX_BASE_URL=", 1)[1].split()[0]


def test_help_shows_the_defaults(tmp_path: pathlib.Path) -> None:
    with terminal(tmp_path, _env(), width=100, height=50) as term:
        status, shown = term.run("hopx-local serve --help")
    assert status == 0
    assert "(default: 8787)" in shown
    assert "(default: 127.0.0.1" in shown
    assert "(default: auto)" in shown
    assert "(default: 64MiB)" in shown
    assert "--max-upload SIZE" in shown


def test_a_busy_port_is_named_with_the_way_out(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with terminal(tmp_path, _env()) as term:
            status, shown = term.run(f"hopx-local serve --port {port} --state-dir st")
    assert status == 1
    assert f"port {port} on 127.0.0.1 is already in use" in shown
    assert "--port 0 for a free one" in shown
    assert "Traceback" not in shown


def test_without_bubblewrap_the_warning_is_shown_once_with_how_to_install_it(
    tmp_path: pathlib.Path,
) -> None:
    # A PATH holding only the interpreter: no bwrap to be found, as on a machine without it.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    with terminal(tmp_path, {"PATH": str(bare)}, width=120, height=40) as term:
        term.type(f"{script('hopx-local')} serve --port 0 --state-dir st")
        # The probe's log line comes before the listener's, the banner (stdout) after both.
        screen = term.wait_for(lambda s: "control plane on" in s and "and restart." in s)
        term.keys("C-c")
        term.wait_for("SIGINT received")
    assert screen.count(_WARNING) == 1, screen
    assert "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap" in screen


def test_the_upload_limit_is_a_serve_option(tmp_path: pathlib.Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * (512 * 1024))
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * (2 * 1024 * 1024))
    with terminal(tmp_path, _env()) as term:
        term.type("hopx-local serve --port 0 --state-dir st --api-key k --max-upload 1MiB")
        url = _banner_url(term.wait_for("HOPX_API_KEY=k"))
        env = {"HOPX_BASE_URL": url, "HOPX_API_KEY": "k"}
        sid = hopx("create", env=env).stdout.strip()
        assert hopx("cp", str(small), f"{sid}:/workspace/", env=env).returncode == 0
        refused = hopx("cp", str(big), f"{sid}:/workspace/", env=env)
        assert refused.returncode == 1
        assert "413" in refused.stderr, refused.stderr
        listed = hopx("exec", sid, "--", "ls /workspace", env=env).stdout.split()
        assert "small.bin" in listed
        assert "big.bin" not in listed
        term.keys("C-c")
        term.wait_for("SIGINT received")


def test_a_size_that_is_not_one_is_refused(tmp_path: pathlib.Path) -> None:
    with terminal(tmp_path, _env()) as term:
        status, shown = term.run("hopx-local serve --max-upload lots")
    assert status == 2
    assert "'lots' is not a size" in shown
