"""The four documented examples, run as programs under each loop against the emulator."""

from __future__ import annotations

import pathlib
import shutil
import sys

import anyio
import pytest

import hopx_local

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def anyio_backend() -> str:
    """The emulator's loop does not matter here; each example runs under both loops."""
    return "asyncio"


async def run_example(name: str, loop: str, local: hopx_local.LocalServer) -> tuple[int, str]:
    env = {**local.env, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(EXAMPLES.parent)}
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, str(EXAMPLES / f"seed_{name}.py"), "--loop", loop],
            env=env,
            check=False,
        )
    return result.returncode, (result.stdout + result.stderr).decode()


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
async def test_basic(loop: str, local: hopx_local.LocalServer) -> None:
    code, output = await run_example("basic", loop, local)
    assert code == 0, output
    assert output == "Hello, HopX!\n\n"


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
async def test_context_manager(loop: str, local: hopx_local.LocalServer) -> None:
    code, output = await run_example("context_manager", loop, local)
    assert code == 0, output
    assert output.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
async def test_concurrent(loop: str, local: hopx_local.LocalServer) -> None:
    code, output = await run_example("concurrent", loop, local)
    if shutil.which("go"):
        assert code == 0, output
        assert output.count("\n") == 6
    else:
        # The emulator offers the go template only where Go is installed: a typed error.
        assert code != 0
        assert "TemplateNotFoundError" in output
        assert "Template 'go' not found" in output


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
async def test_streaming(loop: str, local: hopx_local.LocalServer) -> None:
    code, output = await run_example("streaming", loop, local)
    assert code == 0, output
    assert output == "".join(f"Count: {i}\n" for i in range(5))
