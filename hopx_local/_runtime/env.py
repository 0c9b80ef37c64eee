"""The sandbox's global environment variables, persisted as JSON in its state directory."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .errors import fault

__all__ = ["MAX_ENV_BYTES", "MAX_ENV_VARS", "MAX_VAR_BYTES", "EnvStore", "check_env"]

#: Bounds that keep a process's environment within what ``execve`` takes (E2BIG beyond): one
#: ``NAME=value`` string, the whole set, and how many variables.
MAX_VAR_BYTES = 128 * 1024 - 1
MAX_ENV_BYTES = 512 * 1024
MAX_ENV_VARS = 4096


def check_env(env: object, *, bounded: bool = True) -> dict[str, str]:
    """A copy of ``env`` if it is a valid str -> str mapping; INVALID_REQUEST otherwise.

    A name is non-empty and holds no ``=`` and no NUL byte; a value is a string without NUL
    bytes (neither could reach a process's environment). One variable may take
    :data:`MAX_VAR_BYTES` bytes, all of them :data:`MAX_ENV_BYTES`, and there may be
    :data:`MAX_ENV_VARS` of them (unless ``bounded`` is false: variables stored before these
    bounds existed are still read).
    """
    if not isinstance(env, Mapping):
        raise fault("INVALID_REQUEST", "environment must be an object of strings")
    if bounded and len(env) > MAX_ENV_VARS:
        raise fault(
            "INVALID_REQUEST", f"{len(env)} environment variables; at most {MAX_ENV_VARS} fit"
        )
    checked: dict[str, str] = {}
    total = 0
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\x00" in key:
            raise fault(
                "INVALID_REQUEST",
                f"invalid environment variable name {key!r}: a name is not empty and holds "
                "no '=' and no NUL byte",
            )
        if not isinstance(value, str):
            raise fault("INVALID_REQUEST", f"environment variable {key} must be a string")
        if "\x00" in value:
            raise fault("INVALID_REQUEST", f"environment variable {key} holds a NUL byte")
        size = (
            len(key.encode("utf-8", "surrogatepass"))
            + len(value.encode("utf-8", "surrogatepass"))
            + 1
        )
        if bounded and size > MAX_VAR_BYTES:
            raise fault(
                "INVALID_REQUEST",
                f"environment variable {key[:40]} is {size} bytes; at most {MAX_VAR_BYTES} fit",
            )
        total += size + 1
        if bounded and total > MAX_ENV_BYTES:
            raise fault(
                "INVALID_REQUEST", f"the environment is over {MAX_ENV_BYTES} bytes; it cannot fit"
            )
        checked[key] = value
    return checked


class EnvStore:
    """Variables applied to every later execution (below request env, above the base env)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._vars: dict[str, str] = {}
        if path.exists():
            try:
                self._vars = check_env(json.loads(path.read_text("utf-8")), bounded=False)
            except (ValueError, OSError) as exc:
                raise fault("INTERNAL_ERROR", f"environment store {path} is unreadable: {exc}")

    def _save(self) -> None:
        temp = self._path.with_name(self._path.name + ".part")
        temp.write_text(json.dumps(self._vars, sort_keys=True), "utf-8")
        os.replace(temp, self._path)

    def get(self) -> dict[str, str]:
        """A copy of the stored variables."""
        return dict(self._vars)

    def set(self, env: object) -> dict[str, str]:
        """Replace all stored variables."""
        self._vars = check_env(env)
        self._save()
        return self.get()

    def update(self, env: object) -> dict[str, str]:
        """Add or change some variables."""
        self._vars.update(check_env(env))
        self._save()
        return self.get()

    def clear(self) -> None:
        """Forget every stored variable."""
        self._vars = {}
        self._save()
