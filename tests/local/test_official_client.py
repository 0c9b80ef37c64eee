"""The official ``hopx-ai`` client (0.5.0) against the emulator: it must work unchanged.

The official client runs on asyncio only. It never closes its HTTP clients, so the resource
warnings it leaves behind are not ours and are ignored here.
"""

from __future__ import annotations

import base64
import gc
import importlib.util
from typing import Any

import anyio
import pytest

import hopx_asyncio
import hopx_local
from hopx_local._runtime.launches import BASE_ENV_NAMES

hopx_ai = pytest.importorskip("hopx_ai")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def api_vars(env: dict[str, str]) -> dict[str, str]:
    """The variables of a sandbox's environment set through the API (``GET /env`` also has
    the sandbox's own: ``PATH``, ``HOME``, ...)."""
    assert env["PATH"], env
    assert env["HOME"], env
    return {name: value for name, value in env.items() if name not in BASE_ENV_NAMES}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_official_client_end_to_end() -> None:
    with anyio.fail_after(120):
        async with hopx_local.serve() as local:
            await _exercise(local.base_url, local.api_key)
            # Let the client's abandoned connections be finalised while this test's warning
            # filters are in force.
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()


async def _exercise(base_url: str, api_key: str) -> None:
    sandbox_cls: Any = hopx_ai.AsyncSandbox
    common = {"api_key": api_key, "base_url": base_url}
    sb = await sandbox_cls.create(
        template="code-interpreter",
        env_vars={"FROM_CREATE": "yes"},
        timeout_seconds=600,
        **common,
    )
    info = await sb.get_info()
    assert info.status == "running"
    assert info.public_host.startswith("http://127.0.0.1:")
    assert info.resources.disk_mb > 0
    # Its preview URLs need a *.vms.hopx.dev host: it raises, and the emulator's preview_url
    # (docs/migrating.md) is there to build them from.
    agent_port = info.public_host.rsplit(":", 1)[1]
    assert info.preview_url == f"http://{sb.sandbox_id}.localhost:{agent_port}"
    with pytest.raises(hopx_ai.errors.HopxError):
        await sb.get_preview_url(8080)

    result = await sb.run_code("import os\nprint(6 * 7, os.environ['FROM_CREATE'])")
    assert result.stdout == "42 yes\n"
    assert result.exit_code == 0

    await sb.files.write("/workspace/notes/hello.txt", "hello world")
    assert await sb.files.read("/workspace/notes/hello.txt") == "hello world"
    assert await sb.files.exists("/workspace/notes/hello.txt")
    await sb.files.mkdir("/workspace/empty")
    names = {f.name for f in await sb.files.list("/workspace")}
    assert {"notes", "empty"} <= names
    await sb.files.remove("/workspace/notes")
    assert not await sb.files.exists("/workspace/notes/hello.txt")

    command = await sb.commands.run("echo $((2 + 3)) && pwd")
    assert command.stdout.split() == ["5", "/workspace"]

    await sb.env.set_all({"ONE": "1"})
    await sb.env.update({"TWO": "2"})
    await sb.env.set("THREE", "3")
    assert api_vars(await sb.env.get_all()) == {"ONE": "1", "TWO": "2", "THREE": "3"}
    await sb.env.delete("ONE")
    assert await sb.env.get("ONE") is None
    assert await sb.env.get("TWO") == "2"

    streamed = [m async for m in sb.run_code_stream("print('a')\nprint('b')")]
    out = "".join(m.get("data", "") for m in streamed if m.get("type") == "stdout")
    assert out == "a\nb\n"
    assert streamed[-1]["type"] == "complete"

    ws = await sb.terminal.connect(timeout=30)
    try:
        await sb.terminal.send_input(ws, "echo term-$((40 + 2))\n")
        seen = ""
        with anyio.fail_after(20):
            async for message in sb.terminal.iter_output(ws):
                if message.get("type") == "output":
                    seen += message.get("data", "")
                if "term-42" in seen:
                    break
    finally:
        await ws.close()

    ids = {s.sandbox_id for s in await sandbox_cls.list(**common)}
    assert sb.sandbox_id in ids
    iterated = [s.sandbox_id async for s in sandbox_cls.iter(**common)]
    assert sb.sandbox_id in iterated

    await sb.pause()
    assert (await sb.get_info()).status == "paused"
    await sb.resume()
    assert (await sb.get_info()).status == "running"
    again = await sb.run_code("print('after resume')")
    assert again.stdout == "after resume\n"

    await sb.kill()
    assert sb.sandbox_id not in {s.sandbox_id for s in await sandbox_cls.list(**common)}


async def test_official_and_our_results_dump_alike() -> None:
    """The same sandbox read by both clients: our results' model_dump(mode="json") holds every
    key of the official one, with the same value."""
    with anyio.fail_after(120):
        async with hopx_local.serve() as local:
            await _compare_dumps(local.base_url, local.api_key)
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()


