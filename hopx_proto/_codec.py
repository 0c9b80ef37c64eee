"""JSON <-> attrs values, driven by the field types.

A model is an ``@attrs.frozen`` class. Each field reads the JSON key of its own name, or the one
given with :func:`wire` (plus accepted aliases, e.g. ``is_dir`` for ``is_directory``). Decoding
is tolerant where the service is loose (unknown keys are kept in an ``extra`` field when the
class has one, ``null`` lists and maps read as empty) and strict where a wrong value would
mislead (an ``int`` field holding ``"0"`` is an error, not zero). Errors are
:class:`RemoteProtocolError` naming the JSON path.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``datetime`` (RFC 3339 strings),
``Any``, ``X | None``, ``list[X]``, ``dict[str, X]`` and nested models.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._json import loads as _loads
from ._value import Value

__all__ = ["dumps", "from_wire", "loads", "parse_datetime", "to_wire", "wire"]

T = TypeVar("T")

_WIRE = "hopx_wire"
_ALIASES = "hopx_aliases"
_KEEP_NONE = "hopx_keep_none"

Decoder = Callable[[Any, str], Any]

_FRACTION = re.compile(r"\.(\d+)")
Encoder = Callable[[Any], Any]


def wire(
    name: str | None = None,
    *,
    aliases: tuple[str, ...] = (),
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    keep_none: bool = False,
    secret: bool = False,
) -> Any:
    """An attrs field read from JSON key ``name`` (default: the attribute name).

    ``aliases`` are other keys accepted when decoding. ``keep_none`` writes ``null`` for a
    ``None`` value instead of leaving the key out. ``secret`` (tokens, passwords) keeps the
    value out of ``repr``, so that logging a value never writes a credential.
    """
    metadata = {_WIRE: name, _ALIASES: aliases, _KEEP_NONE: keep_none}
    shown: Callable[[Any], str] | bool = _redacted if secret else True
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata, repr=shown)
    return attrs.field(default=default, metadata=metadata, repr=shown)


def _redacted(value: Any) -> str:
    """How ``repr`` shows a secret field: whether it is set, never what it holds."""
    return "None" if value is None else "'<redacted>'"


def loads(data: bytes | str, *, what: str = "body") -> Any:
    """Parse JSON; a :class:`RemoteProtocolError` on anything that is not JSON."""
    try:
        return _loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RemoteProtocolError(f"{what} is not valid JSON: {exc}", kind="invalid_json") from None


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the service's own clients send it.

    Values JSON cannot carry (NaN, infinities, arbitrary objects, non-string keys, text that
    is not valid UTF-8) raise :class:`LocalProtocolError`.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise LocalProtocolError(f"value cannot be sent as JSON: {exc}") from None


def parse_datetime(value: str) -> _dt.datetime:
    """An RFC 3339 timestamp (``Z`` or an offset; fractions of any length)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    match = _FRACTION.search(text)
    if match is not None:
        # Keep microseconds; more digits than that carry nothing a datetime can hold.
        text = text[: match.start()] + "." + match.group(1)[:6] + text[match.end() :]
    parsed = _dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed


