"""Hypothesis strategies derived from the operation table: arguments and results of any operation.

Nothing here lists operations. Arguments come from each attrs field's type hint, narrowed by the
field's validators so that only values the validators accept are drawn:

- the validators of ``hopx_proto._checks`` (``non_empty``, ``absolute_path``, ``positive``,
  ``non_negative``) and attrs' own (``optional``, ``and_``, ``in_``, ``matches_re``) map to exact
  strategies;
- any other validator is probed with a pool of plausible values for the field's type; the values
  it accepts seed the strategy (plus variations of them that it also accepts).

Results come from the result codec: ``Model(cls)`` builds ``cls`` from its field types, with
``extra`` holding keys no field reads; ``RawJSON`` draws JSON objects, ``Text`` text, ``Binary``
bytes. Strings never hold lone surrogates (they cannot be encoded as UTF-8 at all).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

from hopx_proto import _checks
from hopx_proto._codec import unknown_keys
from hopx_proto._errors import LocalProtocolError
from hopx_proto._ops._base import Binary, Model, NoContent, Operation, RawJSON, Text

__all__ = [
    "args_for",
    "json_values",
    "result_for",
    "supports_result",
    "text",
]

UTC = dt.UTC

#: Text without lone surrogates; mostly short, sometimes wide Unicode, sometimes URL-hostile.
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=24)
_hostile = st.sampled_from(["a b", "&", "=", "?", "#", "%", "+", "/", "%2F", "é", "☃", "\t", ";"])
strings = st.one_of(text, st.lists(st.one_of(text, _hostile), max_size=4).map("".join))
non_empty_strings = strings.filter(lambda s: bool(s.strip()))

_finite = st.floats(allow_nan=False, allow_infinity=False)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), _finite, strings)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(strings, inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(strings, json_values, max_size=4)

datetimes = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
    ),
)

absolute_paths = st.lists(strings.filter(lambda s: "\x00" not in s), max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)


# ---------------------------------------------------------------------------------------------
# Types -> strategies


def _union_members(tp: Any) -> tuple[list[Any], bool] | None:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        return [a for a in args if a is not type(None)], type(None) in args
    return None


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    """Any value of type ``tp`` that survives a JSON round trip."""
    if tp is str:
        return strings
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**53), 2**53)
    if tp is float:
        return _finite
    if tp is bytes:
        return st.binary(max_size=64)
    if tp is dt.datetime:
        return datetimes
    if tp is Any or tp is object:
        return json_values
    union = _union_members(tp)
    if union is not None:
        members, nullable = union
        parts = [for_type(m) for m in members]
        if nullable:
            parts.insert(0, st.none())
        return st.one_of(*parts)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (list, tuple):
        return st.lists(for_type(args[0]) if args else json_values, max_size=2)
    if origin is dict or str(origin) == "collections.abc.Mapping":
        return st.dictionaries(
            strings, for_type(args[1]) if len(args) == 2 else json_values, max_size=3
        )
    if attrs.has(tp):
        return model_instances(tp)
    raise TypeError(f"no strategy for type {tp!r}")


# ---------------------------------------------------------------------------------------------
# Validators -> strategies

_KNOWN: dict[Any, st.SearchStrategy[Any]] = {
    _checks.non_empty: non_empty_strings,
    _checks.absolute_path: absolute_paths,
    _checks.positive: st.integers(1, 2**31),
    _checks.non_negative: st.integers(0, 2**31),
}


def _plausible(tp: Any) -> list[Any]:
    """A pool of ordinary values of ``tp`` to probe an unknown validator with."""
    union = _union_members(tp)
    if union is not None:
        members, nullable = union
        pool = [None] if nullable else []
        for member in members:
            pool += _plausible(member)
        return pool
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return [
            "/workspace/a b&c=d?e#f.txt",
            "/tmp",
            "python",
            "bash",
            "ls -la",
            "0644",
            "https://example.invalid/hook",
            "x",
            "hello world",
            "sbx-1",
            "é",
            "1",
        ]
    if tp is bool:
        return [True, False]
    if tp is int:
        return [1, 2, 30, 120, 3600, 0, 100, 800, 600]
    if tp is float:
        return [0.5, 1.0, 10.0, 0.0]
    if tp is bytes:
        return [b"", b"data", b"\x00\xff"]
    if tp is dt.datetime:
        return [dt.datetime(2026, 11, 27, 3, 38, 57, tzinfo=UTC)]
    if origin is typing.Literal:
        return list(args)
    if origin in (list, tuple):
        inner = _plausible(args[0]) if args else ["a"]
        return [[], inner[:1], inner[:2]]
    if origin is dict or str(origin) == "collections.abc.Mapping":
        return [{}, {"FOO": "bar"}, {"A": "1", "B_2": "two"}]
    return []


def _accepts(validator: Callable[..., Any], attribute: Any, value: Any, instance: Any) -> bool:
    try:
        validator(instance, attribute, value)
    except (LocalProtocolError, ValueError, TypeError, AttributeError):
        return False
    return True


def _validator_strategy(
    validator: Any, tp: Any, attribute: Any, instance: Any
) -> st.SearchStrategy[Any] | None:
    """Values of ``tp`` that ``validator`` accepts; ``None`` if nothing plausible passes."""
    known = _KNOWN.get(validator)
    if known is not None:
        union = _union_members(tp)
        if validator in (_checks.absolute_path, _checks.positive, _checks.non_negative) and (
            union is not None and union[1]
        ):
            return st.one_of(st.none(), known)
        return known
    inner = getattr(validator, "validator", None)
    if type(validator).__name__ == "_OptionalValidator" and inner is not None:
        union = _union_members(tp)
        base = union[0][0] if union is not None and len(union[0]) == 1 else tp
        sub = _validator_strategy(inner, base, attribute, instance)
        return st.one_of(st.none(), sub) if sub is not None else st.none()
    options = getattr(validator, "options", None)
    if type(validator).__name__ == "_InValidator" and options is not None:
        return st.sampled_from(sorted(options, key=repr))
    pattern = getattr(validator, "pattern", None)
    if type(validator).__name__ == "_MatchesReValidator" and pattern is not None:
        return st.from_regex(pattern, fullmatch=True)
    if type(validator).__name__ == "_AndValidator":
        parts = list(getattr(validator, "_validators", ()))
        chosen = [_validator_strategy(v, tp, attribute, instance) for v in parts]
        known_parts = [s for s, v in zip(chosen, parts, strict=True) if v in _KNOWN]
        base = known_parts[0] if known_parts else (chosen[0] if chosen else None)
        if base is None:
            return None
        return base.filter(lambda value: _accepts(validator, attribute, value, instance))
    # An unknown validator: probe it.
    pool = _plausible(tp)
    accepted = [v for v in pool if _accepts(validator, attribute, v, instance)]
    if not accepted:
        return None
    if len(accepted) == len(pool):
        return st.one_of(st.sampled_from(accepted), for_type(tp))
    seeds = st.sampled_from(accepted)
    if all(isinstance(v, str) for v in accepted):
        grown = st.tuples(seeds, strings).map(lambda p: p[0] + p[1])
        return st.one_of(seeds, grown.filter(lambda v: _accepts(validator, attribute, v, instance)))
    return seeds


_NO_DEFAULT = object()


def _default(field: attrs.Attribute[Any]) -> Any:
    """The field's default value (a factory called once), or ``_NO_DEFAULT``."""
    default: Any = field.default
    if default is attrs.NOTHING:
        return _NO_DEFAULT
    factory = getattr(default, "factory", None)
    if factory is not None and not getattr(default, "takes_self", False):
        return factory()
    return default


