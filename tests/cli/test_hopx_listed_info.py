"""``hopx ls`` and ``hopx create --json`` print what the listing and the create reply carried,
without asking again for each sandbox (get_info is made to fail here to show it)."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest
from e2e.emulator_process import EmulatorProcess

import hopx_asyncio
from hopx_cli._main import main

pytestmark = pytest.mark.slow


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_ls_and_create_need_no_get_info(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)

    async def refused(self: Any) -> NoReturn:
        raise AssertionError(f"get_info({self.sandbox_id}) asked again for what was known")

    with monkeypatch.context() as patched:
        patched.setattr(hopx_asyncio.AsyncSandbox, "get_info", refused)
        made = [_run(capsys, "--json", "create") for _ in range(3)]
        for record in made:
            assert record["status"] == "running"
            assert record["template_name"] == "code-interpreter"
            assert record["created_at"]
        listed = {entry["sandbox_id"]: entry for entry in _run(capsys, "--json", "ls")}
        for record in made:
            assert listed[record["sandbox_id"]] == record
        assert main(["ls"]) == 0
        table = capsys.readouterr().out
        assert all(record["sandbox_id"] in table for record in made)
    assert main(["kill", *(record["sandbox_id"] for record in made)]) == 0
