"""Result values as plain data, the way the official client's pydantic models convert.

Code written for the official client calls ``model_dump()``, ``model_dump_json()`` or the older
``dict()`` on its results (a FastAPI handler returning one does). Every value of this library
offers the same three (see :class:`~hopx_proto._value.Value`), built here:

* keys are the attribute names (``json_output``, not the wire key ``json``), in declaration
  order, followed by the properties the official models hold as fields (``rich_outputs`` of an
  execution result, ``end_at`` and ``started_at`` of a sandbox);
* fields declared ``repr=False`` (the ``extra`` keys nobody documents) and secrets (a
  sandbox's ``auth_token``) are left out, as the official models have no such keys;
* nested values become dictionaries; lists, tuples and dictionaries are converted item by item;
* ``mode="python"`` keeps ``datetime`` objects, as pydantic does; ``mode="json"`` (and
  ``model_dump_json``) gives JSON-safe data: datetimes as ISO 8601 text (``Z`` for UTC), bytes
  as UTF-8 text, NaN and infinities as ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable
from typing import Any, Literal

__all__ = ["DumpMode", "dump", "dump_json"]

DumpMode = Literal["python", "json"]
_MODES = ("python", "json")


def _names(value: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{what} takes a set of field names, not a string")
    if isinstance(value, dict):
        value = [name for name, keep in value.items() if keep is True]
    names = frozenset(value)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{what} takes a set of field names (strings)")
    return names


def _datetime_text(value: _dt.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_SCALARS = frozenset({str, int, bool, type(None)})
#: The dumped names of each class: its fields, then its dumped properties.
_plans: dict[type, tuple[str, ...]] = {}


def _plan(cls: type) -> tuple[str, ...]:
    plan = _plans.get(cls)
    if plan is None:
        hidden: frozenset[str] = getattr(cls, "_dump_hidden", frozenset())
        names = [
            f.name
            for f in cls.__attrs_attrs__  # type: ignore[attr-defined]
            if f.repr is not False and f.name not in hidden
        ]
        names += [name for name in getattr(cls, "_dump_properties", ()) if name not in names]
        plan = _plans[cls] = tuple(names)
    return plan


def _convert(value: Any, mode: str, exclude_none: bool) -> Any:
    cls = type(value)
    if cls in _SCALARS:
        return value
    if cls is _dt.datetime:
        return _datetime_text(value) if mode == "json" else value
    if cls in _plans or (hasattr(cls, "__attrs_attrs__") and hasattr(cls, "model_dump")):
        return _fields(value, mode, exclude_none, None, None)
    if isinstance(value, dict):
        return {k: _convert(v, mode, exclude_none) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v, mode, exclude_none) for v in value]
    if mode == "json":
        if isinstance(value, float) and not math.isfinite(value):
            return None  # as pydantic writes NaN and infinities
        if isinstance(value, _dt.datetime):
            return _datetime_text(value)
        if isinstance(value, _dt.date | _dt.time):
            return value.isoformat()
        if isinstance(value, bytes | bytearray):
            return bytes(value).decode("utf-8", errors="replace")
    return value


def _fields(
    value: Any,
    mode: str,
    exclude_none: bool,
    include: frozenset[str] | None,
    exclude: frozenset[str] | None,
) -> dict[str, Any]:
    plan = _plan(type(value))
    if include is None and exclude is None and not exclude_none:
        return {name: _convert(getattr(value, name), mode, False) for name in plan}
    out: dict[str, Any] = {}
    for name in plan:
        if include is not None and name not in include:
            continue
        if exclude is not None and name in exclude:
            continue
        item = getattr(value, name)
        if item is None and exclude_none:
            continue
        out[name] = _convert(item, mode, exclude_none)
    return out


def dump(
    value: Any,
    *,
    mode: DumpMode = "python",
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    exclude_none: bool = False,
) -> dict[str, Any]:
    """``value`` as a dictionary (see the module for the rules).

    Args:
        value: an attrs value of this library.
        mode: ``"python"`` keeps datetimes; ``"json"`` makes everything JSON-safe.
        include: only these top-level fields.
        exclude: leave out these top-level fields.
        exclude_none: leave out fields (at every level) whose value is ``None``.

    Raises:
        ValueError: ``mode`` is neither ``"python"`` nor ``"json"``.
        TypeError: ``include`` or ``exclude`` is not a set of field names.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")
    return _fields(
        value, mode, exclude_none, _names(include, "include"), _names(exclude, "exclude")
    )


def dump_json(
    value: Any,
    *,
    indent: int | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    exclude_none: bool = False,
) -> str:
    """``value`` as JSON text: compact (as pydantic writes it) unless ``indent`` is given.

    Args:
        value: an attrs value of this library.
        indent: spaces per nesting level; ``None`` for one compact line.
        include: only these top-level fields.
        exclude: leave out these top-level fields.
        exclude_none: leave out fields (at every level) whose value is ``None``.
    """
    data = dump(value, mode="json", include=include, exclude=exclude, exclude_none=exclude_none)
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(data, ensure_ascii=False, indent=indent, separators=separators)
