"""Secrets kept in the state directory (the API key, the token signing key), made whole or
not at all.

A secret is written to a temporary file beside it, flushed to disk and renamed into place, so
a server killed while creating one leaves either no file or the complete one: never an empty
or short secret that would silently change the key on the next start.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from collections.abc import Callable

__all__ = ["read_or_create"]


def read_or_create(
    path: pathlib.Path, make: Callable[[], bytes], *, valid: Callable[[bytes], bool]
) -> bytes:
    """The content of ``path`` if ``valid`` accepts it; else ``make()``, stored there first.

    The file is private to the user (mode 0600) and replaced atomically.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    if valid(data):
        return data
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return data
