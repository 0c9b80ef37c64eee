"""attrs validators for caller arguments: they refuse bad values before any bytes exist."""

from __future__ import annotations

from typing import Any

from ._errors import LocalProtocolError

__all__ = ["absolute_path", "non_empty", "non_negative", "positive"]


def non_empty(_instance: Any, attribute: Any, value: Any) -> None:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise LocalProtocolError(f"{attribute.name} must be a non-empty string, got {value!r}")


def absolute_path(_instance: Any, attribute: Any, value: Any) -> None:
    """An absolute path inside the sandbox (``None`` allowed for optional fields)."""
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith("/"):
        raise LocalProtocolError(f"{attribute.name} must be an absolute path, got {value!r}")
    if "\x00" in value:
        raise LocalProtocolError(f"{attribute.name} must not contain NUL bytes")


def non_negative(_instance: Any, attribute: Any, value: Any) -> None:
    """An integer >= 0 (``None`` allowed for optional fields)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def positive(_instance: Any, attribute: Any, value: Any) -> None:
    """An integer > 0 (``None`` allowed for optional fields)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LocalProtocolError(f"{attribute.name} must be an integer > 0, got {value!r}")
