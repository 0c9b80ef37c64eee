"""The sandbox commands: ``ls``, ``create``, ``kill``, ``exec`` and ``cp``.

Each takes the parsed arguments and a :class:`Session` and returns the exit status. They run
on asyncio with ``hopx_asyncio``'s client; ``shell`` lives in :mod:`hopx_cli._shell`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import posixpath
import shutil
import sys
from typing import Any, TextIO

import attrs

from hopx_asyncio import AsyncSandbox, Client, FileInfo, HopxError

from ._format import dumps, sandbox_record, sandbox_table
from ._progress import ProgressBar

__all__ = ["Session", "UsageError", "cmd_cp", "cmd_create", "cmd_exec", "cmd_kill", "cmd_ls"]

#: Where a relative path inside a sandbox starts.
WORKSPACE = "/workspace"


class UsageError(Exception):
    """The command line asks for something that cannot be done; exit status 2."""


@attrs.define
class Session:
    """What every command shares: one client (one connection pool) and the output streams."""

    client: Client
    json: bool
    out: TextIO = attrs.field(factory=lambda: sys.stdout)
    err: TextIO = attrs.field(factory=lambda: sys.stderr)

    async def sandbox(self, sandbox_id: str) -> AsyncSandbox:
        """The existing sandbox ``sandbox_id`` (``NotFoundError`` if there is none)."""
        return await AsyncSandbox.connect(sandbox_id, client=self.client)

    def emit(self, value: Any) -> None:
        self.out.write(dumps(value) + "\n")
        self.out.flush()

    def progress(self, label: str) -> ProgressBar | None:
        """A progress bar on standard error when a person watches it, else ``None``."""
        if self.json or not self.err.isatty():
            return None
        return ProgressBar(label, self.err, width=shutil.get_terminal_size().columns)


def _env_pairs(pairs: list[str]) -> dict[str, str] | None:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--env takes NAME=VALUE, not {pair!r}")
        env[name] = value
    return env or None


async def cmd_ls(args: argparse.Namespace, session: Session) -> int:
    """``hopx ls``: one line per sandbox (``--json``: a list of records)."""
    sandboxes = await AsyncSandbox.list(status=args.status, limit=args.limit, client=session.client)
    # The listing carries each sandbox's record: no request per sandbox (which would also fail
    # for one killed between the listing and its own request).
    infos = [sandbox.info or await sandbox.get_info() for sandbox in sandboxes]
    records = [sandbox_record(info) for info in infos]
    if session.json:
        session.emit(records)
    else:
        session.out.write(sandbox_table(records) + "\n")
    return 0


async def cmd_create(args: argparse.Namespace, session: Session) -> int:
    """``hopx create [TEMPLATE]``: prints the new sandbox's id (``--json``: its record)."""
    sandbox = await AsyncSandbox.create(
        template=args.template,
        timeout_seconds=args.timeout,
        internet_access=args.internet,
        env_vars=_env_pairs(args.env),
        client=session.client,
    )
    if session.json:
        session.emit(sandbox_record(sandbox.info or await sandbox.get_info()))
    else:
        session.out.write(sandbox.sandbox_id + "\n")
    return 0


async def cmd_kill(args: argparse.Namespace, session: Session) -> int:
    """``hopx kill ID...``: kills each sandbox; says which ones."""
    killed = []
    for sandbox_id in args.sandbox_ids:
        sandbox = await session.sandbox(sandbox_id)
        await sandbox.kill()
        killed.append(sandbox_id)
        if not session.json:
            session.out.write(f"killed {sandbox_id}\n")
    if session.json:
        session.emit({"killed": killed})
    return 0


async def cmd_exec(args: argparse.Namespace, session: Session) -> int:
    """``hopx exec ID -- CMD...``: streams the command's output; its exit code is ours.

    The words after ``--`` are joined with spaces and run by ``bash -c`` in the sandbox, as
    ``ssh`` does: ``hopx exec ID -- 'ls | wc -l'`` runs a pipeline there.
    """
    words = list(args.cmd)
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        raise UsageError("give the command after --, as in: hopx exec ID -- ls -la")
    sandbox = await session.sandbox(args.sandbox_id)
    stream = sandbox.commands.stream(
        " ".join(words),
        timeout_seconds=args.timeout,
        env=_env_pairs(args.env),
        working_dir=args.workdir,
    )
    captured: dict[str, list[str]] = {"stdout": [], "stderr": []}
    exit_code: int | None = None
    failure: str | None = None
    async with stream:
        async for event in stream:
            kind = event.get("type")
            if kind in captured:
                data = str(event.get("data", ""))
                if session.json:
                    captured[kind].append(data)
                else:
                    target = session.out if kind == "stdout" else session.err
                    target.write(data)
                    target.flush()
            elif kind == "error":
                failure = str(event.get("error") or event.get("message") or event.get("data"))
            elif kind in ("result", "complete") and event.get("exit_code") is not None:
                exit_code = int(event["exit_code"])
    if session.json:
        session.emit(
            {
                "exit_code": exit_code,
                "stdout": "".join(captured["stdout"]),
                "stderr": "".join(captured["stderr"]),
                "error": failure,
            }
        )
    elif failure is not None:
        session.err.write(f"hopx exec: {failure}\n")
    if exit_code is None:
        if not session.json:
            session.err.write("hopx exec: the command ended without an exit code\n")
        return 1
    return exit_code & 0xFF if exit_code >= 0 else 1


