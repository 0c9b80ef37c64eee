"""``Template.build`` against hopx-local, on asyncio and trio: a chain of steps with a
``COPY`` and a ``wait_for_port`` start command, its cache, its log as callbacks and as an SSE
stream, and the failures a build reports as :class:`TemplateBuildError` with its log (a
failing step, a start command never ready, a missing base image, an unknown step, a ``COPY``
whose archive escapes)."""

from __future__ import annotations

import io
import json
import pathlib
import socket
import tarfile
import urllib.request
from typing import Any

import anyio
import anyio.to_thread
import pytest

import hopx_local
from hopx_local._runtime.isolation import bwrap_path
from hopx_local._templates.images import host_images
from hopx_local._templates.store import layers_of
from hopx_proto.ops import (
    TEMPLATES_BUILD,
    TEMPLATES_BUILD_STATUS,
    TEMPLATES_UPLOAD_LINK,
    BuildId,
    BuildTemplate,
    UploadLinkRequest,
)
from hopx_proto.streams import SSEParser

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="builds run their steps under bubblewrap"),
]

PY = next((name.split(":", 1)[1] for name in host_images() if name.startswith("python:")), "3")
BUILD_LIMIT = 240
SERVER = "python3 -m http.server {port} --bind 127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _context(tmp_path: pathlib.Path) -> pathlib.Path:
    app = tmp_path / "ctx" / "app"
    (app / "data").mkdir(parents=True)
    (app / "main.py").write_text("print('hello from the template')\n")
    (app / "data" / "words.txt").write_text("alpha\nbeta\n")
    return tmp_path / "ctx"


def _options(adapter: Any, local: hopx_local.LocalServer, name: str, **kw: Any) -> Any:
    return adapter.BuildOptions(name=name, api_key=local.api_key, base_url=local.base_url, **kw)


