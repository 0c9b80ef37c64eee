"""Unpack an uploaded build context, refusing whatever could land outside its directory.

A member is refused when its name is absolute or has a ``..`` part, when it is a hard link,
a device, a FIFO, or a symbolic link whose target is absolute or climbs out of the archive
root, and when a member would be written under a link. The whole archive is refused past
:data:`MAX_MEMBERS` members or :data:`MAX_BYTES` of unpacked data (a gzip bomb stops there,
while it is read, not after).
"""

from __future__ import annotations

import pathlib
import posixpath
import shutil
import tarfile

__all__ = ["MAX_BYTES", "MAX_MEMBERS", "ArchiveError", "unpack"]

#: The most members an uploaded context may have.
MAX_MEMBERS = 100_000
#: The most bytes an uploaded context may unpack to.
MAX_BYTES = 1024 * 1024 * 1024


class ArchiveError(Exception):
    """An uploaded context that cannot be unpacked safely (the message says which member)."""


def _clean_name(name: str) -> str:
    if name.startswith("/") or ("\\" in name and name.startswith("\\")):
        raise ArchiveError(f"archive member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member {name!r} leads out of the archive (..)")
    return "/".join(parts)


def _link_inside(name: str, target: str) -> bool:
    if target.startswith("/"):
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    return joined != ".." and not joined.startswith("../") and not joined.startswith("/")


def unpack(
    blob: pathlib.Path,
    dest: pathlib.Path,
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_BYTES,
) -> None:
    """Unpack the gzip tarball ``blob`` into the new directory ``dest``.

    Raises:
        ArchiveError: the blob is not a tarball, a member is unsafe, or it is too large; then
            ``dest`` is removed again.
    """
    dest.mkdir(parents=True)
    try:
        _unpack(blob, dest, max_members, max_bytes)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack(blob: pathlib.Path, dest: pathlib.Path, max_members: int, max_bytes: int) -> None:
    links: set[str] = set()
    total = 0
    count = 0
    try:
        tar = tarfile.open(blob, mode="r:gz")  # noqa: SIM115  (closed by the with below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"the uploaded context is not a gzip tarball: {exc}") from None
    with tar:
        try:
            for member in tar:
                count += 1
                if count > max_members:
                    raise ArchiveError(f"the archive has more than {max_members} members")
                name = _clean_name(member.name)
                if not name:
                    continue
                parents = name.split("/")[:-1]
                for i in range(1, len(parents) + 1):
                    if "/".join(parents[:i]) in links:
                        raise ArchiveError(f"archive member {member.name!r} lies under a link")
                target = dest / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    target.chmod(0o755 | (member.mode & 0o777))
                elif member.issym():
                    if not _link_inside(name, member.linkname):
                        raise ArchiveError(
                            f"archive member {member.name!r} links out of the archive "
                            f"(to {member.linkname!r})"
                        )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.is_symlink() or target.exists():
                        raise ArchiveError(f"archive member {member.name!r} appears twice")
                    target.symlink_to(member.linkname)
                    links.add(name)
                elif member.isreg():
                    total += member.size
                    if total > max_bytes:
                        raise ArchiveError(f"the archive unpacks to more than {max_bytes} bytes")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.is_symlink():
                        raise ArchiveError(f"archive member {member.name!r} replaces a link")
                    source = tar.extractfile(member)
                    assert source is not None
                    written = 0
                    with source, target.open("wb") as out:
                        while chunk := source.read(1024 * 1024):
                            written += len(chunk)
                            if written > member.size:
                                raise ArchiveError(f"archive member {member.name!r} overflows")
                            out.write(chunk)
                    target.chmod(member.mode & 0o777 or 0o644)
                elif member.islnk():
                    raise ArchiveError(f"archive member {member.name!r} is a hard link")
                else:
                    raise ArchiveError(
                        f"archive member {member.name!r} is a device or FIFO, refused"
                    )
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"the uploaded context is damaged: {exc}") from None
