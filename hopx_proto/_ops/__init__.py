"""The table of every operation of both planes.

Each module below declares its operations as module-level :class:`Operation` constants; this
package collects them into :data:`OPERATIONS` (by name) and routes requests with
:func:`route`. Nothing else in the code spells an endpoint path.

The desktop and agent-update operations (``desktop.py``, about a third of the table) are
imported the first time the table is read, not when the package is: a client only needs an
operation when it calls it, and most programs never drive a desktop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from . import agent, control, files
from ._base import Operation, Plane

__all__ = [
    "OPERATIONS",
    "Operation",
    "OperationTable",
    "Plane",
    "allowed_methods",
    "operations_for",
    "route",
]


def _collect(*modules: ModuleType) -> dict[str, Operation[Any, Any]]:
    table: dict[str, Operation[Any, Any]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Operation):
                if value.name in table and table[value.name] is not value:
                    raise RuntimeError(f"two operations are named {value.name!r}")
                table[value.name] = value
    return table


class OperationTable(Mapping[str, Operation[Any, Any]]):
    """Every operation by name (read-only), filled from the operation modules on first read."""

    def __init__(self) -> None:
        self._table: dict[str, Operation[Any, Any]] | None = None

    def _loaded(self) -> dict[str, Operation[Any, Any]]:
        if self._table is None:
            from . import desktop

            self._table = _collect(control, agent, files, desktop)
        return self._table

    def __getitem__(self, name: str) -> Operation[Any, Any]:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __repr__(self) -> str:
        return f"OperationTable({sorted(self._loaded())!r})"


OPERATIONS: Mapping[str, Operation[Any, Any]] = OperationTable()


def operations_for(plane: Plane) -> list[Operation[Any, Any]]:
    """Every operation of one plane, static paths before parameterised ones."""
    ops = [op for op in OPERATIONS.values() if op.plane is plane]
    return sorted(ops, key=lambda op: (op.path.count("{"), op.path, op.method))


_routes: dict[Plane, list[Operation[Any, Any]]] = {}


def _routes_for(plane: Plane) -> list[Operation[Any, Any]]:
    routes = _routes.get(plane)
    if routes is None:
        routes = _routes[plane] = operations_for(plane)
    return routes


def route(
    plane: Plane, method: str, path: str
) -> tuple[Operation[Any, Any], dict[str, str]] | None:
    """The operation serving ``method path`` on ``plane`` and its path parameters."""
    for op in _routes_for(plane):
        params = op.match(method, path)
        if params is not None:
            return op, params
    return None


def allowed_methods(plane: Plane, path: str) -> list[str]:
    """Methods that ``path`` answers to (for a 405 reply)."""
    return sorted({op.method for op in _routes_for(plane) if op.match(op.method, path) is not None})
