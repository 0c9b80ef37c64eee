"""Bounds the emulator puts on values the operations accept as any integer.

JSON integers have no size: ``"timeout_seconds": 10**400`` parses, and then overflows the first
float, clock or database column it meets. Such a value is refused up front with a 400 that
says what is accepted.
"""

from __future__ import annotations

from .envelope import Problem

__all__ = ["MAX_SECONDS", "seconds"]

#: The longest timeout accepted, in seconds (about 68 years).
MAX_SECONDS = 2**31 - 1


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
