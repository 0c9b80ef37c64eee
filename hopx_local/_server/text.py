"""Finding text no file, process or reply can carry: strings with lone surrogates.

JSON may spell any UTF-16 code unit (``"\\ud800"``), so a parsed request can hold strings that
are not valid Unicode. They cannot become a file name, an argument or an environment variable,
and they cannot be written back in a UTF-8 reply; such a request is refused up front, naming
the field, and a refusal that quotes the text shows each lone surrogate as its escape.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["invalid_text", "is_valid_text", "sendable"]


def is_valid_text(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def invalid_text(value: Any, where: str = "request") -> str | None:
    """Where in ``value`` (an attrs instance, dict, list or str) the first invalid text is, as
    a dotted field name; ``None`` if every string in it is valid Unicode."""
    pending: list[tuple[Any, str]] = [(value, where)]
    while pending:
        item, place = pending.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                return place
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not is_valid_text(key):
                    return f"a key of {place}"
                pending.append((inner, f"{place}.{key}"))
        elif isinstance(item, list | tuple):
            pending.extend((inner, f"{place}[{index}]") for index, inner in enumerate(item))
        elif attrs.has(type(item)):
            for field in attrs.fields(type(item)):
                name = field.name if place == where else f"{place}.{field.name}"
                pending.append((getattr(item, field.name), name))
    return None


def sendable(value: Any) -> Any:
    """``value`` (str, dict, list or tuple, nested) with every lone surrogate in its text
    written as its escape (``\\ud800``), so that an error reply quoting a request can always
    be encoded. Valid text, and every other value, is returned as it is."""
    if isinstance(value, str):
        if is_valid_text(value):
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {sendable(key): sendable(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [sendable(inner) for inner in value]
    return value
