"""The table of every operation of both planes.

Each module below declares its operations as module-level :class:`Operation` constants; this
package collects them into :data:`OPERATIONS` (by name) and routes requests with
:func:`route`. Nothing else in the code spells an endpoint path.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import agent, control, desktop, files
from ._base import Operation, Plane

__all__ = ["OPERATIONS", "Operation", "Plane", "allowed_methods", "operations_for", "route"]


def _collect(*modules: ModuleType) -> dict[str, Operation[Any, Any]]:
    table: dict[str, Operation[Any, Any]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Operation):
                if value.name in table and table[value.name] is not value:
                    raise RuntimeError(f"two operations are named {value.name!r}")
                table[value.name] = value
    return table


OPERATIONS: dict[str, Operation[Any, Any]] = _collect(control, agent, files, desktop)


def operations_for(plane: Plane) -> list[Operation[Any, Any]]:
    """Every operation of one plane, static paths before parameterised ones."""
    ops = [op for op in OPERATIONS.values() if op.plane is plane]
    return sorted(ops, key=lambda op: (op.path.count("{"), op.path, op.method))


_ROUTES: dict[Plane, list[Operation[Any, Any]]] = {p: operations_for(p) for p in Plane}


def route(
    plane: Plane, method: str, path: str
) -> tuple[Operation[Any, Any], dict[str, str]] | None:
    """The operation serving ``method path`` on ``plane`` and its path parameters."""
    for op in _ROUTES[plane]:
        params = op.match(method, path)
        if params is not None:
            return op, params
    return None


def allowed_methods(plane: Plane, path: str) -> list[str]:
    """Methods that ``path`` answers to (for a 405 reply)."""
    return sorted({op.method for op in _ROUTES[plane] if op.match(op.method, path) is not None})