async def test_a_chain_with_copy_and_a_port_check_builds_and_is_cached(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    port = _free_port()
    context = _context(tmp_path)
    logs: list[dict[str, Any]] = []
    progress: list[int] = []
    template = (
        adapter.Template()
        .from_python_image(PY)
        .set_env("GREETING", "hi")
        .set_workdir("/app")
        .copy("app/", "/app")
        .run_cmd('echo "$GREETING $(pwd)" > built.txt && wc -l < data/words.txt >> built.txt')
        .set_start_cmd(
            SERVER.format(port=port), adapter.wait_for_port(port, timeout=60000, interval=500)
        )
    )
    options = _options(
        adapter,
        local,
        "chain",
        context_path=str(context),
        on_log=logs.append,
        on_progress=progress.append,
    )
    with anyio.fail_after(BUILD_LIMIT):
        result = await adapter.Template.build(template, options)
    assert result.build_id
    messages = [entry["message"] for entry in logs]
    assert any("COPY app/ /app" in m for m in messages), messages
    assert any("ready: port" in m for m in messages), messages
    assert all(entry["level"] in ("INFO", "WARN", "ERROR") for entry in logs)
    assert progress[-1] == 100
    assert progress == sorted(progress)

    built = await adapter.AsyncSandbox.get_template(result.template_id)
    assert (built.name, built.status, built.is_active) == ("chain", "active", True)
    assert "chain" in [t.name for t in await adapter.AsyncSandbox.list_templates()]
    store = local.fleet.builds.store
    record = store.find("chain")
    assert record is not None
    (tree,) = layers_of(store, record)
    assert (tree / "app" / "main.py").read_text() == "print('hello from the template')\n"
    assert (tree / "app" / "data" / "words.txt").is_file()
    assert (tree / "app" / "built.txt").read_text().split() == ["hi", "/app", "2"]
    assert (record.env, record.workdir) == ({"GREETING": "hi"}, "/app")
    assert record.ready_cmd == {"type": "port", "timeout": 60000, "interval": 500, "port": port}
    first = await result.get_logs()
    assert "Step 4/4: RUN" in first.logs
    assert first.complete
    assert (await result.get_logs(offset=first.offset)).logs == ""

    again: list[dict[str, Any]] = []
    with anyio.fail_after(BUILD_LIMIT):
        rebuilt = await adapter.Template.build(
            template,
            _options(
                adapter, local, "chain", context_path=str(context), on_log=again.append, update=True
            ),
        )
    assert rebuilt.template_id == result.template_id
    cached = [e["message"] for e in again]
    assert sum("using cache" in m for m in cached) == 2, cached  # the COPY and the RUN

    (context / "app" / "main.py").write_text("print('changed')\n")
    changed: list[dict[str, Any]] = []
    with anyio.fail_after(BUILD_LIMIT):
        await adapter.Template.build(
            template,
            _options(
                adapter,
                local,
                "chain",
                context_path=str(context),
                on_log=changed.append,
                update=True,
            ),
        )
    assert not any("using cache" in e["message"] for e in changed)  # a new COPY hash
    (tree,) = layers_of(store, store.find("chain"))  # type: ignore[arg-type]
    assert (tree / "app" / "main.py").read_text() == "print('changed')\n"

    with pytest.raises(adapter.HopxError) as taken:  # no update=True: the name is taken
        await adapter.Template.build(
            template, _options(adapter, local, "chain", context_path=str(context))
        )
    assert taken.value.status_code == 409

    async with adapter.AsyncSandbox.create(template="chain", internet_access=False) as sb:
        info = await sb.get_info()
        assert (info.template_name, str(info.template_id)) == ("chain", str(result.template_id))
        seen = await sb.commands.run("cat /app/main.py /app/built.txt", timeout=60)
        assert seen.stdout == "print('changed')\nhi /app\n2\n", seen.stderr

    deleted = await adapter.AsyncSandbox.delete_template(result.template_id)
    assert deleted["deleted"] is True
    assert "chain" not in [t.name for t in await adapter.AsyncSandbox.list_templates()]


async def test_a_failing_step_raises_template_build_error_with_its_log(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.create_template(f"python:{PY}").run_cmd("echo before-failing; exit 3")
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "broken"))
    err = caught.value
    assert err.build_status == "failed"
    assert err.build_id
    assert err.template_id
    assert isinstance(err.metadata, adapter.TemplateBuildErrorMetadata)
    assert "exit code 3" in (err.error_details or "")
    assert any("before-failing" in line for line in err.logs), err.logs
    assert "broken" not in [t.name for t in await adapter.AsyncSandbox.list_templates()]


async def test_a_start_command_never_ready_fails_after_its_timeout(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = (
        adapter.Template(f"python:{PY}")
        .run_cmd("true")
        .set_start_cmd("sleep 600", adapter.wait_for_file("/app/never", timeout=2000, interval=500))
    )
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "never-ready"))
    assert "not ready within 2000 ms" in (caught.value.error_details or "")


async def test_command_and_file_ready_checks_pass(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    for check in (
        adapter.wait_for_command("test -f /workspace/up", timeout=30000, interval=300),
        adapter.wait_for_file("/workspace/up", timeout=30000, interval=300),
        adapter.wait_for_process("sleep", timeout=30000, interval=300),
    ):
        template = (
            adapter.Template(f"python:{PY}")
            .run_cmd("mkdir -p /workspace")
            .set_start_cmd("touch /workspace/up && sleep 600", check)
        )
        with anyio.fail_after(BUILD_LIMIT):
            await adapter.Template.build(
                template, _options(adapter, local, f"ready-{check.type.value}")
            )


async def test_a_missing_base_image_names_what_the_host_has(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template("python:2.7").run_cmd("true")
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "old-python"))
    details = caught.value.error_details or ""
    assert "python:2.7" in details
    assert f"python:{PY}" in details


