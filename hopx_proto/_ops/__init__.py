"""The table of every operation of both planes.

Each module below declares its operations as module-level :class:`Operation` constants; this
package collects them into :data:`OPERATIONS` (by name) and routes requests with
:func:`route`. Nothing else in the code spells an endpoint path.

The modules of the operations (and their argument classes) load with the first read of the
table or the first :func:`route` (a server's first request), or when a client imports the ones
it calls, not with this package; the desktop's, which few programs use, with the desktop
resource or :mod:`hopx_proto.ops`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

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


class _Table(Mapping[str, Operation[Any, Any]]):
    """Every operation by name, read-only; collected on first read (see the module)."""

    __slots__ = ("_table",)

    def __init__(self) -> None:
        self._table: dict[str, Operation[Any, Any]] | None = None

    def _whole(self) -> dict[str, Operation[Any, Any]]:
        if self._table is None:
            from . import agent, control, desktop, files  # the table's loading point

            self._table = _collect(control, agent, files, desktop)
        return self._table

    def __getitem__(self, name: str) -> Operation[Any, Any]:
        return self._whole()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    def __repr__(self) -> str:
        return f"OPERATIONS({self._whole()!r})"


#: Every operation by name (read-only).
OPERATIONS: Mapping[str, Operation[Any, Any]] = _Table()


def operations_for(plane: Plane) -> list[Operation[Any, Any]]:
    """Every operation of one plane, static paths before parameterised ones.

    Args:
        plane: the control plane or the agent.

    Returns:
        The operations, in the order :func:`route` tries them.
    """
    ops = [op for op in OPERATIONS.values() if op.plane is plane]
    return sorted(ops, key=lambda op: (op.path.count("{"), op.path, op.method))


_ROUTES: dict[Plane, list[Operation[Any, Any]]] = {}


def _routes(plane: Plane) -> list[Operation[Any, Any]]:
    if not _ROUTES:
        _ROUTES.update({each: operations_for(each) for each in Plane})
    return _ROUTES[plane]


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
    for op in _routes(plane):
        params = op.match(method, path)
        if params is not None:
            return op, params
    return None


def allowed_methods(plane: Plane, path: str) -> list[str]:
    """The methods that ``path`` answers to on ``plane``, sorted (for a 405 reply's
    ``Allow`` header); empty when no operation serves the path."""
    return sorted({op.method for op in _routes(plane) if op.match(op.method, path) is not None})
