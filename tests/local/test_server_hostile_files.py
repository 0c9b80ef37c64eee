"""A sandbox attacking the server through its own files, from inside, as sandboxed code would:
FIFOs and sockets where the file API reads, names that are not UTF-8, a tree 3,000 levels
deep, names of 255 and 300 bytes, a file growing during its download.

Each gets a typed reply (a 4xx naming the path and its kind, or the honest result), and
another sandbox is served all the while. The server runs as its own ``hopx-local serve``
process, so a server frozen by one of these fails the test by its bounded waits instead of
hanging it. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from test_server_support import WAIT, RawHTTP, bearer, call, create_sandbox, doc, serving

import hopx_local
from hopx_local import LocalServer
from hopx_proto._http import Request

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

KEY = "hostile-files-key"
#: A refusal or a reply to a small request must come within this many seconds.
PROMPT = 10.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("hostile-files")
    with serving(state / "state", KEY, state / "server.log") as (proc, base_url):
        yield base_url
        assert proc.poll() is None, (state / "server.log").read_text()


async def _sandbox(base_url: str) -> tuple[str, list[tuple[str, str]]]:
    sandbox = await create_sandbox(base_url, KEY)
    return sandbox["public_host"], bearer(sandbox["auth_token"])


async def _prompt(host: str, method: str, target: str, token: Any, **kw: Any) -> Any:
    """One request that must be answered within :data:`PROMPT` seconds."""
    with anyio.fail_after(PROMPT):
        return await call(host, method, target, headers=token, **kw)


async def _run(host: str, token: Any, code: str, language: str = "python") -> dict[str, Any]:
    reply = await _prompt(
        host,
        "POST",
        "/execute",
        token,
        json_body={"code": code, "language": language, "timeout": 30},
    )
    assert reply.status == 200, reply.body
    result: dict[str, Any] = doc(reply)
    assert result["exit_code"] == 0, result
    return result


async def _healthy(host: str) -> None:
    reply = await _prompt(host, "GET", "/health", [])
    assert reply.status == 200


async def test_fifos_and_sockets_are_refused_and_nobody_waits(served: str) -> None:
    attacker, token = await _sandbox(served)
    other, _other_token = await _sandbox(served)
    await _run(
        attacker,
        token,
        "import os, socket\n"
        "os.mkfifo('/workspace/pipe')\n"
        "socket.socket(socket.AF_UNIX).bind('/workspace/sock')\n",
    )
    for name, kind in (("pipe", "FIFO"), ("sock", "socket")):
        for endpoint in ("/files/read", "/files/download"):
            reply = await _prompt(attacker, "GET", f"{endpoint}?path=/workspace/{name}", token)
            assert reply.status == 400, (endpoint, reply.body)
            body = doc(reply)
            assert (body["code"], body["path"]) == ("INVALID_PATH", f"/workspace/{name}")
            assert body["details"] == {"kind": kind}
            assert kind in body["error"]
            await _healthy(other)
    listing = await _prompt(attacker, "GET", "/files/list?path=/workspace", token)
    kinds = {entry["name"]: entry["permissions"][0] for entry in doc(listing)["files"]}
    assert kinds == {"pipe": "p", "sock": "s"}


async def test_names_that_are_not_utf8_are_listed_and_removed(served: str) -> None:
    host, token = await _sandbox(served)
    await _run(
        host,
        token,
        "import os\nos.mkdir(b'/workspace/box')\n"
        "open(b'/workspace/box/bad\\xff\\xfe', 'w').close()\n"
        "os.mkdir(b'/workspace/box/dir\\xc3')\n",
    )
    listing = await _prompt(host, "GET", "/files/list?path=/workspace/box", token)
    assert listing.status == 200, listing.body
    names = sorted(entry["name"] for entry in doc(listing)["files"])
    assert names == ["bad\ufffd\ufffd", "dir\ufffd"]
    removed = await _prompt(host, "DELETE", "/files/remove?path=/workspace/box", token)
    assert removed.status == 200, removed.body


async def test_a_tree_3000_levels_deep_is_removed(served: str) -> None:
    host, token = await _sandbox(served)
    await _run(
        host,
        token,
        "import os\nos.chdir('/workspace')\nos.mkdir('deep')\nos.chdir('deep')\n"
        "for _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n",
    )
    removed = await _prompt(host, "DELETE", "/files/remove?path=/workspace/deep", token)
    assert removed.status == 200, removed.body
    exists = await _prompt(host, "GET", "/files/exists?path=/workspace/deep", token)
    assert doc(exists)["exists"] is False


async def test_names_of_255_bytes_work_and_300_are_refused(served: str) -> None:
    host, token = await _sandbox(served)
    for length, status in ((255, 200), (300, 400)):
        path = "/workspace/" + "n" * length
        wrote = await _prompt(
            host, "POST", "/files/write", token, json_body={"path": path, "content": "x"}
        )
        assert wrote.status == status, (length, wrote.body)
        read = await _prompt(host, "GET", f"/files/read?path={path}", token)
        assert read.status == status, (length, read.body)
        if status == 400:
            assert doc(wrote)["code"] == doc(read)["code"] == "INVALID_PATH"
    listing = await _prompt(host, "GET", "/files/list?path=/workspace", token)
    assert [entry["name"] for entry in doc(listing)["files"]] == ["n" * 255]


# -- a download of a file that grows while it is sent (in-process server) ----------------------


@pytest.fixture
async def local(tmp_path: pathlib.Path) -> AsyncIterator[LocalServer]:
    async with hopx_local.serve(api_key=KEY, state_dir=tmp_path / "state") as server:
        yield server


async def test_a_file_growing_during_its_download_is_sent_to_its_declared_length(
    local: LocalServer,
) -> None:
    sandbox = await create_sandbox(local.base_url, KEY)
    host, token = sandbox["public_host"], bearer(sandbox["auth_token"])
    size = 48 << 20  # more than the socket buffers hold: the server is still reading it
    live = local.fleet.live(sandbox["id"])
    assert live is not None
    file = live.runtime.layout.workspace / "grows.bin"  # on the sandbox's volume, if any
    await anyio.to_thread.run_sync(file.write_bytes, b"a" * size)
    client = await RawHTTP.connect(host)
    try:
        head = Request("GET", "/files/download?path=/workspace/grows.bin", (("host", "x"),))
        request = client.conn.send_request(
            Request(head.method, head.target, (*head.headers, *token), b"")
        )
        await client.send_bytes(request)
        await anyio.sleep(0.2)  # the reply is on its way

        def grow() -> None:
            with open(file, "ab") as handle:
                handle.write(b"b" * (8 << 20))

        await anyio.to_thread.run_sync(grow)
        reply = await client.read_response()
        assert reply.status == 200
        assert reply.header("content-length") == str(size)
        assert reply.body == b"a" * size
        # The connection is still good for the next request.
        again = await client.request(
            "GET", "/files/exists?path=/workspace/grows.bin", headers=token
        )
        assert doc(again)["exists"] is True
    finally:
        await client.aclose()
    started = time.monotonic()
    ping = await call(host, "GET", "/ping")
    assert ping.status == 200
    assert time.monotonic() - started < WAIT
