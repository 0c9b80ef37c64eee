"""Walking a directory tree by descriptors: never through a link, never out of the tree,
no recursion limit, and giving up on a tree that keeps changing under the walk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hopx_local._runtime.walk import Cursor, TreeChanged, remove_tree, walk_tree


def test_remove_tree_never_follows_links_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    tree = tmp_path / "tree" / "a" / "b"
    tree.mkdir(parents=True)
    (tree / "out").symlink_to(outside)
    (tmp_path / "tree" / "a" / "up").symlink_to("..")
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert remove_tree(parent, "tree") == 5
    finally:
        os.close(parent)
    assert not (tmp_path / "tree").exists()
    assert (outside / "keep").read_text() == "keep"


def test_a_directory_moved_during_a_walk_ends_it(tmp_path: Path) -> None:
    (tmp_path / "top" / "a" / "b").mkdir(parents=True)
    top = os.open(tmp_path / "top", os.O_RDONLY | os.O_DIRECTORY)
    try:
        with Cursor(os.dup(top)) as cursor:
            cursor.down("a")
            cursor.down("b")
            os.rename(tmp_path / "top" / "a" / "b", tmp_path / "top" / "b")
            with pytest.raises(TreeChanged):
                cursor.up()  # ".." is now top, not a: the walk would leave its path
        walked = [path for path, _info in walk_tree(top, limit=10)]
    finally:
        os.close(top)
    assert walked == ["a", "b"]


def test_a_walk_is_bounded_in_entries(tmp_path: Path) -> None:
    for index in range(50):
        (tmp_path / f"f{index:02d}").touch()
    top = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(list(walk_tree(top, limit=7))) == 7
    finally:
        os.close(top)


def test_a_tree_that_keeps_refilling_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tree").mkdir()
    real_rmdir = os.rmdir

    def rmdir_refilled(name: str, *, dir_fd: int) -> None:
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
        try:  # sandboxed code adds an entry just before each attempt
            os.close(os.open("refill", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=inner))
        finally:
            os.close(inner)
        real_rmdir(name, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rmdir", rmdir_refilled)
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(TreeChanged):
            remove_tree(parent, "tree")
    finally:
        os.close(parent)
        monkeypatch.undo()


_MOUNTED_INSIDE = """
import errno, os, subprocess, sys
from hopx_local._runtime.walk import remove_tree
top = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(top, "tree", "mounted")], check=True)
open(os.path.join(top, "tree", "mounted", "kept"), "w").close()
parent = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
try:
    remove_tree(parent, "tree")
except OSError as exc:
    print(errno.errorcode[exc.errno], sorted(os.listdir(os.path.join(top, "tree", "mounted"))))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_filesystem_mounted_inside_is_not_removed(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) here")
    (tmp_path / "tree" / "mounted").mkdir(parents=True)
    # In a mount namespace of its own: the mount goes with the process.
    argv = [unshare, "-m", "--propagation", "private", sys.executable, "-c", _MOUNTED_INSIDE]
    done = subprocess.run(
        [*argv, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "EBUSY ['kept']"
