"""Values the runtime returns: execution outcomes and process records."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ExecOutcome", "ProcessRecord"]


@attrs.frozen
class ExecOutcome:
    """The result of running code or a command to completion.

    ``exit_code`` is shell-style (128 + N after signal N); ``timed_out`` says the run was
    killed at its timeout; ``truncated`` that stdout or stderr exceeded the output cap and was
    cut; ``rich`` holds display outputs such as ``{"type": "image/png", "data": base64}``.
    From the Jupyter kernel: ``result`` is the text of the cell's last expression, ``error`` a
    sentence saying why the cell failed, ``kernel_restarted`` that the kernel is gone (it died,
    or ignored the interrupt at the timeout) and the next execution gets a fresh one.
    """

    stdout: str
    stderr: str
    exit_code: int
    execution_time: float
    timed_out: bool = False
    truncated: bool = False
    rich: list[dict[str, Any]] = attrs.Factory(list)
    pid: int | None = None
    result: str | None = None
    error: str | None = None
    kernel_restarted: bool = False


@attrs.frozen
class ProcessRecord:
    """A background process as the agent reports it (``ProcessInfo`` on the wire).

    ``status`` is ``running``, ``completed`` (exit 0), ``failed`` (other exit) or ``killed``;
    times are RFC 3339 UTC strings, ``duration`` seconds (so far, while running). A process
    killed at its timeout is ``failed`` with ``timed_out`` true and ``error`` saying so.
    """

    process_id: str
    execution_id: str
    name: str
    status: str
    language: str
    pid: int
    start_time: str
    end_time: str | None = None
    exit_code: int | None = None
    duration: float | None = None
    timed_out: bool | None = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The record as the JSON object of ``ProcessInfo``."""
        return attrs.asdict(self)
