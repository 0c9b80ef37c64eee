"""A sandbox runtime for the file tests: plain processes, its root in the test's directory.

Imported by the ``test_runtime_*`` and ``test_server_*`` modules; holds no tests.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from hopx_local._runtime import IsolationMode, Limits, SandboxRuntime


def file_runtime(root: Path, sandbox_id: str | None = None) -> SandboxRuntime:
    """A runtime of sandbox ``sandbox_id`` (a new id unless given) kept below ``root``; a
    second one on the same root and id is the same sandbox after a restart."""
    return SandboxRuntime(
        sandbox_id or f"sbx-files-{secrets.token_hex(4)}",
        root,
        isolation=IsolationMode.NONE,
        internet_access=False,
        limits=Limits(),
        output_cap=1 << 20,
    )
