"""The base of the frozen values: one ``__repr__``, ``__eq__`` and ``__hash__`` for all.

attrs writes these methods anew for each class, as source code it compiles while the module
loads; for the core's many small value classes that compiling was most of the import time.
Declared ``@attrs.frozen(repr=False, eq=False)`` on top of :class:`Value`, a class gets the same
behaviour from these shared functions:

* ``repr``: ``Name(field=value, ...)``, leaving out fields declared ``repr=False`` and applying
  a field's ``repr=`` function where it has one;
* ``==``: values of the same class whose compared fields (all but ``eq=False`` ones) are equal;
  another class gives ``NotImplemented``;
* ``hash``: of the class and those fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Value"]


class Value:
    """Mixin of an ``@attrs.frozen(repr=False, eq=False)`` class (see the module)."""

    __slots__ = ()

    def __repr__(self) -> str:
        parts = []
        for field in self.__attrs_attrs__:  # type: ignore[attr-defined]
            if field.repr is False:
                continue
            value = getattr(self, field.name)
            text = repr(value) if field.repr is True else field.repr(value)
            parts.append(f"{field.name}={text}")
        name = type(self).__qualname__.rsplit(">.", 1)[-1]
        return f"{name}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        for field in self.__attrs_attrs__:  # type: ignore[attr-defined]
            if field.eq:
                mine, theirs = getattr(self, field.name), getattr(other, field.name)
                if mine is not theirs and not mine == theirs:  # as tuples compare
                    return False
        return True

    def __hash__(self) -> int:
        values: list[Any] = [type(self)]
        values.extend(
            getattr(self, field.name)
            for field in self.__attrs_attrs__  # type: ignore[attr-defined]
            if field.hash or (field.hash is None and field.eq)
        )
        return hash(tuple(values))