@attrs.frozen
class _Remote:
    sandbox_id: str
    path: str


def _remote(spec: str) -> _Remote | None:
    """``ID:PATH`` as a remote path (relative paths start at /workspace); ``None`` if local.

    As with ``scp``, a colon before any slash marks a remote; write ``./a:b`` for a local file
    whose name has a colon.
    """
    head, sep, tail = spec.partition(":")
    if not sep or not head or "/" in head:
        return None
    path = posixpath.normpath(posixpath.join(WORKSPACE, tail))
    # A trailing slash (and a bare "ID:") means "into this directory".
    return _Remote(head, path + "/" if not tail or tail.endswith("/") else path)


async def _remote_entry(sandbox: AsyncSandbox, path: str) -> FileInfo | None:
    """The listing entry of ``path`` in its directory, or ``None`` when there is none."""
    parent, name = posixpath.split(posixpath.normpath(path))
    if not name:
        return None
    try:
        entries = await sandbox.files.list(parent or "/")
    except HopxError:
        return None
    return next((entry for entry in entries if entry.name == name), None)


async def cmd_cp(args: argparse.Namespace, session: Session) -> int:
    """``hopx cp SRC DST``: a file into (``ID:PATH`` as DST) or out of (as SRC) a sandbox.

    A progress bar is drawn on standard error when it is a terminal; ``--json`` prints
    ``{"source", "destination", "bytes"}`` instead.
    """
    source, destination = _remote(args.source), _remote(args.destination)
    if (source is None) == (destination is None):
        raise UsageError(
            "exactly one of SRC and DST is ID:PATH in a sandbox, as in: "
            "hopx cp data.csv ID:/workspace/ or hopx cp ID:/workspace/out.txt ."
        )
    if destination is not None:
        return await _upload(args.source, destination, session)
    assert source is not None
    return await _download(source, args.destination, session)


def _local_source(name: str) -> tuple[pathlib.Path, int]:
    """The local file to upload and its size (``UsageError`` if it is not a file)."""
    local = pathlib.Path(name)
    if not local.is_file():
        what = "is a directory" if local.is_dir() else "is not a file"
        raise UsageError(f"{name} {what}: cp copies one file")
    return local, local.stat().st_size


def _local_target(name: str, remote_path: str) -> pathlib.Path:
    """Where a download goes: ``name``, or the remote file's name inside it if a directory."""
    local = pathlib.Path(name)
    if name.endswith(os.sep) or local.is_dir():
        return local / posixpath.basename(remote_path)
    return local


async def _upload(local_name: str, remote: _Remote, session: Session) -> int:
    local, size = _local_source(local_name)
    sandbox = await session.sandbox(remote.sandbox_id)
    target = remote.path
    entry = await _remote_entry(sandbox, target)
    if remote.path.endswith("/") or (entry is not None and entry.is_directory):
        target = posixpath.join(target, local.name)
    bar = session.progress(f"{local.name} -> {remote.sandbox_id}:{target}")
    await sandbox.files.upload(local, target, on_progress=None if bar is None else bar.update)
    if bar is not None:
        bar.finish()
    if session.json:
        session.emit(
            {"source": str(local), "destination": f"{remote.sandbox_id}:{target}", "bytes": size}
        )
    return 0


async def _download(remote: _Remote, local_name: str, session: Session) -> int:
    sandbox = await session.sandbox(remote.sandbox_id)
    entry = await _remote_entry(sandbox, remote.path)
    if entry is not None and entry.is_directory:
        raise UsageError(f"{remote.sandbox_id}:{remote.path} is a directory: cp copies one file")
    local = _local_target(local_name, remote.path)
    total = entry.size if entry is not None else None
    bar = session.progress(f"{remote.sandbox_id}:{remote.path} -> {local}")

    received = 0

    def progress(done: int, announced: int | None) -> None:
        nonlocal received
        received = done
        if bar is not None:
            bar.update(done, announced if announced is not None else total)

    await sandbox.files.download(remote.path, local, on_progress=progress)
    if bar is not None:
        bar.finish()
    if session.json:
        session.emit(
            {
                "source": f"{remote.sandbox_id}:{remote.path}",
                "destination": str(local),
                "bytes": received,
            }
        )
    return 0
