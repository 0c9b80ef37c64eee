"""Shared machinery of the stream machines: messages, decoding, transition tables.

A stream is a conversation of JSON text messages over one WebSocket. Each message kind is a
frozen attrs class that is also a read-only :class:`~collections.abc.Mapping` holding exactly
its wire keys, so ``message["type"]``, ``message.get("data")`` and ``dict(message)`` work as
they do on the plain dicts other clients hand out, and ``print(message)`` shows that dict.

Decoding is tolerant where the service is loose and strict where a wrong value would mislead:

* binary frames are read as UTF-8 text; empty and whitespace-only frames are skipped;
* a frame that is not JSON, not an object, or has an unknown ``type`` becomes an
  :class:`UnknownMessage` (surfaced, never dropped);
* a missing optional key, or ``null``, takes the default; unknown keys are kept in ``extra``;
* a known key holding a value of the wrong type (an ``exit_code`` of ``"0"``) is a
  :class:`RemoteProtocolError`.

Every machine follows a table of legal transitions ``(state, direction, message) -> state``.
A message the table does not allow is a :class:`LocalProtocolError` when we try to send it
(nothing is produced) and a :class:`RemoteProtocolError` when the peer sent it (the machine
is then unusable). ``docs/gen_state_tables.py`` prints these tables for the documentation.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from .._errors import LocalProtocolError, RemoteProtocolError, StreamEndedError
from .._json import loads as _loads
from .._value import Value

__all__ = [
    "POLICY_VIOLATION",
    "UNKNOWN",
    "Direction",
    "StreamMachine",
    "StreamMessage",
    "StreamSpec",
    "UnknownMessage",
    "decode_frame",
    "encode_message",
]

#: The close code to send back when the peer breaks a stream's message rules.
POLICY_VIOLATION = 1008
#: The message name used in transition tables for :class:`UnknownMessage`.
UNKNOWN = "(unknown)"

_INF = float("inf")


class Direction(enum.Enum):
    """Who sends a message."""

    UP = "client -> server"
    DOWN = "server -> client"


# ---------------------------------------------------------------------------------------------
# Field kinds: converters that accept a wire value or raise LocalProtocolError


Converter = Callable[[Any], Any]


def _describe(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:60] + "..."


def _kind_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise LocalProtocolError(f"expected a string, got {_describe(value)}")


def _kind_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise LocalProtocolError(f"expected an integer, got {_describe(value)}")


def _kind_number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < _INF:
        return float(value)
    raise LocalProtocolError(f"expected a number, got {_describe(value)}")


def _kind_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise LocalProtocolError(f"expected true or false, got {_describe(value)}")


def _kind_str_map(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise LocalProtocolError(f"expected an object of strings, got {_describe(value)}")


def _kind_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise LocalProtocolError(f"expected a list of strings, got {_describe(value)}")


def _kind_any(value: Any) -> Any:
    return value


KINDS: dict[str, Converter] = {
    "str": _kind_str,
    "int": _kind_int,
    "number": _kind_number,
    "bool": _kind_bool,
    "str_map": _kind_str_map,
    "str_list": _kind_str_list,
    "any": _kind_any,
}

_KIND = "hopx_stream_kind"


def _or_none(convert: Converter) -> Converter:
    def convert_optional(value: Any) -> Any:
        return None if value is None else convert(value)

    return convert_optional


# attrs reads the signature of each plain function given as a converter, once per field; the
# converters are wrapped once here, per kind, and every field of that kind shares them.
_CONVERTERS = {kind: attrs.Converter(convert) for kind, convert in KINDS.items()}
_OPTIONAL_CONVERTERS = {kind: attrs.Converter(_or_none(convert)) for kind, convert in KINDS.items()}


def wire_field(kind: str, *, default: Any = attrs.NOTHING, optional: bool = False) -> Any:
    """A message field of a wire ``kind`` (see :data:`KINDS`); ``optional`` allows ``None``.

    Args:
        kind: the wire kind, a key of :data:`KINDS`; its converter checks each value.
        default: the field's default (none: the field is required).
        optional: whether ``None`` is accepted (and left out of the wire form).

    Returns:
        The attrs field definition.
    """
    convert = (_OPTIONAL_CONVERTERS if optional else _CONVERTERS)[kind]
    return attrs.field(default=default, converter=convert, metadata={_KIND: kind})


def env_or_none(value: Any) -> dict[str, str] | None:
    """Converter of request ``env`` fields: left out of the wire form when empty."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise LocalProtocolError(f"env must map strings to strings, got {_describe(value)}")
    return dict(value) or None


