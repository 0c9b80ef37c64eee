"""The table of every operation of both planes.

Each module below declares its operations as module-level :class:`Operation` constants; this
package collects them into :data:`OPERATIONS` (by name) and routes requests with
:func:`route`. Nothing else in the code spells an endpoint path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from . import agent, control, desktop, files
from ._base import Auth, Operation, Plane

__all__ = [
    "OPERATIONS",
    "Auth",
    "Operation",
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


#: Every operation by name (read-only).
OPERATIONS: Mapping[str, Operation[Any, Any]] = MappingProxyType(
    _collect(control, agent, files, desktop)
)


def operations_for(plane: Plane) -> list[Operation[Any, Any]]:
    """Every operation of one plane, static paths before parameterised ones.

    Args:
        plane: the control plane or the agent.

    Returns:
        The operations, in the order :func:`route` tries them.
    """
    ops = [op for op in OPERATIONS.values() if op.plane is plane]
    return sorted(ops, key=lambda op: (op.path.count("{"), op.path, op.method))


_ROUTES: dict[Plane, list[Operation[Any, Any]]] = {plane: operations_for(plane) for plane in Plane}


def route(
    plane: Plane, method: str, path: str
) -> tuple[Operation[Any, Any], dict[str, str]] | None:
    """The operation serving ``method path`` on ``plane``.

    Args:
        plane: which plane received the request.
        method: the request method (``"GET"``, ...).
        path: the request path, without the query.

    Returns:
        The operation and its path parameters (percent-decoded), or ``None`` when no
        operation serves that method and path.
    """
    for op in _ROUTES[plane]:
        params = op.match(method, path)
        if params is not None:
            return op, params
    return None


def allowed_methods(plane: Plane, path: str) -> list[str]:
    """The methods that ``path`` answers to on ``plane``, sorted (for a 405 reply's
    ``Allow`` header); empty when no operation serves the path."""
    return sorted({op.method for op in _ROUTES[plane] if op.match(op.method, path) is not None})
