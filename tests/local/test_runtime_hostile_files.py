"""The file API against a sandbox's own hostile tree: FIFOs, sockets and devices where files
are expected, names too long or not UTF-8, times no calendar shows, trees thousands deep,
files growing or shrinking under a download, directories moved during a walk, crashes in the
middle of a write. Each is refused with a typed fault or handled; none blocks, crashes or
reaches outside the tree. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from runtime_support import file_runtime

from hopx_local._runtime import SandboxFault, SandboxRuntime

pytestmark = pytest.mark.anyio

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
#: The longest a refusal may take (a blocked open would take the unblocker's whole wait).
PROMPT = 5.0


@pytest.fixture
def sandbox(tmp_path: Path) -> SandboxRuntime:
    return file_runtime(tmp_path / "sbx")


def _create(raw: bytes | Path, data: bytes = b"", *, append: bool = False) -> None:
    """Write a file the way sandboxed code would, beside the API (any name bytes)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(raw, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


async def fault_of(call: Callable[..., Awaitable[object]], *args: object) -> SandboxFault:
    with pytest.raises(SandboxFault) as caught, anyio.fail_after(PROMPT + 5):
        await call(*args)
    return caught.value


@contextlib.contextmanager
def unblocker(fifo: Path, seconds: float = PROMPT) -> Iterator[None]:
    """Opens ``fifo`` for writing if a reader blocks on it, so a blocking reader returns within
    ``seconds`` instead of hanging the test; never blocks itself."""
    done = threading.Event()

    def feed() -> None:
        deadline = time.monotonic() + seconds
        while not done.is_set() and time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet (ENXIO)
                time.sleep(0.05)
                continue
            os.write(fd, b"unblocked")
            os.close(fd)
            return

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(seconds + 5)


async def test_a_fifo_is_refused_without_blocking(sandbox: SandboxRuntime) -> None:
    fifo = sandbox.layout.workspace / "pipe"
    os.mkfifo(fifo)
    for call in (sandbox.read_text, sandbox.read_bytes, sandbox.open_read):
        with unblocker(fifo):
            started = time.monotonic()
            failure = await fault_of(call, "/workspace/pipe")
            assert time.monotonic() - started < PROMPT
        assert (failure.code, failure.status, failure.path) == (
            "INVALID_PATH",
            400,
            "/workspace/pipe",
        )
        assert failure.details == {"kind": "FIFO"}
        assert "FIFO" in failure.message
    # Everything that does not read it works on it, and it is reported for what it is.
    [entry] = await sandbox.list("/workspace")
    assert entry["permissions"].startswith("p")
    assert await sandbox.exists("/workspace/pipe")
    await sandbox.write("/workspace/pipe", b"a file now")
    assert await sandbox.read_text("/workspace/pipe") == "a file now"


async def test_a_socket_and_a_device_are_refused(sandbox: SandboxRuntime) -> None:
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(sandbox.layout.workspace / "sock"))
        failure = await fault_of(sandbox.read_text, "/workspace/sock")
    finally:
        listener.close()
    assert (failure.code, failure.details) == ("INVALID_PATH", {"kind": "socket"})
    try:
        os.mknod(sandbox.layout.tmp / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    failure = await fault_of(sandbox.read_bytes, "/tmp/null")
    assert (failure.code, failure.details) == ("INVALID_PATH", {"kind": "character device"})
    assert (await fault_of(sandbox.read_text, "/tmp")).code == "PATH_NOT_ALLOWED"


async def test_a_file_swapped_after_it_was_examined_is_not_read(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._runtime import paths

    outside = sandbox.layout.root / "secret"
    outside.write_text("host data")
    await sandbox.write("/workspace/f", b"sandbox data")
    real_stat_at = paths.stat_at

    def stat_then_swap(directory: int, name: str) -> os.stat_result | None:
        found = real_stat_at(directory, name)
        os.unlink(name, dir_fd=directory)
        os.link(outside, name, dst_dir_fd=directory)  # another file, same name
        return found

    monkeypatch.setattr(paths, "stat_at", stat_then_swap)
    failure = await fault_of(sandbox.read_text, "/workspace/f")
    assert (failure.code, failure.status) == ("PATH_NOT_ALLOWED", 403)


async def test_names_of_255_bytes_work_and_longer_ones_are_400(sandbox: SandboxRuntime) -> None:
    longest = "/workspace/" + "n" * 255
    assert await sandbox.write(longest, b"fits") == 4
    assert await sandbox.read_text(longest) == "fits"
    [entry] = await sandbox.list("/workspace")
    assert entry["name"] == "n" * 255
    async with sandbox.write_stream(longest) as writer:
        await writer.write(b"again")
    assert await sandbox.read_text(longest) == "again"
    await sandbox.remove(longest)
    for path in ("/workspace/" + "n" * 300, "/workspace/" + "é" * 128, "/workspace/a" * 400):
        for call in (sandbox.read_text, sandbox.list, sandbox.exists, sandbox.mkdir):
            failure = await fault_of(call, path)
            assert (failure.code, failure.status) == ("INVALID_PATH", 400), (call, path)
        assert (await fault_of(sandbox.write, path, b"x")).code == "INVALID_PATH"
    assert await sandbox.list("/workspace") == []


async def test_names_that_are_not_utf8_are_listed_as_valid_text(sandbox: SandboxRuntime) -> None:
    box = os.fsencode(sandbox.layout.workspace) + b"/box"
    os.mkdir(box)
    _create(box + b"/bad\xff\xfename", b"x")
    os.mkdir(box + b"/dir\xc3")
    entries = await sandbox.list("/workspace/box")
    names = sorted(entry["name"] for entry in entries)
    assert names == ["bad\ufffd\ufffdname", "dir\ufffd"]
    for entry in entries:
        entry["path"].encode("utf-8")  # valid Unicode, so it can go in a JSON reply
    assert (await fault_of(sandbox.read_text, "/workspace/box/dir\udcc3")).code == "INVALID_PATH"
    await sandbox.remove("/workspace/box")
    assert await sandbox.list("/workspace") == []


def test_unbelievable_times_are_clamped() -> None:
    from hopx_local._runtime.paths import rfc3339

    # tmpfs, xfs and btrfs keep such times (ext4 clamps them to 1901..2446 itself).
    assert rfc3339(2**45) == "9999-12-31T23:59:59Z"
    assert rfc3339(-(2**45)) == "0001-01-01T00:00:00Z"
    assert rfc3339(float("inf")) == "9999-12-31T23:59:59Z"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


async def test_far_times_in_a_listing_are_shown(sandbox: SandboxRuntime) -> None:
    await sandbox.write("/workspace/future", b"")
    await sandbox.write("/workspace/past", b"")
    os.utime(sandbox.layout.workspace / "future", (0, 2**45))
    os.utime(sandbox.layout.workspace / "past", (0, -(2**45)))
    times = [entry["modified_time"] for entry in await sandbox.list("/workspace")]
    assert len(times) == 2
    assert all(RFC3339.match(text) for text in times), times


def _deep_chain(top: Path, depth: int) -> None:
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _level in range(depth):
            os.mkdir("d", dir_fd=fd)
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            following = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = following
    finally:
        os.close(fd)


async def test_a_tree_thousands_deep_is_removed(sandbox: SandboxRuntime) -> None:
    (sandbox.layout.workspace / "deep").mkdir()
    _deep_chain(sandbox.layout.workspace / "deep", 3000)  # far beyond the recursion limit
    await sandbox.remove("/workspace/deep")
    assert await sandbox.list("/workspace") == []


async def test_a_download_stops_at_the_declared_length(sandbox: SandboxRuntime) -> None:
    await sandbox.write("/workspace/grows", b"a" * 600_000)
    size, chunks = await sandbox.open_read("/workspace/grows")
    _create(sandbox.layout.workspace / "grows", b"b" * 400_000, append=True)
    received = b"".join([chunk async for chunk in chunks])
    assert size == 600_000
    assert received == b"a" * 600_000


async def test_a_download_of_a_shrinking_file_ends_with_a_fault(sandbox: SandboxRuntime) -> None:
    await sandbox.write("/workspace/shrinks", b"a" * 600_000)
    size, chunks = await sandbox.open_read("/workspace/shrinks")
    os.truncate(sandbox.layout.workspace / "shrinks", 1000)
    received = bytearray()

    async def drain() -> None:
        async for chunk in chunks:
            received.extend(chunk)

    with pytest.raises(SandboxFault) as caught:
        await drain()
    assert size == 600_000
    assert bytes(received) == b"a" * 1000
    assert (caught.value.code, caught.value.status) == ("CONFLICT", 409)


async def test_an_upload_in_progress_is_invisible_in_the_sandbox(sandbox: SandboxRuntime) -> None:
    async with sandbox.write_stream("/workspace/up.bin") as writer:
        await writer.write(b"partial")
        assert os.listdir(sandbox.layout.workspace) == []
        assert await sandbox.list("/workspace") == []
    assert await sandbox.read_text("/workspace/up.bin") == "partial"


async def test_what_a_crash_left_in_staging_is_gone_at_start_up(sandbox: SandboxRuntime) -> None:
    staged = sandbox.files.stage("/workspace/half.bin")
    staged.write(b"half of it")  # and then the server is killed: no commit, no discard
    leftovers = os.listdir(sandbox.files.staging)
    assert len(leftovers) == 1
    assert leftovers[0].endswith(".part")
    again = file_runtime(sandbox.layout.root, sandbox.sandbox_id)
    assert os.listdir(again.files.staging) == []
    assert await again.list("/workspace") == []
    assert not await again.exists("/workspace/half.bin")
    staged.discard()


async def test_writes_that_do_not_overwrite_never_clobber(sandbox: SandboxRuntime) -> None:
    staged = sandbox.files.stage("/workspace/once", None, False)
    staged.write(b"late")
    await sandbox.write("/workspace/once", b"first")  # appears while the other is staged
    with pytest.raises(SandboxFault) as caught:
        staged.commit()
    assert caught.value.code == "FILE_ALREADY_EXISTS"
    assert await sandbox.read_text("/workspace/once") == "first"
    assert os.listdir(sandbox.files.staging) == []


async def test_watch_events_name_paths_as_valid_text(sandbox: SandboxRuntime) -> None:
    await sandbox.mkdir("/workspace/w")
    watch = await sandbox.watch("/workspace/w")
    try:
        _create(os.fsencode(sandbox.layout.workspace) + b"/w/odd\xff")
        with anyio.fail_after(10):
            change = await watch.__anext__()
    finally:
        await watch.aclose()
    assert change["path"] == "/workspace/w/odd\ufffd"
    assert change["event"] == "created"


async def test_a_listing_of_many_entries_is_sorted(
    sandbox: SandboxRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopx_local._runtime import files

    monkeypatch.setattr(files, "_SORT_RUN", 16)
    names = [secrets.token_hex(3) for _ in range(200)]
    for name in names:
        (sandbox.layout.workspace / name).touch()
    listed = [entry["name"] for entry in await sandbox.list("/workspace")]
    assert listed == sorted(set(names))


async def test_os_errors_become_typed_faults(sandbox: SandboxRuntime) -> None:
    from hopx_local._runtime.file_api import OS_ERRORS, os_fault

    for number, (code, status, _words) in OS_ERRORS.items():
        fault = os_fault("write", "/workspace/x", OSError(number, os.strerror(number)))
        assert (fault.code, fault.status) == (code, status)
    assert os_fault("write", "/workspace/x", OSError(errno.EIO, "I/O")).status == 500
    assert all(
        status < 500 or code in {"INSUFFICIENT_STORAGE", "SERVICE_UNAVAILABLE"}
        for code, status, _ in OS_ERRORS.values()
    )
