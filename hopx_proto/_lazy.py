"""Names of a package imported from their modules on first use (PEP 562).

A package lists where each lazy name lives; its ``__getattr__`` imports the module the first
time the name is read and keeps the value, so later reads are plain attribute look-ups.
Type checkers read the same names from imports under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    sources: Mapping[str, tuple[str, str]],
    exported: Iterable[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``sources`` maps a public name to
    ``(module, name in that module)``, modules relative to ``package``."""
    names = frozenset(exported)

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source[0], package), source[1])
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
