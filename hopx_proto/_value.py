"""The base of the frozen values: one ``__repr__``, ``__eq__`` and ``__hash__`` for all.

attrs writes these methods anew for each class, as source code it compiles while the module
loads; for the core's many small value classes that compiling was most of the import time.
Declared ``@attrs.frozen(repr=False, eq=False)`` on top of :class:`Value`, a class gets the same
behaviour from these shared functions:

* ``repr``: ``Name(field=value, ...)``, leaving out fields declared ``repr=False`` and applying
  a field's ``repr=`` function where it has one;
* ``==``: values of the same class whose compared fields (all but ``eq=False`` ones) are equal;
  another class gives ``NotImplemented``;
* ``hash``: of the class and those fields;
* ``model_dump()``, ``model_dump_json()`` and ``dict()``: plain data, as the official
  client's pydantic models give it (rules in :mod:`hopx_proto._dump`).

Slots: a slotted attrs class is built twice (attrs makes a second class to carry
``__slots__``), a measurable part of its cost at import. The result models, the argument
classes of the operations and the few other values built once per call or per client
(multipart parts, pool and transport settings, a refused upgrade) are declared
``slots=False``: read a few times, they are also a little quicker to create with an instance
dictionary (attrs then writes the fields straight into it). The values read on every request
or frame (the HTTP and WebSocket events, stream messages, the operation itself, the retry
policy) keep their slots.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any, ClassVar

from ._dump import DumpMode, dump, dump_json

__all__ = ["Value"]


class Value:
    """Mixin of an ``@attrs.frozen(repr=False, eq=False)`` class (see the module)."""

    __slots__ = ()

    #: Fields a dump leaves out besides those declared ``repr=False`` (secrets).
    _dump_hidden: ClassVar[frozenset[str]] = frozenset()
    #: Properties a dump writes after the fields (fields of the official models).
    _dump_properties: ClassVar[tuple[str, ...]] = ()

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

    # -- conversions, as the official client's pydantic models offer them -------------------

    def model_dump(
        self,
        *,
        mode: DumpMode = "python",
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        exclude_none: bool = False,
    ) -> builtins.dict[str, Any]:
        """This value as a dictionary keyed by attribute name, nested values included.

        Args:
            mode: ``"python"`` keeps ``datetime`` objects (as pydantic does); ``"json"``
                gives JSON-safe data, datetimes as ISO 8601 text.
            include: only these top-level fields.
            exclude: leave out these top-level fields.
            exclude_none: leave out fields whose value is ``None``, at every level.
        """
        return dump(self, mode=mode, include=include, exclude=exclude, exclude_none=exclude_none)

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        exclude_none: bool = False,
    ) -> str:
        """This value as JSON text (``model_dump(mode="json")`` written out).

        Args:
            indent: spaces per nesting level; ``None`` for one compact line, as pydantic
                writes it.
            include: only these top-level fields.
            exclude: leave out these top-level fields.
            exclude_none: leave out fields whose value is ``None``, at every level.
        """
        return dump_json(
            self, indent=indent, include=include, exclude=exclude, exclude_none=exclude_none
        )

    def dict(
        self,
        *,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        exclude_none: bool = False,
    ) -> builtins.dict[str, Any]:
        """The older spelling of :meth:`model_dump` (pydantic 1), kept by pydantic 2.

        Args:
            include: only these top-level fields.
            exclude: leave out these top-level fields.
            exclude_none: leave out fields whose value is ``None``, at every level.
        """
        return dump(self, include=include, exclude=exclude, exclude_none=exclude_none)
