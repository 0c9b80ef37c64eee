"""Starting a sandbox's instance: a start that fails leaves no descriptor open behind it."""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path

import pytest
from runtime_support import file_runtime

from hopx_local._runtime import (
    IsolationMode,
    Limits,
    SandboxFault,
    SandboxRuntime,
    instance as instance_module,
    resolve_isolation,
)

pytestmark = pytest.mark.anyio

MODES = sorted({IsolationMode.NONE, resolve_isolation("auto")}, key=lambda mode: mode.value)


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
async def test_a_start_that_cannot_spawn_closes_its_socketpair(
    tmp_path: Path, mode: IsolationMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / "no-such-program")
    runtime: SandboxRuntime
    if mode is IsolationMode.NONE:
        runtime = file_runtime(tmp_path)
        monkeypatch.setattr(instance_module, "python_executable", lambda: missing)
    else:
        runtime = SandboxRuntime(
            "sbx-failed-start",
            tmp_path / "sbx",
            isolation=mode,
            internet_access=False,
            limits=Limits(),
            output_cap=1 << 20,
        )
        monkeypatch.setattr(instance_module, "bwrap_path", lambda: missing)
    before = _open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SandboxFault) as failed:
            await runtime.start()
        del failed
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    assert _open_fds() <= before
    await runtime.shutdown()
