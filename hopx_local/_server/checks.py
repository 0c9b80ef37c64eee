"""Bounds the emulator puts on values the operations accept without one.

JSON integers have no size: ``"timeout_seconds": 10**400`` parses, and then overflows the first
float, clock or database column it meets. A command line has no size either, until ``execve``
refuses it. Such values are refused up front with a 400 that says what is accepted.
"""

from __future__ import annotations

from .envelope import Problem

__all__ = ["MAX_ARGV_BYTES", "MAX_ARGS", "MAX_SECONDS", "argv", "seconds"]

#: The longest timeout accepted, in seconds (about 68 years).
MAX_SECONDS = 2**31 - 1
#: A command line: how many arguments, and how many bytes in all (each one also within what
#: ``execve`` takes for one string).
MAX_ARGS = 4096
MAX_ARGV_BYTES = 512 * 1024
_MAX_ARG_BYTES = 128 * 1024 - 1


def _shown(value: int) -> str:
    text = str(value) if value.bit_length() < 200 else f"a number of {len(str(value))} digits"
    return text


def seconds(value: int, field: str, *, code: str) -> int:
    """``value`` if it is a timeout in seconds within :data:`MAX_SECONDS`; a 400
    :class:`Problem` with error ``code`` naming ``field`` otherwise."""
    if value > MAX_SECONDS:
        raise Problem(
            400,
            f"{field} must be at most {MAX_SECONDS} seconds, got {_shown(value)}",
            code=code,
            details={"field": field, "max": MAX_SECONDS},
        )
    return value


def argv(args: list[str], field: str, *, code: str) -> list[str]:
    """``args`` if a process can be started with them; a 400 :class:`Problem` otherwise."""
    if len(args) > MAX_ARGS:
        raise Problem(400, f"{field} has {len(args)} items; at most {MAX_ARGS} fit", code=code)
    total = 0
    for arg in args:
        size = len(arg.encode("utf-8", "surrogatepass")) + 1
        if size > _MAX_ARG_BYTES:
            raise Problem(
                400, f"an item of {field} is {size} bytes; at most {_MAX_ARG_BYTES} fit", code=code
            )
        total += size
    if total > MAX_ARGV_BYTES:
        raise Problem(400, f"{field} takes {total} bytes; at most {MAX_ARGV_BYTES} fit", code=code)
    return args
