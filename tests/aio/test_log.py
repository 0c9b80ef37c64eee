"""The client's loggers: records go through :mod:`logging` as before, but :mod:`logging` is
only imported for a record that would be emitted."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from hopx_proto.aio._log import DEBUG, INFO, WARNING, Logger


def test_the_levels_are_those_of_logging() -> None:
    assert (DEBUG, INFO, WARNING) == (logging.DEBUG, logging.INFO, logging.WARNING)


def test_records_reach_logging_with_the_callers_place(caplog: pytest.LogCaptureFixture) -> None:
    log = Logger("hopx.test-log")
    caplog.set_level(logging.DEBUG, logger="hopx.test-log")
    log.debug("one %s", "debug")
    log.info("one %s", "info")
    log.warning("one %s", "warning")
    records = [r for r in caplog.records if r.name == "hopx.test-log"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.DEBUG, "one debug"),
        (logging.INFO, "one info"),
        (logging.WARNING, "one warning"),
    ]
    assert {r.funcName for r in records} == {"test_records_reach_logging_with_the_callers_place"}
    assert {r.filename for r in records} == {"test_log.py"}


def test_a_level_below_the_loggers_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    log = Logger("hopx.test-log-quiet")
    caplog.set_level(logging.INFO, logger="hopx.test-log-quiet")
    assert not log.is_enabled_for(DEBUG)
    assert log.is_enabled_for(INFO)
    log.debug("not seen")
    log.info("seen", exc_info=False)
    assert [r.getMessage() for r in caplog.records if r.name == "hopx.test-log-quiet"] == ["seen"]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )


def test_without_logging_loaded_debug_is_dropped_and_a_warning_loads_it() -> None:
    out = _run(
        "import sys\n"
        "from hopx_proto.aio._log import Logger\n"
        "log = Logger('hopx.x')\n"
        "log.debug('quiet %s', 1); log.info('quiet %s', 2)\n"
        "print('logging' in sys.modules)\n"
        "log.warning('loud %s', 3)\n"
        "print('logging' in sys.modules)\n"
    )
    assert out.stdout.split() == ["False", "True"]
    # As logging itself prints an unconfigured program's warning: its last-resort handler.
    assert out.stderr == "loud 3\n"
