"""Python in the emulator runs in a Jupyter kernel per sandbox, as in the service's
``code-interpreter`` template: state persists, last expressions and ``display()`` are rich
outputs, timeouts interrupt, a dead kernel is replaced. Both loops, through the client."""

from __future__ import annotations

import base64
import importlib.util
import json
from typing import Any

import anyio
import anyio.abc
import pytest

import hopx_local
from hopx_local._runtime.kernel import kernel_support
from hopx_proto import NEED_DATA, HTTPConnection, Request, Response, Role
from hopx_proto.ops import AGENT_HEALTH, NoArgs

pytestmark = pytest.mark.slow
needs_kernel = pytest.mark.skipif(not kernel_support().available, reason=kernel_support().reason)

_PNG = b"\x89PNG\r\n\x1a\n"


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _rich(result: Any) -> list[dict[str, Any]]:
    entries = result.extra.get("rich_outputs", [])
    assert isinstance(entries, list)
    return entries


@needs_kernel
async def test_state_persists_and_stays_in_its_sandbox(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with (
        adapter.AsyncSandbox.create(template="code-interpreter") as one,
        adapter.AsyncSandbox.create(template="code-interpreter") as two,
    ):
        assert (await one.run_code("x = 41")).exit_code == 0
        shown = await one.run_code("print(x + 1)")
        assert shown.stdout == "42\n"
        assert shown.success
        elsewhere = await two.run_code("print(x)")
        assert not elsewhere.success
        assert "NameError" in elsewhere.stderr
        assert elsewhere.error == "NameError: name 'x' is not defined"
        last = await one.run_code("x * 2")
        assert last.result == "82"
        assert last.stdout == ""
        sessions = await one.get_jupyter_sessions()
        assert len(sessions) == 1
        assert sessions[0]["execution_state"] == "idle"
        assert await two.get_jupyter_sessions() != sessions
        health = await one._agent.call(AGENT_HEALTH, NoArgs())
        assert health.features.ipython_kernel is True


@needs_kernel
async def test_display_without_import_and_magics(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        shown = await sb.run_code(
            "class Card:\n"
            "    def _repr_html_(self):\n"
            "        return '<b>card</b>'\n"
            "display(Card())\n"
            "display({'application/json': {'n': 1}}, raw=True)\n"
        )
        assert shown.success, shown.stderr
        assert shown.html == "<b>card</b>"
        assert shown.json_output == {"n": 1}
        assert [e["type"] for e in _rich(shown)] == ["text/html", "application/json"]
        timed = await sb.run_ipython("%timeit -n 3 -r 1 sum(range(10))")
        assert "per loop" in timed.stdout
        listed = await sb.run_ipython("!ls /workspace/..")
        assert "workspace" in listed.stdout
        events = [dict(e) async for e in sb.run_ipython_stream("print('a')\nprint('b')\n1 + 1")]
        out = [e["data"] for e in events if e["type"] == "stdout"]
        assert "".join(out) == "a\nb\n"
        assert all(chunk.endswith("\n") for chunk in out)
        assert events[-1]["type"] == "complete"
        assert events[-1]["success"] is True


@needs_kernel
@pytest.mark.skipif(not _has("matplotlib"), reason="matplotlib is not installed")
async def test_matplotlib_figures_are_png(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        shown = await sb.run_code(
            "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
            timeout_seconds=120,
        )
        assert shown.success, shown.stderr
        assert shown.png is not None
        assert base64.b64decode(shown.png).startswith(_PNG)
        assert _rich(shown)[0]["metadata"]["source"] == "matplotlib"
        left_open = await sb.run_code("plt.figure(); plt.bar([1, 2], [3, 4])")
        assert left_open.success, left_open.stderr
        assert left_open.png is not None
        assert base64.b64decode(left_open.png).startswith(_PNG)
        assert left_open.png != shown.png
        two = await sb.run_code("plt.figure(); plt.plot([1]); plt.figure(); plt.plot([2])")
        assert len(two.images) == 2
        assert all(d.metadata["source"] == "matplotlib" for d in two.displays)


@needs_kernel
@pytest.mark.skipif(not _has("pandas"), reason="pandas is not installed")
async def test_a_bare_dataframe_is_an_html_table(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        shown = await sb.run_code(
            "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\ndf",
            timeout_seconds=120,
        )
        assert shown.success, shown.stderr
        assert shown.html is not None
        assert "<table" in shown.html
        assert "dataframe" in shown.html
        kinds = {e["type"]: e for e in _rich(shown)}
        assert kinds["text/html"]["metadata"]["source"] == "pandas"
        frame = kinds["application/vnd.dataframe+json"]["data"]
        assert frame["columns"] == ["a", "b"]
        assert frame["data"] == [[1, "x"], [2, "y"]]
        assert shown.data_frames == [frame]
        assert shown.html_outputs == [shown.html]


@needs_kernel
@pytest.mark.skipif(not _has("plotly"), reason="plotly is not installed")
async def test_a_plotly_figure_is_html_from_plotly(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    # As the service's template returns it: a text/html entry whose source is plotly (and
    # the figure's own JSON beside it), for fig.show() and for a bare fig alike.
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        shown = await sb.run_code(
            "import plotly.graph_objects as go\n"
            "fig = go.Figure(go.Bar(x=['a', 'b'], y=[3, 5]))\n"
            "fig.show()",
            timeout_seconds=120,
        )
        bare = await sb.run_code("fig")
        for result in (shown, bare):
            assert result.success, result.stderr
            entries = _rich(result)
            assert [e["type"] for e in entries] == [
                "text/html",
                "application/vnd.plotly.v1+json",
            ]
            assert {e["metadata"]["source"] for e in entries} == {"plotly"}
            assert result.html is not None
            assert "Plotly.newPlot" in result.html
            assert entries[1]["data"]["data"][0]["y"] == [3, 5]
            assert result.html_outputs == [result.html]
        events = [dict(e) async for e in sb.run_ipython_stream("fig.show()")]
        displays = [e for e in events if e["type"] == "display"]
        assert [d["mime"] for d in displays] == ["text/html", "application/vnd.plotly.v1+json"]


@needs_kernel
async def test_a_timeout_interrupts_and_keeps_the_state(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("kept = 'still here'")
        slow = await sb.run_code("import time\nwhile True: time.sleep(0.1)", timeout_seconds=1)
        assert not slow.success
        assert slow.exit_code == 137
        assert slow.timed_out is True
        assert "timed out" in slow.error
        assert "KeyboardInterrupt" in slow.stderr
        assert "kernel_restarted" not in slow.extra
        after = await sb.run_code("print(kept)")
        assert after.stdout == "still here\n"


@needs_kernel
async def test_a_cell_that_ignores_the_interrupt_restarts_the_kernel(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("lost = 1")
        stubborn = await sb.run_code(
            "import signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True: time.sleep(0.1)",
            timeout_seconds=1,
        )
        assert stubborn.timed_out is True
        assert stubborn.kernel_restarted is True
        assert "restarted" in stubborn.error
        fresh = await sb.run_code("print('lost' in globals())")
        assert fresh.stdout == "False\n"


@needs_kernel
async def test_a_dead_kernel_is_replaced(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("before = 1")
        first = (await sb.get_jupyter_sessions())[0]["kernel_id"]
        died = await sb.run_code("import os\nos._exit(1)")
        assert not died.success
        assert died.kernel_restarted is True
        assert "kernel died" in died.error
        fresh = await sb.run_code("print('before' in globals())")
        assert fresh.stdout == "False\n"
        assert (await sb.get_jupyter_sessions())[0]["kernel_id"] != first


@needs_kernel
async def test_pause_keeps_state_and_stop_loses_it(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("n = 7")
        await sb.pause()
        await sb.resume()
        assert (await sb.run_code("print(n)")).stdout == "7\n"
        kernel = (await sb.get_jupyter_sessions())[0]["kernel_id"]
        await sb.stop()
        await sb.start()
        assert await sb.get_jupyter_sessions() == []
        again = await sb.run_code("print('n' in globals())")
        assert again.stdout == "False\n"
        assert (await sb.get_jupyter_sessions())[0]["kernel_id"] != kernel


@needs_kernel
async def test_hostile_cells_leave_the_kernel_usable(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        flood = await sb.run_code(
            "import sys\nchunk = 'y' * (1 << 20)\nfor _ in range(100): sys.stdout.write(chunk)",
            timeout_seconds=120,
        )
        assert flood.extra["truncated"] is True
        assert len(flood.stdout) <= 8 * 1024 * 1024
        odd = await sb.run_code("display({'application/json': object()}, raw=True)")
        assert not odd.success
        assert odd.error
        huge = await sb.run_code(
            "display({'text/html': 'x' * (40 << 20)}, raw=True)\nprint('went on')",
            timeout_seconds=120,
        )
        assert not huge.success
        assert "dropped" in huge.error
        assert huge.html is None
        assert huge.stdout == "went on\n"
        forked = await sb.run_code(
            "import os\nif os.fork() == 0:\n    os._exit(0)\nprint('parent')"
        )
        assert forked.stdout == "parent\n"
        closed = await sb.run_code(
            "import os\nfor fd in range(3, 256):\n    try: os.close(fd)\n    except OSError: pass",
            timeout_seconds=3,
        )
        assert not closed.success
        after = await sb.run_code("print('alive')")
        assert after.stdout == "alive\n"


@needs_kernel
async def test_a_broken_kernel_is_found_before_the_timeout(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    # Each of these would have held the call for its whole timeout (600 s): a kernel whose
    # output channel is closed still answers on the others, one stopped answers nothing.
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        for cell, says in (
            ("get_ipython().kernel.iopub_thread.socket.close(linger=0)", "output channel"),
            ("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", "heartbeat"),
        ):
            await sb.run_code("state = 1")
            with anyio.fail_after(180):
                broken = await sb.run_code(cell, timeout_seconds=600)
            assert not broken.success
            assert broken.kernel_restarted is True
            assert says in broken.error
            assert "timed_out" not in broken.extra
            after = await sb.run_code("print('state' in globals())")
            assert after.stdout == "False\n", "a fresh kernel"


@needs_kernel
async def test_a_forked_cell_ends_with_its_cell(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    # A fork that leaves by sys.exit() (which IPython catches) or falls off the end of the
    # cell would go on as a second kernel on the same sockets: it ends instead.
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("state = 1")
        left = await sb.run_code(
            "import os, sys\nif os.fork() == 0:\n    sys.exit(0)\nprint('parent')"
        )
        assert left.stdout == "parent\n", left.stderr
        # What a fork prints reaches the cell if it comes before the cell's end, as in
        # Jupyter: the two processes race, so the child's line may or may not be there.
        fell = await sb.run_code(
            "import os\nchild = os.fork()\nprint('parent' if child else 'child')"
        )
        assert sorted(fell.stdout.splitlines()) in (["parent"], ["child", "parent"]), fell.stderr
        # The kernel's children still running (not zombies), until none is left (bounded).
        probe = (
            "import os\n"
            "def _stat(p):\n"
            "    return open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[:2]\n"
            "print([p for p in os.listdir('/proc') if p.isdigit()"
            " and _stat(p)[1] == str(os.getpid()) and _stat(p)[0] != 'Z'])"
        )
        with anyio.fail_after(60):
            left = await sb.run_code(probe)
            for _attempt in range(200):
                if left.stdout == "[]\n":
                    break
                await anyio.sleep(0.2)
                left = await sb.run_code(probe)
        assert left.stdout == "[]\n", left.stderr
        assert (await sb.run_code("print(state)")).stdout == "1\n"


@needs_kernel
async def test_display_data_of_the_wrong_shape_is_an_error_not_a_broken_reply(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        typed = await sb.run_code(
            "display({'image/png': 123, 'text/html': ['a'], 'application/json': {'ok': 1}},"
            " raw=True)"
        )
        assert not typed.success
        assert typed.png is None
        assert typed.html is None
        assert typed.json_output == {"ok": 1}
        assert "image/png was dropped: its data is int, not text" in typed.stderr
        assert "text/html was dropped: its data is list, not text" in typed.error
        deep = await sb.run_code(
            "d = []\nx = d\nfor i in range(900):\n    x.append([]); x = x[0]\n"
            "display({'application/json': {'deep': d}}, raw=True)\nprint('went on')"
        )
        assert not deep.success
        assert "nests deeper than 64 levels" in deep.error
        assert deep.stdout == "went on\n"
        assert _rich(deep) == []
        odd = await sb.run_code("display({'application/json': object()}, raw=True)")
        assert not odd.success
        assert "Can't clean for JSON" in odd.error
        assert (await sb.run_code("print('alive')")).stdout == "alive\n"


async def test_without_the_kernel_python_runs_fresh_and_says_so(adapter: Any) -> None:
    async with (
        hopx_local.serve(python_kernel=False) as local,
        adapter.AsyncSandbox.create(
            template="code-interpreter", api_key=local.api_key, base_url=local.base_url
        ) as sb,
    ):
        await sb.run_code("x = 1")
        fresh = await sb.run_code("print('x' in globals())")
        assert fresh.stdout == "False\n"
        assert await sb.get_jupyter_sessions() == []
        health = await sb._agent.call(AGENT_HEALTH, NoArgs())
        assert health.features.ipython_kernel is False
        info = await sb.get_agent_info()
        assert info["ipython_kernel"] is False
        assert info["ipython_kernel_note"]
        template = await adapter.AsyncSandbox.get_template(
            "code-interpreter", api_key=local.api_key, base_url=local.base_url
        )
        assert "ipython_kernel" not in template.features
        assert "fresh interpreter" in template.description


@needs_kernel
async def test_the_template_lists_what_this_host_has(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = await adapter.AsyncSandbox.get_template("code-interpreter")
    assert {"ipython_kernel", "rich_output"} <= set(template.features)
    for name in ("numpy", "pandas", "matplotlib", "plotly"):
        assert (name in template.tags) is _has(name)
    assert "Jupyter kernel" in template.description


_DATA = ("numpy", "pandas", "matplotlib", "plotly")


@pytest.mark.parametrize("python_kernel", [True, False], ids=["kernel", "no-kernel"])
async def test_every_template_lists_what_its_code_can_import(
    adapter: Any, python_kernel: bool
) -> None:
    # What the sandbox's own Python finds, not what the server's environment has: without
    # the kernel, sandboxed code sees the interpreter's installation only.
    if python_kernel and not kernel_support().available:
        pytest.skip(kernel_support().reason)
    probe = (
        "import importlib.util, json\n"
        f"print(json.dumps([n for n in {_DATA!r} if importlib.util.find_spec(n)]))"
    )
    async with hopx_local.serve(python_kernel=python_kernel) as local:
        keys = {"api_key": local.api_key, "base_url": local.base_url}
        for name in ("code-interpreter", "base"):
            template = await adapter.AsyncSandbox.get_template(name, **keys)
            async with adapter.AsyncSandbox.create(template=name, **keys) as sb:
                found = await sb.run_code(probe, timeout_seconds=120)
            assert found.success, found.stderr
            importable = json.loads(found.stdout)
            assert [tag for tag in template.tags if tag in _DATA] == importable
            for package in importable:
                assert f"{package} " in template.description
            assert ("ipython_kernel" in template.features) is python_kernel


@needs_kernel
async def test_streams_carry_whole_lines_and_flushes(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        code = (
            "import sys, time\n"
            "for i in range(300):\n"
            "    print('line', i)\n"
            "    print('err', i, file=sys.stderr)\n"
            "print('.', end='', flush=True)\n"
            "time.sleep(1)\n"
            "print('done')\n"
        )
        events = [dict(e) async for e in sb.run_code_stream(code)]
        out = [e["data"] for e in events if e["type"] == "stdout"]
        err = [e["data"] for e in events if e["type"] == "stderr"]
        assert "".join(out) == "".join(f"line {i}\n" for i in range(300)) + ".done\n"
        assert "".join(err) == "".join(f"err {i}\n" for i in range(300))
        assert all(chunk.endswith("\n") for chunk in err)
        assert "." in out, "a flush without a newline is sent as it is"
        assert all(chunk.endswith("\n") for chunk in out if chunk != ".")


@needs_kernel
async def test_a_fast_writer_streams_in_frames_a_client_takes(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    # The kernel hands over megabytes between two of its flushes; each frame stays far
    # under the client's 1 MiB message limit, lines stay whole where they fit, and nothing
    # is lost or reordered.
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        code = (
            "import sys\n"
            "for i in range(64):\n"
            "    sys.stdout.write('x' * 65536)\n"  # 4 MiB without a newline
            "for i in range(20000):\n"
            "    print('line', i)\n"
            "sys.stderr.write('e' * (3 << 20) + '\\n')\n"
        )
        events = [dict(e) async for e in sb.run_code_stream(code, timeout=120)]
        out = [e["data"] for e in events if e["type"] == "stdout"]
        err = [e["data"] for e in events if e["type"] == "stderr"]
        lines = "".join(f"line {i}\n" for i in range(20000))
        assert "".join(out) == "x" * (4 << 20) + lines
        assert "".join(err) == "e" * (3 << 20) + "\n"
        assert max(map(len, out + err)) <= 64 * 1024
        # Past the unbroken run, every frame ends at a line end.
        joined_lines = [chunk for chunk in out if "line" in chunk]
        assert all(chunk.endswith("\n") for chunk in joined_lines[1:])


def test_frame_pieces_cut_at_line_ends_within_the_bound() -> None:
    from hopx_local._runtime.kernel import frame_pieces

    assert frame_pieces("") == []
    assert frame_pieces("ab\ncd\nef", limit=4) == ["ab\n", "cd\n", "ef"]
    assert frame_pieces("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]
    text = "".join(f"{i}\n" for i in range(1000)) + "z" * 50
    pieces = frame_pieces(text, limit=64)
    assert "".join(pieces) == text
    assert all(len(p) <= 64 for p in pieces)
    assert all(p.endswith("\n") for p in pieces[:-2])


async def _finished(sb: Any, process_id: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            for record in await sb.list_processes():
                if record["process_id"] == process_id and record["status"] != "running":
                    return dict(record)
            await anyio.sleep(0.1)


async def _one_post(listener: Any, got: list[Request], arrived: anyio.Event) -> None:
    async with await listener.accept() as stream:
        conn = HTTPConnection(Role.SERVER)
        while True:
            message = conn.next_message()
            if isinstance(message, Request):
                got.append(message)
                arrived.set()
                await stream.send(conn.send_response(Response(204, (), b"")))
                return
            if message is not NEED_DATA:
                return
            conn.receive_data(await stream.receive())


@needs_kernel
async def test_background_and_async_executions_share_the_kernel(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("shared = 20")
        started = await sb.run_code_background(
            "shared += 1\ndisplay({'text/html': '<i>bg</i>'}, raw=True)\nbackground_ran = True",
            name="adder",
        )
        record = await _finished(sb, started["process_id"])
        assert record["status"] == "completed", record
        assert record["name"] == "adder"
        after = await sb.run_code("print(shared, background_ran)")
        assert after.stdout == "21 True\n"
        # A kill interrupts the cell and what it forked; the kernel and its state stay.
        forever = await sb.run_code_background(
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    while True: time.sleep(0.1)\n"
            "while True: time.sleep(0.1)\n"
        )
        running = [p for p in await sb.list_processes() if p["status"] == "running"]
        assert [p["process_id"] for p in running] == [forever["process_id"]]
        await sb.kill_process(forever["process_id"])
        record = await _finished(sb, forever["process_id"])
        assert record["status"] == "killed"
        tree = await sb.run_code(
            "import os\n"
            "me = os.getpid()\n"
            "print(sorted(p for p in os.listdir('/proc') if p.isdigit()"
            " and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(me)))"
        )
        assert tree.stdout == "[]\n", "the cell's fork is gone with it"
        kept = await sb.run_code("print(shared)")
        assert kept.stdout == "21\n", (kept.stderr, kept.error, kept.extra)

        got: list[Request] = []
        multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
        [listener] = multi.listeners
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with multi, anyio.create_task_group() as tg:
            arrived = anyio.Event()
            tg.start_soon(_one_post, listener, got, arrived)
            queued = await sb.run_code_async(
                "shared += 1\nprint(shared)\nasync_ran = True", f"http://127.0.0.1:{port}/hook"
            )
            with anyio.fail_after(60):
                await arrived.wait()
        payload = json.loads(got[0].body or b"")
        assert payload["execution_id"] == queued["execution_id"]
        assert payload["status"] == "completed"
        assert payload["stdout"] == "22\n"
        assert (await sb.run_code("print(shared, async_ran)")).stdout == "22 True\n"


@needs_kernel
async def test_a_killed_cell_slow_to_stop_keeps_the_kernel(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    # A cell stopped from outside may take seconds to wind down (on a busy machine its
    # traceback alone can): the kernel waits for it, and keeps its state.
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        await sb.run_code("kept = 'yes'")
        slow = await sb.run_code_background(
            "import signal, time\n"
            "try:\n"
            "    print('started', flush=True)\n"
            "    while True: time.sleep(0.1)\n"
            "except KeyboardInterrupt:\n"
            "    before = signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "    time.sleep(4)\n"
            "    signal.signal(signal.SIGINT, before)\n"
            "    raise\n"
        )
        with anyio.fail_after(60):
            while True:
                output = await sb.get_process_output(slow["process_id"])
                if "started" in output.stdout:
                    break
                await anyio.sleep(0.1)
        await sb.kill_process(slow["process_id"])
        record = await _finished(sb, slow["process_id"])
        assert record["status"] == "killed"
        after = await sb.run_code("print(kept)")
        assert after.stdout == "yes\n", (after.stderr, after.error)