async def test_an_unknown_step_fails_the_build_and_says_which(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd("true")
    template.steps.append(adapter.Step(adapter.StepType.CMD, ["serve"]))
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "unknown-step"))
    assert "step 2 has an unknown type 'CMD'" in (caught.value.error_details or "")


def _tarball(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


async def _build_raw(adapter: Any, client: Any, name: str, blob: bytes, copy: str) -> Any:
    files_hash = f"h{abs(hash((name, blob))):x}"
    link = await client.call(
        TEMPLATES_UPLOAD_LINK, UploadLinkRequest(files_hash=files_hash, content_length=len(blob))
    )
    assert link.upload_url
    from hopx_proto.aio._template import _upload_operation

    base, op = _upload_operation(link.upload_url, blob)
    from hopx_proto.ops import NoArgs

    await client.call(op, NoArgs(), base=base)
    started = await client.call(
        TEMPLATES_BUILD,
        BuildTemplate(
            name=name,
            from_image=f"python:{PY}",
            steps=[{"type": "COPY", "args": [copy, "/app"], "filesHash": files_hash}],
        ),
    )
    with anyio.fail_after(BUILD_LIMIT):
        while True:
            status = await client.call(TEMPLATES_BUILD_STATUS, BuildId(build_id=started.build_id))
            if status.is_terminal:
                return status
            await anyio.sleep(0.2)


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([(_member("../evil"), b"x")], "leads out of the archive"),
        ([(_member("/etc/evil"), b"x")], "absolute path"),
        ([(_member("app/up", tarfile.SYMTYPE, "../../etc"), b"")], "links out of the archive"),
        ([(_member("app/abs", tarfile.SYMTYPE, "/etc/passwd"), b"")], "links out of the archive"),
        (
            [(_member("app/l", tarfile.SYMTYPE, "."), b""), (_member("app/l/x"), b"x")],
            "under a link",
        ),
        ([(_member("app/hard", tarfile.LNKTYPE, "/etc/passwd"), b"")], "hard link"),
        ([(_member("app/dev", tarfile.CHRTYPE), b"")], "device"),
    ],
    ids=["dotdot", "absolute", "symlink-up", "symlink-abs", "under-link", "hardlink", "device"],
)
async def test_a_copy_archive_that_escapes_fails_the_build(
    adapter: Any,
    local: hopx_local.LocalServer,
    members: list[tuple[tarfile.TarInfo, bytes]],
    reason: str,
) -> None:
    async with adapter.Client(api_key=local.api_key, base_url=local.base_url) as client:
        status = await _build_raw(adapter, client, "escape", _tarball(members), ".")
    assert status.status == "failed"
    assert reason in (status.error_message or ""), status.error_message
    assert not (local.state_dir / "evil").exists()
    assert not (local.state_dir / "templates" / "evil").exists()
    assert local.fleet.builds.store.find("escape") is None


