"""``/execute/stream``: run code, receive its output as it happens.

Client (only message): ``{"type": "execute", "code", "language", "timeout", "workdir"[, "env"]}``.
Server: ``stdout``/``stderr`` chunks, one ``result``, possibly ``error``, then ``complete``.
The output messages defined here are shared by ``/commands/stream``, ``/stream`` and
``/stream/ipython``.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Generic, TypeAlias, TypeVar, cast

import attrs

from .._checks import absolute_path, non_empty, positive
from .._errors import LocalProtocolError
from ._base import (
    UNKNOWN,
    Direction,
    StreamMachine,
    StreamMessage,
    StreamSpec,
    UnknownMessage,
    env_or_none,
    transitions,
    wire_field,
)

__all__ = [
    "Complete",
    "ErrorMessage",
    "ExecuteEvent",
    "ExecuteState",
    "ExecuteStreamClient",
    "ExecuteStreamRequest",
    "ExecuteStreamServer",
    "Result",
    "Stderr",
    "Stdout",
]


# ---------------------------------------------------------------------------------------------
# Messages


@attrs.frozen(eq=False, repr=False)
class ExecuteStreamRequest(StreamMessage):
    """The client's request on ``/execute/stream``, ``/stream`` and ``/stream/ipython``."""

    TAG: ClassVar[str] = "execute"
    DIRECTION: ClassVar[Direction] = Direction.UP

    code: str = wire_field("str")
    language: str = wire_field("str", default="python")
    timeout: int = wire_field("int", default=60)
    workdir: str = wire_field("str", default="/workspace")
    env: dict[str, str] | None = attrs.field(default=None, converter=env_or_none)

    def __attrs_post_init__(self) -> None:
        non_empty(self, attrs.fields(ExecuteStreamRequest).language, self.language)
        positive(self, attrs.fields(ExecuteStreamRequest).timeout, self.timeout)
        absolute_path(self, attrs.fields(ExecuteStreamRequest).workdir, self.workdir)


@attrs.frozen(eq=False, repr=False)
class Stdout(StreamMessage):
    """A chunk of standard output; ``data`` carries its own newlines."""

    TAG: ClassVar[str] = "stdout"

    data: str = wire_field("str", default="")
    timestamp: str | None = wire_field("str", default=None, optional=True)


@attrs.frozen(eq=False, repr=False)
class Stderr(StreamMessage):
    """A chunk of standard error."""

    TAG: ClassVar[str] = "stderr"

    data: str = wire_field("str", default="")
    timestamp: str | None = wire_field("str", default=None, optional=True)


@attrs.frozen(eq=False, repr=False)
class Result(StreamMessage):
    """The process ended: its exit code and run time in seconds."""

    TAG: ClassVar[str] = "result"

    exit_code: int = wire_field("int")
    execution_time: float | None = wire_field("number", default=None, optional=True)
    timestamp: str | None = wire_field("str", default=None, optional=True)


@attrs.frozen(eq=False, repr=False)
class ErrorMessage(StreamMessage):
    """The agent could not run the request (``code`` is an agent error code)."""

    TAG: ClassVar[str] = "error"

    error: str = wire_field("str", default="")
    code: str | None = wire_field("str", default=None, optional=True)
    timestamp: str | None = wire_field("str", default=None, optional=True)


@attrs.frozen(eq=False, repr=False)
class Complete(StreamMessage):
    """The last message of the stream."""

    TAG: ClassVar[str] = "complete"

    success: bool | None = wire_field("bool", default=None, optional=True)
    exit_code: int | None = wire_field("int", default=None, optional=True)


ExecuteEvent: TypeAlias = Stdout | Stderr | Result | ErrorMessage | Complete | UnknownMessage


# ---------------------------------------------------------------------------------------------
# States and table (shared by every "run something, stream its output" endpoint)


class ExecuteState(enum.Enum):
    """States of the output streams (``/execute/stream`` and its relatives)."""

    IDLE = "IDLE"  #: nothing sent yet
    RUNNING = "RUNNING"  #: request sent; output flows
    RESULT = "RESULT"  #: the exit code came; late output may still come, then ``complete``
    FAILED = "FAILED"  #: the agent reported an error; ``complete`` may or may not follow
    DONE = "DONE"  #: ``complete`` came; nothing may follow