def _field_strategy(
    cls: type, field: attrs.Attribute[Any], tp: Any, instance: Any
) -> st.SearchStrategy[Any]:
    default = _default(field)
    has_default = default is not _NO_DEFAULT
    if field.validator is None:
        base = for_type(tp)
    else:
        found = _validator_strategy(field.validator, tp, field, instance)
        if found is None:
            if has_default:
                return st.just(default)
            base = for_type(tp)  # the final constructor check rejects what does not pass
        else:
            base = found
    if has_default:
        return st.one_of(st.just(default), base)
    return base


def _defaults_namespace(cls: type) -> Any:
    """A stand-in instance holding each field's default (for validators that look at others)."""
    values = {f.name: _default(f) for f in attrs.fields(cls)}
    return types.SimpleNamespace(**{k: v for k, v in values.items() if v is not _NO_DEFAULT})


def _build(cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except (LocalProtocolError, ValueError):
        return _REJECTED


_REJECTED = object()


_instances: dict[tuple[type, bool], st.SearchStrategy[Any]] = {}


def instances_of(cls: type, *, model: bool = False) -> st.SearchStrategy[Any]:
    """Instances of the attrs class ``cls`` whose every field passes its validators."""
    key = (cls, model)
    cached = _instances.get(key)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    instance = _defaults_namespace(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(cls):
        if not field.init:
            continue
        if model and field.name == "extra":
            fields[field.alias] = _extra_for(cls)
            continue
        fields[field.alias] = _field_strategy(cls, field, hints[field.name], instance)
    strategy = (
        st.fixed_dictionaries(fields)
        .map(lambda kw: _build(cls, kw))
        .filter(lambda value: value is not _REJECTED)
    )
    _instances[key] = strategy
    return strategy


def wire_keys(cls: type) -> frozenset[str]:
    """Every JSON key a field of the model ``cls`` reads (names and aliases)."""
    keys: set[str] = set()
    for field in attrs.fields(cls):
        keys.add(field.metadata.get("hopx_wire") or field.name)
        keys.update(field.metadata.get("hopx_aliases", ()))
    keys.discard("extra")
    assert not unknown_keys(cls, dict.fromkeys(keys)), cls  # same view as the codec's
    return frozenset(keys)


def _extra_for(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown keys of ``cls`` (no field or alias reads them) with JSON values."""
    known = wire_keys(cls)
    return st.dictionaries(strings.filter(lambda k: k not in known), json_values, max_size=2)


def model_instances(cls: type) -> st.SearchStrategy[Any]:
    """Instances of a result model, ``extra`` holding only keys no field reads."""
    return instances_of(cls, model=True)


# ---------------------------------------------------------------------------------------------
# Per operation


def args_for(op: Operation[Any, Any]) -> st.SearchStrategy[Any]:
    """Arguments of ``op`` that its validators accept."""
    return instances_of(op.args)


def supports_result(op: Operation[Any, Any]) -> bool:
    """Whether results of ``op`` can be drawn (its codec is one of the known kinds)."""
    return isinstance(op.result, Model | RawJSON | Text | Binary | NoContent)


def result_for(op: Operation[Any, Any]) -> st.SearchStrategy[Any]:
    """A result ``op`` can render."""
    codec = op.result
    if isinstance(codec, Model):
        return model_instances(codec.cls)
    if isinstance(codec, RawJSON):
        return json_objects
    if isinstance(codec, Text):
        return strings
    if isinstance(codec, Binary):
        return st.binary(max_size=256)
    if isinstance(codec, NoContent):
        return st.none()
    raise TypeError(f"{op.name}: no strategy for result codec {type(codec).__name__}")