async def _compare_dumps(base_url: str, api_key: str) -> None:
    common = {"api_key": api_key, "base_url": base_url}
    ours = await hopx_asyncio.AsyncSandbox.create(template="code-interpreter", **common)
    try:
        theirs = await hopx_ai.AsyncSandbox.connect(ours.sandbox_id, **common)
        await ours.files.write("/workspace/a.txt", "a")
        await ours.files.mkdir("/workspace/sub")
        pairs = [
            ([await ours.get_info()], [await theirs.get_info()]),
            (await ours.files.list("/workspace"), await theirs.files.list("/workspace")),
            (
                await hopx_asyncio.AsyncSandbox.list_templates(**common),
                await hopx_ai.AsyncSandbox.list_templates(**common),
            ),
        ]
        for mine, official in pairs:
            assert len(mine) == len(official)
            for a, b in zip(sorted(mine, key=_key), sorted(official, key=_key), strict=True):
                got, want = a.model_dump(mode="json"), b.model_dump(mode="json")
                assert {k: got[k] for k in want} == want
                assert {k: a.dict()[k] for k in want} == b.model_dump()
        ran = await ours.run_code("print(6 * 7)")
        official_run = await theirs.run_code("print(6 * 7)")
        got, want = ran.model_dump(mode="json"), official_run.model_dump(mode="json")
        for key in ("stdout", "stderr", "exit_code", "success", "rich_outputs"):
            assert got[key] == want[key], key
    finally:
        await ours.kill()


def _key(value: Any) -> str:
    return str(getattr(value, "path", None) or getattr(value, "name", None) or value.sandbox_id)


@pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None or importlib.util.find_spec("matplotlib") is None,
    reason="pandas and matplotlib are needed",
)
async def test_official_client_sees_the_kernels_rich_outputs() -> None:
    from hopx_local._runtime.kernel import kernel_support

    if not kernel_support().available:
        pytest.skip(kernel_support().reason)
    with anyio.fail_after(240):
        async with hopx_local.serve() as local:
            table, figure, shown = await _rich_runs(local.base_url, local.api_key)
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()
    by_type = dict(table)
    assert "<table" in by_type["text/html"]["text/html"]
    frame = by_type["application/vnd.dataframe+json"]["application/vnd.dataframe+json"]
    assert frame["columns"] == ["a"]
    pngs = [data for mime, data in figure if mime == "image/png"]
    assert len(pngs) == 1
    assert base64.b64decode(pngs[0]["image/png"]).startswith(b"\x89PNG")
    assert shown == [("application/json", {"application/json": {"k": 1}})]


async def _rich_runs(base_url: str, api_key: str) -> list[list[tuple[str, Any]]]:
    """(MIME type, data) of the rich outputs of a DataFrame, a figure and a display()."""
    sb = await hopx_ai.AsyncSandbox.create(
        template="code-interpreter", api_key=api_key, base_url=base_url
    )
    try:
        await sb.run_code("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})")
        results = [
            await sb.run_code("df", timeout_seconds=120),
            await sb.run_code(
                "import matplotlib.pyplot as plt\nplt.plot([1, 2])", timeout_seconds=120
            ),
            await sb.run_code("display({'application/json': {'k': 1}}, raw=True)"),
        ]
    finally:
        await sb.kill()
    return [[(_mime(o), o.data) for o in r.rich_outputs] for r in results]


def _mime(output: Any) -> str:
    """The MIME type of an official RichOutput (an enum member there)."""
    return str(getattr(output.type, "value", output.type))


@pytest.mark.skipif(importlib.util.find_spec("plotly") is None, reason="plotly is needed")
async def test_official_client_sees_a_plotly_figure_as_html() -> None:
    from hopx_local._runtime.kernel import kernel_support

    if not kernel_support().available:
        pytest.skip(kernel_support().reason)
    with anyio.fail_after(240):
        async with hopx_local.serve() as local:
            outputs = await _plotly_run(local.base_url, local.api_key)
            await anyio.sleep(0.1)
            gc.collect()
    gc.collect()
    assert [mime for mime, _data in outputs] == ["text/html"]
    assert "Plotly.newPlot" in outputs[0][1]["text/html"]


async def _plotly_run(base_url: str, api_key: str) -> list[tuple[str, Any]]:
    """(MIME type, data) of the rich outputs of a plotly figure's ``show()``."""
    sb = await hopx_ai.AsyncSandbox.create(
        template="code-interpreter", api_key=api_key, base_url=base_url
    )
    try:
        result = await sb.run_code(
            "import plotly.graph_objects as go\ngo.Figure(go.Bar(y=[1, 2])).show()",
            timeout_seconds=120,
        )
    finally:
        await sb.kill()
    return [(_mime(o), o.data) for o in result.rich_outputs or []]
