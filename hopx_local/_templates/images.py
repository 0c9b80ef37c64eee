"""What a base image name stands for here: the host's own system, when it honestly is one.

A build's steps run on the host's read-only system (see :mod:`.sandbox`), so a base image is
accepted only when this host *is* that image in the ways a build can tell:

=====================================  ===========================================================
``python:X.Y`` (``-slim``, ...)        the host's ``python3`` is version X.Y
``node:N`` (``N-slim``, ...)           the host's ``node`` has major version N
``debian:V`` / ``ubuntu:V``            ``/etc/os-release`` has that ``ID`` and ``VERSION_ID``
                                       (a Debian codename such as ``bookworm`` is accepted too)
=====================================  ===========================================================

Anything else (another version, a private registry image) is refused with a build error that
says what this host has instead.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import attrs

__all__ = ["BaseImage", "ImageError", "host_images", "resolve_image", "system_program"]


class ImageError(Exception):
    """A base image this host cannot provide (the message names what it has)."""


@attrs.frozen
class BaseImage:
    """A base image as this host provides it."""

    name: str
    #: What stands for it here ("the host's Python 3.11.2 (/usr/bin/python3)").
    provided_by: str


#: Where a build sandbox finds the host's programs (its ``/usr/local`` is the template's own).
SYSTEM_PATH = "/usr/bin:/bin"


def system_program(name: str) -> str | None:
    """The host program ``name`` as a build sandbox sees it (``/usr/bin``, ``/bin``)."""
    return shutil.which(name, path=SYSTEM_PATH)


def _version(argv: list[str]) -> str | None:
    exe = system_program(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+(?:\.\d+)+)", done.stdout + done.stderr)
    return match.group(1) if match else None


def _os_release(path: pathlib.Path = pathlib.Path("/etc/os-release")) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def host_images() -> dict[str, str]:
    """The base image names this host can stand for, each with what provides it."""
    found: dict[str, str] = {}
    python = _version(["python3", "--version"])
    if python is not None:
        major_minor = ".".join(python.split(".")[:2])
        found[f"python:{major_minor}"] = f"the host's Python {python} ({system_program('python3')})"
    node = _version(["node", "--version"])
    if node is not None:
        found[f"node:{node.split('.')[0]}"] = (
            f"the host's Node.js {node} ({system_program('node')})"
        )
    release = _os_release()
    os_id, version = release.get("ID"), release.get("VERSION_ID")
    if os_id and version:
        what = f"the host's system ({release.get('PRETTY_NAME', os_id)})"
        found[f"{os_id}:{version}"] = what
        codename = release.get("VERSION_CODENAME")
        if codename:
            found[f"{os_id}:{codename}"] = what
    return found


_VARIANT = re.compile(r"-(slim|bookworm|bullseye|bullseye-slim|bookworm-slim|jammy|focal)$")


def resolve_image(name: str, available: dict[str, str] | None = None) -> BaseImage:
    """The base image ``name`` (``python:3.11-slim``, ``node:20-slim``, ``debian:12``) as this
    host provides it.

    Raises:
        ImageError: this host is not that image; the message lists what it can stand for.
    """
    found = host_images() if available is None else available
    repo, sep, tag = name.strip().rpartition(":")
    if not sep or not repo or not tag or "/" in repo:
        raise ImageError(
            f"base image {name!r} is not one this host can provide; it provides: "
            + ", ".join(sorted(found))
        )
    tag = _VARIANT.sub("", tag)
    if repo == "python":
        tag = ".".join(tag.split(".")[:2])
    elif repo == "node":
        tag = tag.split(".")[0]
    key = f"{repo}:{tag}"
    if key in found:
        return BaseImage(name=name, provided_by=found[key])
    raise ImageError(
        f"base image {name!r} is not available here: builds run on this host's own system, "
        f"which provides {', '.join(sorted(found)) or 'no known image'}"
    )
