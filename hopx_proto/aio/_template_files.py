"""The local side of a ``COPY`` step: which files its sources name, their hash, their archive.

Run in a worker thread (:meth:`Backend.run_sync`): they read the disk. The hash covers the
contents, so it changes whenever a copied file does (the official client hashes the files a
glob names but not what a named *directory* holds, so ``copy(".", ...)`` kept one hash
whatever the context held). It is opaque to the service, which keys its upload store by it.

:mod:`glob`, :mod:`hashlib` and :mod:`tarfile` (with :mod:`shutil` and the compressors it
brings) are imported by the functions that use them: only a build with a ``COPY`` step does.
"""

from __future__ import annotations

import io
import pathlib
import stat

from .._errors import LocalProtocolError

__all__ = ["context_entries", "copy_archive", "copy_hash"]

CHUNK = 256 * 1024


def _inside(context: pathlib.Path, path: pathlib.Path) -> bool:
    try:
        path.relative_to(context)
    except ValueError:
        return False
    return True


def context_entries(sources: list[str], context_path: str) -> list[tuple[str, pathlib.Path]]:
    """Every file, directory and link the ``sources`` globs name under ``context_path``, with
    the contents of named directories, as sorted ``(relative path, path)`` pairs.

    Raises:
        LocalProtocolError: a source is absolute or leads out of the context, or names
            nothing.
    """
    import glob  # here: see the module

    context = pathlib.Path(context_path).absolute()
    found: dict[str, pathlib.Path] = {}
    for source in sources:
        if not source or pathlib.PurePosixPath(source).is_absolute() or ".." in source.split("/"):
            raise LocalProtocolError(
                f"COPY source {source!r} must be a relative path inside the build context"
            )
        matches = sorted(glob.glob(str(context / source), recursive=True))
        if not matches:
            raise LocalProtocolError(f"COPY source {source!r} matches nothing in {context}")
        for match in matches:
            path = pathlib.Path(match)
            if not _inside(context, path):
                raise LocalProtocolError(f"COPY source {source!r} leads out of {context}")
            stack = [path]
            while stack:
                here = stack.pop()
                rel = here.relative_to(context).as_posix()
                if rel != ".":
                    found[rel] = here
                if here.is_dir() and not here.is_symlink():
                    stack.extend(sorted(here.iterdir(), reverse=True))
    return sorted(found.items())


def _source_hash(source: str, dest: str, context_path: str) -> str:
    import hashlib  # here: see the module

    digest = hashlib.sha256(f"COPY {source} {dest}".encode())
    for rel, path in context_entries([source], context_path):
        info = path.lstat()
        digest.update(rel.encode("utf-8", "surrogateescape"))
        digest.update(str(stat.S_IMODE(info.st_mode) | stat.S_IFMT(info.st_mode)).encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(str(path.readlink()).encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(info.st_mode):
            digest.update(str(info.st_size).encode())
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
    return digest.hexdigest()


def copy_hash(sources: list[str], dest: str, context_path: str) -> str:
    """The ``filesHash`` of a ``COPY`` of ``sources`` to ``dest``: sha256 over the per-source
    hashes (each over the step, then every file's path, mode, size and bytes)."""
    import hashlib  # here: see the module

    combined = hashlib.sha256()
    for source in sources:
        combined.update(_source_hash(source, dest, context_path).encode())
    return combined.hexdigest()


def copy_archive(sources: list[str], context_path: str) -> bytes:
    """A gzip tarball of what ``sources`` name, paths relative to the context, links kept as
    links (never followed)."""
    import tarfile  # here: see the module

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel, path in context_entries(sources, context_path):
            tar.add(str(path), arcname=rel, recursive=False)
    return out.getvalue()