async def test_the_log_streams_as_server_sent_events(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd("for i in 1 2 3; do echo line-$i; done")
    with anyio.fail_after(BUILD_LIMIT):
        result = await adapter.Template.build(template, _options(adapter, local, "sse"))

    def fetch() -> tuple[str, bytes]:
        request = urllib.request.Request(
            f"{local.base_url}/v1/templates/build/{result.template_id}/logs?offset=0",
            headers={"Authorization": f"Bearer {local.api_key}", "Accept": "text/event-stream"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.headers["content-type"], reply.read()

    with anyio.fail_after(90):
        content_type, body = await anyio.to_thread.run_sync(fetch)
    assert content_type.startswith("text/event-stream")
    parser = SSEParser()
    parser.receive_data(body)
    parser.receive_data(b"")
    events = []
    while True:
        event = parser.next_event()
        if not hasattr(event, "data"):
            break
        events.append(event)
    lines = [e.data for e in events if e.event == "log"]
    assert [line for line in lines if line.strip().startswith("line-")] == [
        "  line-1",
        "  line-2",
        "  line-3",
    ]
    assert events[-1].event == "status"
    assert json.loads(events[-1].data)["complete"] is True
    assert int(events[-2].id) == json.loads(events[-1].data)["offset"]


@pytest.mark.parametrize(
    "command",
    [
        "touch /usr/hopx-build-probe",
        "touch /usr/bin/hopx-build-probe",
        "echo 127.0.0.2 probe >> /etc/hosts",
        "mount -o remount,rw /usr",
    ],
)
async def test_a_step_cannot_write_the_host_system(
    adapter: Any, local: hopx_local.LocalServer, command: str
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd(command)
    with anyio.fail_after(BUILD_LIMIT), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, _options(adapter, local, "host-write"))
    assert "failed with exit code" in (caught.value.error_details or "")
    for path in ("/usr/hopx-build-probe", "/usr/bin/hopx-build-probe"):
        assert not await anyio.Path(path).exists()
    assert "probe" not in await anyio.Path("/etc/hosts").read_text()


async def test_what_a_step_writes_anywhere_else_lands_in_the_template(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd(
        "mkdir -p /opt/tool /srv && echo t > /opt/tool/t && echo e > /etc/hopx-build-probe"
        " && echo s > /srv/s && echo l > /usr/local/lib/l"
    )
    with anyio.fail_after(BUILD_LIMIT):
        await adapter.Template.build(template, _options(adapter, local, "writes"))
    store = local.fleet.builds.store
    (tree,) = layers_of(store, store.find("writes"))  # type: ignore[arg-type]
    for rel, text in (("opt/tool/t", "t"), ("etc/hopx-build-probe", "e"), ("srv/s", "s")):
        assert (tree / rel).read_text() == text + "\n"
    assert (tree / "usr" / "local" / "lib" / "l").read_text() == "l\n"
    assert not await anyio.Path("/etc/hopx-build-probe").exists()
    assert not await anyio.Path("/opt/tool/t").exists()


async def test_a_build_past_its_time_limit_raises_instead_of_waiting_on(
    adapter: Any, local: hopx_local.LocalServer
) -> None:
    template = adapter.Template(f"python:{PY}").run_cmd("echo slow-step-started; sleep 120")
    options = _options(adapter, local, "slow", template_activation_timeout=3)
    with anyio.fail_after(60), pytest.raises(adapter.TemplateBuildError) as caught:
        await adapter.Template.build(template, options)
    assert caught.value.code == "template_build_timeout"
    assert caught.value.build_status == "building"


async def test_pip_install_of_a_local_package_lands_in_the_template(
    adapter: Any, local: hopx_local.LocalServer, tmp_path: pathlib.Path
) -> None:
    package = tmp_path / "ctx" / "pkg"
    (package / "tinypkg").mkdir(parents=True)
    (package / "tinypkg" / "__init__.py").write_text("VALUE = 42\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinypkg"\nversion = "1.0"\n'
    )
    lines: list[str] = []
    template = (
        adapter.Template(f"python:{PY}")
        .copy("pkg/", "/src/pkg")
        .pip_install("--no-index --no-build-isolation /src/pkg")
        .run_cmd("python3 -c 'import tinypkg; print(\"imported\", tinypkg.VALUE)'")
    )
    options = _options(
        adapter,
        local,
        "with-pip",
        context_path=str(tmp_path / "ctx"),
        on_log=lambda e: lines.append(e["message"]),
    )
    with anyio.fail_after(BUILD_LIMIT):
        await adapter.Template.build(template, options)
    assert "  imported 42" in lines, lines
    store = local.fleet.builds.store
    (tree,) = layers_of(store, store.find("with-pip"))  # type: ignore[arg-type]
    installed = list((tree / "usr" / "local" / "lib").glob("python3*/dist-packages/tinypkg"))
    assert installed, "pip installed into the template's /usr/local"
    on_host = await anyio.to_thread.run_sync(
        lambda: list(pathlib.Path("/usr/local/lib").glob("python3*/dist-packages/tinypkg"))
    )
    assert on_host == []