# ---------------------------------------------------------------------------------------------
# Messages


def _extra_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    if type(value) is dict:  # the common case, without the abstract-class check
        return dict(value)
    if not isinstance(value, Mapping):
        raise LocalProtocolError(f"extra must be a mapping, got {_describe(value)}")
    return dict(value)


def _wire_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@attrs.frozen(eq=False, repr=False)
class StreamMessage(Mapping[str, Any]):
    """Base of every stream message: an attrs value readable as its wire dict.

    ``TAG_KEY``/``TAG`` are the discriminating key and value (``"type": "stdout"``); fields
    whose value is ``None`` are left out of the wire form; ``extra`` holds unknown keys that
    were received and is written back too. Subclasses are
    ``@attrs.frozen(eq=False, repr=False)`` (the repr is :class:`Value`'s).
    """

    TAG_KEY: ClassVar[str] = "type"
    TAG: ClassVar[str] = ""
    DIRECTION: ClassVar[Direction] = Direction.DOWN
    #: Fields whose value must be one of a set; any other value makes an UnknownMessage.
    CHOICES: ClassVar[Mapping[str, frozenset[str]]] = {}
    _PLAN: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _NAMES: ClassVar[frozenset[str]] = frozenset()

    extra: Mapping[str, Any] = attrs.field(
        factory=dict, kw_only=True, repr=False, converter=_extra_dict, alias="extra"
    )

    __repr__ = Value.__repr__

    @classmethod
    def _plan(cls) -> tuple[tuple[str, Any], ...]:
        if "_PLAN" not in cls.__dict__:
            fields = [f for f in attrs.fields(cls) if f.name != "extra"]
            cls._PLAN = tuple((f.name, f.default) for f in fields)
            cls._NAMES = frozenset(f.name for f in fields)
        return cls._PLAN

    # -- the Mapping view -------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """The JSON object of this message."""
        out: dict[str, Any] = {self.TAG_KEY: self.TAG}
        for name, _default in self._plan():
            value = getattr(self, name)
            if value is not None:
                out[name] = _wire_value(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def __getitem__(self, key: str) -> Any:
        if key == self.TAG_KEY:
            return self.TAG
        self._plan()
        if key in self._NAMES:
            value = getattr(self, key)
            if value is not None:
                return _wire_value(value)
            raise KeyError(key)
        return self.extra[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_wire())

    def __len__(self) -> int:
        return len(self.to_wire())

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            names = [name for name, _ in self._plan()]
            same = all(getattr(self, n) == getattr(other, n) for n in names)
            return same and self.extra == other.extra
        if isinstance(other, StreamMessage):
            return False  # messages of different kinds are never equal
        if isinstance(other, Mapping):
            return self.to_wire() == dict(other)  # a plain dict: compare the wire forms
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, n) for n, _ in self._plan())))

    def __str__(self) -> str:
        return str(self.to_wire())

    # -- decoding ---------------------------------------------------------------------------

    @classmethod
    def from_wire(cls: type[M], obj: dict[str, Any]) -> M:
        """Build from a decoded JSON object; :class:`RemoteProtocolError` on a wrong value."""
        kwargs: dict[str, Any] = {}
        for name, default in cls._plan():
            value = obj.get(name)
            if value is None:
                if default is attrs.NOTHING:
                    raise RemoteProtocolError(
                        f"{cls.TAG!r} message: {name!r} is missing",
                        close_code=POLICY_VIOLATION,
                    )
                continue
            kwargs[name] = value
        if len(obj) > len(kwargs) + 1:
            names = cls._NAMES
            extra = {k: v for k, v in obj.items() if k not in names and k != cls.TAG_KEY}
            if extra:
                kwargs["extra"] = extra
        try:
            return cls(**kwargs)
        except LocalProtocolError as exc:
            raise RemoteProtocolError(
                f"{cls.TAG!r} message: {exc.message}", close_code=POLICY_VIOLATION
            ) from None


