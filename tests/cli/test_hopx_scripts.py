"""``hopx`` from scripts: ``--json`` results, ``--version``, and errors that say what to do."""

from __future__ import annotations

import json
import pathlib
from importlib import metadata

import pytest

from .conftest import hopx

pytestmark = pytest.mark.slow


def test_json_results_for_each_command(cli_env: dict[str, str], tmp_path: pathlib.Path) -> None:
    made = hopx("--json", "create", "--env", "GREETING=hi", env=cli_env)
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    sid = record["sandbox_id"]
    assert record["status"] == "running"
    assert record["template_name"] == "code-interpreter"
    assert "auth_token" not in made.stdout

    listed = hopx("ls", "--json", env=cli_env)  # --json after the command works too
    assert listed.returncode == 0, listed.stderr
    assert sid in [entry["sandbox_id"] for entry in json.loads(listed.stdout)]

    ran = hopx("--json", "exec", sid, "--", "echo $GREETING; echo oops >&2; exit 3", env=cli_env)
    assert ran.returncode == 3
    assert json.loads(ran.stdout) == {
        "exit_code": 3,
        "stdout": "hi\n",
        "stderr": "oops\n",
        "error": None,
    }

    (tmp_path / "up.txt").write_text("payload\n")
    copied = hopx("--json", "cp", str(tmp_path / "up.txt"), f"{sid}:notes/", env=cli_env)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout) == {
        "source": str(tmp_path / "up.txt"),
        "destination": f"{sid}:/workspace/notes/up.txt",
        "bytes": 8,
    }
    back = hopx("--json", "cp", f"{sid}:notes/up.txt", str(tmp_path) + "/", env=cli_env)
    assert json.loads(back.stdout)["bytes"] == 8

    killed = hopx("--json", "kill", sid, env=cli_env)
    assert json.loads(killed.stdout) == {"killed": [sid]}
    listed = hopx("--json", "ls", env=cli_env)
    assert sid not in [entry["sandbox_id"] for entry in json.loads(listed.stdout)]


def test_plain_output_is_a_table_and_a_bare_id(cli_env: dict[str, str]) -> None:
    made = hopx("create", env=cli_env)
    sid = made.stdout.strip()
    assert sid
    assert made.stdout == f"{sid}\n"  # ID=$(hopx create) works
    table = hopx("ls", env=cli_env).stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "TEMPLATE", "CREATED", "EXPIRES", "AGENT"]
    assert any(line.split()[:2] == [sid, "running"] for line in table[1:])
    assert hopx("kill", sid, env=cli_env).stdout == f"killed {sid}\n"


def test_version_is_the_distribution_version() -> None:
    shown = hopx("--version", env={})
    assert shown.returncode == 0
    assert shown.stdout == f"hopx {metadata.version('hopx-sansio')}\n"


def test_an_unknown_sandbox_says_how_to_find_one(cli_env: dict[str, str]) -> None:
    gone = hopx("exec", "no-such-sandbox", "--", "true", env=cli_env)
    assert gone.returncode == 1
    assert gone.stderr.startswith("hopx: ")
    assert "no-such-sandbox" in gone.stderr
    assert "`hopx ls` lists the sandboxes" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_no_api_key_says_where_to_get_one() -> None:
    missing = hopx("ls", env={"HOPX_API_KEY": ""})
    assert missing.returncode == 2
    assert "set HOPX_API_KEY" in missing.stderr
    assert "hopx-local serve" in missing.stderr


def test_nothing_listens_says_to_check_the_url() -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test machine.
    down = hopx("ls", env={"HOPX_API_KEY": "k", "HOPX_BASE_URL": "http://127.0.0.1:9"})
    assert down.returncode == 1
    assert "check HOPX_BASE_URL" in down.stderr
    assert "Traceback" not in down.stderr


def test_usage_mistakes_exit_2_with_the_right_form(
    cli_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    both_local = hopx("cp", "a", "b", env=cli_env)
    assert both_local.returncode == 2
    assert "exactly one of SRC and DST is ID:PATH" in both_local.stderr
    no_cmd = hopx("exec", "x", env=cli_env)
    assert no_cmd.returncode == 2
    assert "hopx exec ID -- ls -la" in no_cmd.stderr
    piped = hopx("shell", "x", env=cli_env)
    assert piped.returncode == 2
    assert "needs a terminal" in piped.stderr
    directory = hopx("cp", str(tmp_path), "x:/workspace/", env=cli_env)
    assert directory.returncode == 2
    assert "is a directory" in directory.stderr
