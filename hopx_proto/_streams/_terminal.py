"""``/terminal``: an interactive shell on a pseudo-terminal.

No greeting: either side may speak first. Client: ``{"type": "input", "data"}`` (keystrokes)
and ``{"type": "resize", "cols", "rows"}`` (each from 1 to 65535, the range of a PTY window
size: anything else is a protocol error in either role). Server: ``{"type": "output", "data"}``
(raw PTY output, ANSI escapes included) and ``{"type": "exit", "code"}`` when the shell ends.
Output may still arrive after ``exit`` until the socket closes, and input sent while ``exit``
is in flight is not an error.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, TypeAlias, cast

import attrs

from .._errors import LocalProtocolError
from ._base import (
    UNKNOWN,
    Direction,
    StreamMachine,
    StreamMessage,
    StreamSpec,
    UnknownMessage,
    transitions,
    wire_field,
)

__all__ = [
    "Exit",
    "Input",
    "Output",
    "Resize",
    "TerminalClient",
    "TerminalClientEvent",
    "TerminalServer",
    "TerminalServerEvent",
    "TerminalState",
]


@attrs.frozen(eq=False, repr=False)
class Input(StreamMessage):
    """Keystrokes for the shell (include ``\\n`` to run a line)."""

    TAG: ClassVar[str] = "input"
    DIRECTION: ClassVar[Direction] = Direction.UP

    data: str = wire_field("str")


#: A PTY window size is an unsigned 16-bit count of character cells.
MAX_WINDOW_SIZE = 0xFFFF


def _window_size(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_WINDOW_SIZE:
        raise LocalProtocolError(
            f"{attribute.name} must be an integer from 1 to {MAX_WINDOW_SIZE}, got {value!r}"
        )


@attrs.frozen(eq=False, repr=False)
class Resize(StreamMessage):
    """The terminal's new size in character cells, each from 1 to 65535."""

    TAG: ClassVar[str] = "resize"
    DIRECTION: ClassVar[Direction] = Direction.UP

    cols: int = wire_field("int")
    rows: int = wire_field("int")

    def __attrs_post_init__(self) -> None:
        fields = attrs.fields(Resize)
        _window_size(self, fields.cols, self.cols)
        _window_size(self, fields.rows, self.rows)


@attrs.frozen(eq=False, repr=False)
class Output(StreamMessage):
    """Raw output of the terminal."""

    TAG: ClassVar[str] = "output"

    data: str = wire_field("str", default="")


@attrs.frozen(eq=False, repr=False)
class Exit(StreamMessage):
    """The shell ended with this exit code."""

    TAG: ClassVar[str] = "exit"

    code: int = wire_field("int")


TerminalServerEvent: TypeAlias = Output | Exit | UnknownMessage
TerminalClientEvent: TypeAlias = Input | Resize | UnknownMessage


class TerminalState(enum.Enum):
    """States of a terminal session."""

    OPEN = "OPEN"  #: the shell runs
    EXITED = "EXITED"  #: ``exit`` came; late output and input are still fine


_S = TerminalState
_UP = ("input", "resize", UNKNOWN)
TERMINAL = StreamSpec(
    path="/terminal",
    states=TerminalState,
    initial=_S.OPEN,
    up={cls.TAG: cls for cls in (Input, Resize)},
    down={cls.TAG: cls for cls in (Output, Exit)},
    transitions={
        **transitions(_S.OPEN, Direction.UP, _UP, _S.OPEN),
        **transitions(_S.OPEN, Direction.DOWN, ("output", UNKNOWN), _S.OPEN),
        (_S.OPEN, Direction.DOWN, "exit"): _S.EXITED,
        **transitions(_S.EXITED, Direction.UP, _UP, _S.EXITED),
        **transitions(_S.EXITED, Direction.DOWN, ("output", UNKNOWN), _S.EXITED),
    },
    final=frozenset({_S.EXITED}),
    done=frozenset({_S.EXITED}),
    final_message="exit",
)


class TerminalClient(StreamMachine):
    """Client role of ``/terminal``."""

    SPEC: ClassVar[StreamSpec] = TERMINAL
    ROLE_IS_CLIENT: ClassVar[bool] = True

    def send(self, message: Input | Resize) -> str:
        """The JSON text of an ``input`` or ``resize`` message."""
        if not isinstance(message, Input | Resize):
            raise LocalProtocolError(f"cannot send {type(message).__name__} on /terminal")
        return self._encode(message, Direction.UP)

    def input(self, data: str) -> str:
        """The JSON text of keystrokes ``data``."""
        return self.send(Input(data))

    def resize(self, cols: int, rows: int) -> str:
        """The JSON text of a resize to ``cols`` x ``rows``."""
        return self.send(Resize(cols, rows))

    def receive(self, frame: str | bytes) -> list[TerminalServerEvent]:
        """Events of one received frame (none for an empty or whitespace-only frame)."""
        message = self._decode(frame, Direction.DOWN)
        return [] if message is None else [cast(TerminalServerEvent, message)]


class TerminalServer(StreamMachine):
    """Server role of ``/terminal``."""

    SPEC: ClassVar[StreamSpec] = TERMINAL
    ROLE_IS_CLIENT: ClassVar[bool] = False

    def receive(self, frame: str | bytes) -> list[TerminalClientEvent]:
        """Events of one received frame (none for an empty or whitespace-only frame)."""
        message = self._decode(frame, Direction.UP)
        return [] if message is None else [cast(TerminalClientEvent, message)]

    def send(self, message: Output | Exit) -> str:
        """The JSON text of an ``output`` or ``exit`` message."""
        if not isinstance(message, Output | Exit):
            raise LocalProtocolError(f"cannot send {type(message).__name__} on /terminal")
        return self._encode(message, Direction.DOWN)