M = TypeVar("M", bound=StreamMessage)


@attrs.frozen(eq=False, repr=False)
class UnknownMessage(StreamMessage):
    """A frame we could not read as a known message: surfaced as is, never dropped.

    ``raw`` is the frame's text, ``reason`` says why it is unknown. As a Mapping it is the
    frame's JSON object when it was one (so ``message.get("type")`` still works), else empty.
    """

    TAG: ClassVar[str] = UNKNOWN

    raw: str
    reason: str = ""
    value: Any = attrs.field(default=None, repr=False)

    def _object(self) -> dict[str, Any]:
        return self.value if isinstance(self.value, dict) else {}

    def to_wire(self) -> dict[str, Any]:
        return dict(self._object())

    def __getitem__(self, key: str) -> Any:
        return self._object()[key]

    def __str__(self) -> str:
        return str(self.value) if isinstance(self.value, dict) else self.raw

    def __eq__(self, other: object) -> bool:
        if type(other) is UnknownMessage:
            return (self.raw, self.reason) == (other.raw, other.reason)
        if isinstance(other, StreamMessage):
            return False
        if isinstance(other, Mapping):
            return self.to_wire() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((UnknownMessage, self.raw, self.reason))


def encode_message(message: StreamMessage) -> str:
    """The JSON text of a message (compact, UTF-8 kept as is)."""
    try:
        return json.dumps(
            message.to_wire(), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"{message.TAG!r} message is not JSON-able: {exc}") from None


def decode_frame(
    frame: str | bytes, table: Mapping[str, type[StreamMessage]], tag_key: str = "type"
) -> StreamMessage | None:
    """One received frame as a message of ``table`` (by tag), an UnknownMessage, or ``None``.

    ``None`` means an empty or whitespace-only frame, which carries nothing.
    """
    if type(frame) is str:
        text = frame
    elif isinstance(frame, bytes | bytearray | memoryview):
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            return UnknownMessage(bytes(frame).decode("utf-8", "replace"), "not UTF-8")
    elif isinstance(frame, str):
        text = str(frame)
    else:
        raise LocalProtocolError(f"a frame is str or bytes, got {type(frame).__name__}")
    try:
        obj = _loads(text)
    except (ValueError, RecursionError):
        if not text.strip():
            return None
        return UnknownMessage(text, "not JSON")
    if type(obj) is not dict:
        return UnknownMessage(text, "not a JSON object", obj)
    tag = obj.get(tag_key)
    cls = table.get(tag) if isinstance(tag, str) else None
    if cls is None:
        return UnknownMessage(text, f"unknown {tag_key} {tag!r}", obj)
    if cls.CHOICES:
        for key, allowed in cls.CHOICES.items():
            if obj.get(key) not in allowed:
                return UnknownMessage(text, f"unknown {key} {obj.get(key)!r}", obj)
    return cls.from_wire(obj)


# ---------------------------------------------------------------------------------------------
# Transition tables and the machine


S = TypeVar("S", bound=enum.Enum)


@attrs.frozen(repr=False, eq=False)
class StreamSpec(Value):
    """One stream's rules: its states, its message kinds and its legal transitions.

    ``transitions`` maps ``(state, direction, message name)`` to the next state; the message
    name is the tag (``"stdout"``) or :data:`UNKNOWN`. ``final`` lists the states in which the
    stream may end; ``done`` the states reached by the stream's last message.
    """

    path: str
    states: type[enum.Enum]
    initial: enum.Enum
    up: Mapping[str, type[StreamMessage]]
    down: Mapping[str, type[StreamMessage]]
    transitions: Mapping[tuple[enum.Enum, Direction, str], enum.Enum]
    final: frozenset[enum.Enum]
    done: frozenset[enum.Enum] = frozenset()
    up_tag_key: str = "type"
    final_message: str | None = None
    #: ``transitions`` keyed by plain values, for a fast lookup on every message.
    compiled: Mapping[tuple[Any, bool, str], enum.Enum] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        compiled = {
            (state._value_, direction is Direction.UP, name): after
            for (state, direction, name), after in self.transitions.items()
        }
        object.__setattr__(self, "compiled", compiled)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """The table as ``(state, direction, message, next state)`` rows, in state order."""
        order = {state: i for i, state in enumerate(self.states)}
        items = sorted(
            self.transitions.items(),
            key=lambda kv: (order[kv[0][0]], kv[0][1].name != "UP", kv[0][2]),
        )
        return [(s.name, d.value, name, nxt.name) for (s, d, name), nxt in items]