OUTPUT_MESSAGES: dict[str, type[StreamMessage]] = {
    cls.TAG: cls for cls in (Stdout, Stderr, Result, ErrorMessage, Complete)
}


def output_stream_spec(
    path: str,
    request: type[StreamMessage],
    extra_output: tuple[type[StreamMessage], ...] = (),
) -> StreamSpec:
    """The rules of an output stream: one request up, output down, ``complete`` last."""
    s = ExecuteState
    chunks = ("stdout", "stderr", UNKNOWN, *(cls.TAG for cls in extra_output))
    table = {
        (s.IDLE, Direction.UP, request.TAG): s.RUNNING,
        **transitions(s.RUNNING, Direction.DOWN, chunks, s.RUNNING),
        (s.RUNNING, Direction.DOWN, "result"): s.RESULT,
        (s.RUNNING, Direction.DOWN, "error"): s.FAILED,
        (s.RUNNING, Direction.DOWN, "complete"): s.DONE,
        **transitions(s.RESULT, Direction.DOWN, chunks, s.RESULT),
        (s.RESULT, Direction.DOWN, "error"): s.FAILED,
        (s.RESULT, Direction.DOWN, "complete"): s.DONE,
        **transitions(s.FAILED, Direction.DOWN, (*chunks, "result", "error"), s.FAILED),
        (s.FAILED, Direction.DOWN, "complete"): s.DONE,
    }
    return StreamSpec(
        path=path,
        states=ExecuteState,
        initial=s.IDLE,
        up={request.TAG: request},
        down={**OUTPUT_MESSAGES, **{cls.TAG: cls for cls in extra_output}},
        transitions=table,
        final=frozenset({s.DONE, s.FAILED}),
        done=frozenset({s.DONE}),
        final_message="complete",
    )


# ---------------------------------------------------------------------------------------------
# Machines

R = TypeVar("R", bound=StreamMessage)
E = TypeVar("E")


class RequestStreamClient(StreamMachine, Generic[R, E]):
    """Client role of a stream opened by one request message."""

    ROLE_IS_CLIENT: ClassVar[bool] = True
    REQUEST: ClassVar[type[StreamMessage]]

    def start(self, request: R) -> str:
        """The JSON text of the request, to send as the first text message."""
        if not isinstance(request, self.REQUEST):
            raise LocalProtocolError(
                f"{self.SPEC.path} starts with a {self.REQUEST.__name__}, "
                f"not {type(request).__name__}"
            )
        return self._encode(request, Direction.UP)

    def receive(self, frame: str | bytes) -> list[E]:
        """Events of one received frame (none for an empty or whitespace-only frame)."""
        message = self._decode(frame, Direction.DOWN)
        return [] if message is None else [cast(E, message)]


class RequestStreamServer(StreamMachine, Generic[R, E]):
    """Server role of a stream opened by one request message."""

    ROLE_IS_CLIENT: ClassVar[bool] = False

    def receive(self, frame: str | bytes) -> R:
        """The client's request, read from its first frame (anything else is an error)."""
        message = self._decode(frame, Direction.UP)
        if message is None:
            self._step(Direction.UP, "(empty frame)", local=False)
        return cast(R, message)

    def send(self, event: E) -> str:
        """The JSON text of one event to send."""
        if not isinstance(event, StreamMessage):
            raise LocalProtocolError(f"cannot send {type(event).__name__} on {self.SPEC.path}")
        return self._encode(event, Direction.DOWN)


EXECUTE_STREAM = output_stream_spec("/execute/stream", ExecuteStreamRequest)


class ExecuteStreamClient(RequestStreamClient[ExecuteStreamRequest, ExecuteEvent]):
    """Client role of ``/execute/stream``."""

    SPEC: ClassVar[StreamSpec] = EXECUTE_STREAM
    REQUEST: ClassVar[type[StreamMessage]] = ExecuteStreamRequest


class ExecuteStreamServer(RequestStreamServer[ExecuteStreamRequest, ExecuteEvent]):
    """Server role of ``/execute/stream``."""

    SPEC: ClassVar[StreamSpec] = EXECUTE_STREAM