def format_datetime(value: _dt.datetime) -> str:
    """RFC 3339 text; UTC is written as ``Z``, another offset is kept as it is."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    if value.utcoffset():
        try:
            value = value.astimezone(_dt.UTC)
        except OverflowError:
            pass  # near the ends of time: keep the original offset, the instant is the same
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# ---------------------------------------------------------------------------------------------
# Decoders per type


def _fail(path: str, expected: str, got: Any) -> RemoteProtocolError:
    shown = repr(got)
    if len(shown) > 60:
        shown = shown[:60] + "..."
    return RemoteProtocolError(
        f"{path or 'value'}: expected {expected}, got {shown}", kind="invalid_value"
    )


def _dec_str(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    raise _fail(path, "a string", value)


def _dec_int(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _fail(path, "an integer", value)


def _dec_float(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _fail(path, "a number a float can hold", value) from None
    raise _fail(path, "a number", value)


def _dec_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _fail(path, "true or false", value)


def _dec_any(value: Any, path: str) -> Any:
    return value


def _dec_datetime(value: Any, path: str) -> _dt.datetime:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    raise _fail(path, "an RFC 3339 timestamp", value)


#: Decoders that hand back their value unchanged when it is an instance of the type given
#: here (and fail otherwise): a list or map of such values is checked without spelling the
#: JSON path of each item, which only an error needs.
_CHECKS: dict[Decoder, type | tuple[type, ...]] = {_dec_str: str, _dec_any: object}

_decoders: dict[Any, Decoder] = {}
_encoders: dict[Any, Encoder] = {}


def _decoder_for(tp: Any) -> Decoder:
    cached = _decoders.get(tp)
    if cached is not None:
        return cached
    dec = _build_decoder(tp)
    _decoders[tp] = dec
    return dec


def _build_decoder(tp: Any) -> Decoder:
    if tp is str:
        return _dec_str
    if tp is bool:
        return _dec_bool
    if tp is int:
        return _dec_int
    if tp is float:
        return _dec_float
    if tp is Any or tp is object:
        return _dec_any
    if tp is _dt.datetime:
        return _dec_datetime
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            # A union of JSON kinds (e.g. str | dict): keep the value as it is.
            return _dec_any
        sub = _decoder_for(inner[0])

        def dec_optional(value: Any, path: str) -> Any:
            return None if value is None else sub(value, path)

        return dec_optional
    if origin in (list, typing.List, tuple):  # noqa: UP006
        item = _decoder_for(args[0]) if args else _dec_any

        def dec_list(value: Any, path: str) -> Any:
            if value is None:
                return []
            if not isinstance(value, list):
                raise _fail(path, "a list", value)
            if item in _CHECKS and all(isinstance(v, _CHECKS[item]) for v in value):
                return list(value)  # every item as it is: no path to spell for each
            return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

        return dec_list
    if origin in (dict, typing.Dict, typing.Mapping) or str(origin) == "collections.abc.Mapping":  # noqa: UP006
        val = _decoder_for(args[1]) if len(args) == 2 else _dec_any

        def dec_dict(value: Any, path: str) -> Any:
            if value is None:
                return {}
            if not isinstance(value, dict):
                raise _fail(path, "an object", value)
            if val in _CHECKS and all(isinstance(v, _CHECKS[val]) for v in value.values()):
                return dict(value)  # every value as it is: no path to spell for each
            return {k: val(v, f"{path}.{k}") for k, v in value.items()}

        return dec_dict
    if attrs.has(tp):
        return _model_decoder(tp)
    if origin is typing.Literal:
        allowed = args

        def dec_literal(value: Any, path: str) -> Any:
            if value in allowed:
                return value
            raise _fail(path, " or ".join(repr(a) for a in allowed), value)

        return dec_literal
    raise TypeError(f"unsupported field type {tp!r}")


@attrs.frozen(repr=False, eq=False)
class _FieldPlan(Value):
    attr: str
    keys: tuple[str, ...]
    decode: Decoder
    required: bool
    keep_none: bool


def _plan(cls: type) -> tuple[list[_FieldPlan], bool]:
    hints = typing.get_type_hints(cls)
    plans: list[_FieldPlan] = []
    has_extra = False
    for field in attrs.fields(cls):
        if field.name == "extra":
            has_extra = True
            continue
        key = field.metadata.get(_WIRE) or field.name
        aliases = field.metadata.get(_ALIASES, ())
        plans.append(
            _FieldPlan(
                attr=field.alias or field.name,
                keys=(key, *aliases),
                decode=_decoder_for(hints[field.name]),
                required=field.default is attrs.NOTHING,
                keep_none=bool(field.metadata.get(_KEEP_NONE, False)),
            )
        )
    return plans, has_extra


def _model_decoder(cls: type) -> Decoder:
    plans: list[_FieldPlan] | None = None
    has_extra = False
    known: frozenset[str] = frozenset()

    def dec_model(value: Any, path: str) -> Any:
        nonlocal plans, has_extra, known
        if plans is None:
            plans, has_extra = _plan(cls)
            known = frozenset(k for p in plans for k in p.keys)
        if not isinstance(value, dict):
            raise _fail(path, f"an object ({cls.__name__})", value)
        kwargs: dict[str, Any] = {}
        for plan in plans:
            for key in plan.keys:
                if key in value:
                    kwargs[plan.attr] = plan.decode(value[key], f"{path}.{key}" if path else key)
                    break
            else:
                if plan.required:
                    where = f"{path}." if path else ""
                    raise RemoteProtocolError(
                        f"{where}{plan.keys[0]}: required field is missing", kind="missing_field"
                    )
        if has_extra:
            kwargs["extra"] = {k: v for k, v in value.items() if k not in known}
        return cls(**kwargs)

    return dec_model


def from_wire(cls: type[T], value: Any, *, path: str = "") -> T:
    """Decode JSON (already parsed) into ``cls``."""
    result: T = _decoder_for(cls)(value, path)
    return result


def unknown_keys(cls: type, value: dict[str, Any]) -> list[str]:
    """Keys of ``value`` that no field of ``cls`` reads (for strict server-side parsing)."""
    plans, _ = _plan(cls)
    known = {k for p in plans for k in p.keys}
    return [k for k in value if k not in known]


# ---------------------------------------------------------------------------------------------
# Encoding


def to_wire(value: Any) -> Any:
    """Encode a model (or a plain JSON-able value holding models) as JSON-able data."""
    if attrs.has(type(value)):
        return _encode_model(value)
    if isinstance(value, _dt.datetime):
        return format_datetime(value)
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


_encode_plans: dict[type, list[tuple[str, str, bool]]] = {}


def _encode_model(value: Any) -> dict[str, Any]:
    cls = type(value)
    plan = _encode_plans.get(cls)
    if plan is None:
        plan = [
            (f.name, f.metadata.get(_WIRE) or f.name, bool(f.metadata.get(_KEEP_NONE, False)))
            for f in attrs.fields(cls)
        ]
        _encode_plans[cls] = plan
    out: dict[str, Any] = {}
    for attr, key, keep_none in plan:
        item = getattr(value, attr)
        if attr == "extra":
            for k, v in item.items():
                out.setdefault(k, v)
            continue
        if item is None and not keep_none:
            continue
        out[key] = to_wire(item)
    return out