def transitions(
    state: enum.Enum, direction: Direction, names: tuple[str, ...] | list[str], after: enum.Enum
) -> dict[tuple[enum.Enum, Direction, str], enum.Enum]:
    """Table rows: each of ``names`` sent in ``direction`` moves ``state`` to ``after``."""
    return {(state, direction, name): after for name in names}


class StreamMachine:
    """The shared engine of every stream machine: state, table checks, close handling."""

    SPEC: ClassVar[StreamSpec]
    ROLE_IS_CLIENT: ClassVar[bool]

    def __init__(self) -> None:
        self._state: enum.Enum = self.SPEC.initial
        self._error: Exception | None = None
        self._finished = False

    @property
    def state(self) -> enum.Enum:
        """The conversation state (an Enum member of this stream's states)."""
        return self._state

    @property
    def done(self) -> bool:
        """The stream's last message (``complete``, ``exit``) went through."""
        return self._state in self.SPEC.done

    def _check_usable(self) -> None:
        if self._error is not None:
            raise LocalProtocolError(
                f"{self.SPEC.path} stream is unusable after an earlier error: {self._error}"
            ) from self._error
        if self._finished:
            raise LocalProtocolError(f"{self.SPEC.path} stream is finished")

    def _step(self, direction: Direction, name: str, *, local: bool, detail: str = "") -> None:
        after = self.SPEC.compiled.get((self._state._value_, direction is Direction.UP, name))
        if after is None:
            what = f"{name!r} ({direction.value}) is not allowed in state {self._state.name}"
            if detail:
                what += f" ({detail})"
            if local:
                raise LocalProtocolError(f"{self.SPEC.path}: {what}")
            err = RemoteProtocolError(f"{self.SPEC.path}: {what}", close_code=POLICY_VIOLATION)
            self._error = err
            raise err
        self._state = after

    def _decode(self, frame: str | bytes, direction: Direction) -> StreamMessage | None:
        self._check_usable()
        if direction is Direction.DOWN:
            table, key = self.SPEC.down, "type"
        else:
            table, key = self.SPEC.up, self.SPEC.up_tag_key
        try:
            message = decode_frame(frame, table, key)
        except RemoteProtocolError as exc:
            self._error = exc
            raise
        if message is None:
            return None
        detail = message.reason if isinstance(message, UnknownMessage) else ""
        self._step(direction, message.TAG, local=False, detail=detail)
        return message

    def _encode(self, message: StreamMessage, direction: Direction) -> str:
        self._check_usable()
        table = self.SPEC.down if direction is Direction.DOWN else self.SPEC.up
        if table.get(message.TAG) is not type(message):
            raise LocalProtocolError(
                f"{self.SPEC.path}: {type(message).__name__} is not sent {direction.value}"
            )
        text = encode_message(message)
        self._step(direction, message.TAG, local=True)
        return text

    def finish(self, *, closed_by_us: bool = False) -> None:
        """Call when the WebSocket closed. Raises :class:`StreamEndedError` if the stream
        ended before its last message (unless ``closed_by_us``: we hung up first)."""
        if self._finished:
            return
        self._finished = True
        if self._error is not None or closed_by_us or not self.ROLE_IS_CLIENT:
            return
        if self._state not in self.SPEC.final:
            raise StreamEndedError(
                f"{self.SPEC.path} stream ended in state {self._state.name} "
                f"before its {self.SPEC.final_message or 'last'} message"
            )
