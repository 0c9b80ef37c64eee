"""Unpacking an uploaded build context: safe members land inside the directory, an archive bomb
stops at the byte or member limit while it is read, and nothing is left behind on refusal."""

from __future__ import annotations

import gzip
import io
import pathlib
import tarfile

import pytest

from hopx_local._templates.archive import ArchiveError, unpack


def _write(path: pathlib.Path, members: list[tuple[str, bytes]]) -> pathlib.Path:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(out.getvalue())
    return path


def test_safe_members_and_relative_links_inside_are_unpacked(tmp_path: pathlib.Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = b"print(1)\n"
        info = tarfile.TarInfo("app/main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("app/alias.py")
        link.type, link.linkname = tarfile.SYMTYPE, "main.py"
        tar.addfile(link)
    blob = tmp_path / "ok.tar.gz"
    blob.write_bytes(out.getvalue())
    unpack(blob, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "main.py").read_bytes() == b"print(1)\n"
    assert (tmp_path / "out" / "app" / "alias.py").readlink() == pathlib.Path("main.py")


def test_a_bomb_stops_at_the_byte_limit_and_leaves_nothing(tmp_path: pathlib.Path) -> None:
    zeros = b"\0" * (4 * 1024 * 1024)  # compresses to a few kilobytes
    blob = _write(tmp_path / "bomb.tar.gz", [(f"f{i}", zeros) for i in range(4)])
    assert blob.stat().st_size < len(zeros) // 50
    with pytest.raises(ArchiveError, match="more than 10000000 bytes"):
        unpack(blob, tmp_path / "out", max_bytes=10_000_000)
    assert not (tmp_path / "out").exists()


def test_too_many_members_are_refused(tmp_path: pathlib.Path) -> None:
    blob = _write(tmp_path / "many.tar.gz", [(f"f{i}", b"") for i in range(50)])
    with pytest.raises(ArchiveError, match="more than 20 members"):
        unpack(blob, tmp_path / "out", max_members=20)
    assert not (tmp_path / "out").exists()


def test_not_a_tarball_and_a_truncated_one_are_refused(tmp_path: pathlib.Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar at all" * 100))
    with pytest.raises(ArchiveError):
        unpack(junk, tmp_path / "a")
    whole = _write(tmp_path / "whole.tar.gz", [("x", b"y" * 100_000)]).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ArchiveError):
        unpack(cut, tmp_path / "b")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
