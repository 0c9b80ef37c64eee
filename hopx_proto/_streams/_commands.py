"""``/commands/stream``: run a command, receive its output as it happens.

The service documents no format for this endpoint; ours mirrors ``/execute/stream``. Client
(only message): ``{"type": "run", "command", "args", "timeout", "workdir"[, "env"]}``; server:
``stdout``/``stderr`` chunks, one ``result``, possibly ``error``, then ``complete``.
"""

from __future__ import annotations

from typing import ClassVar, TypeAlias

import attrs

from .._checks import absolute_path, non_empty, positive
from ._base import Direction, StreamMessage, StreamSpec, UnknownMessage, env_or_none, wire_field
from ._execute import (
    Complete,
    ErrorMessage,
    RequestStreamClient,
    RequestStreamServer,
    Result,
    Stderr,
    Stdout,
    output_stream_spec,
)

__all__ = [
    "CommandEvent",
    "CommandStreamClient",
    "CommandStreamRequest",
    "CommandStreamServer",
]


@attrs.frozen(eq=False, repr=False)
class CommandStreamRequest(StreamMessage):
    """The client's request on ``/commands/stream``: a program and its arguments.

    ``command="bash", args=("-c", "ls -la")`` runs a shell line, as ``commands.run`` does.
    """

    TAG: ClassVar[str] = "run"
    DIRECTION: ClassVar[Direction] = Direction.UP

    command: str = wire_field("str")
    args: tuple[str, ...] = wire_field("str_list", default=())
    timeout: int = wire_field("int", default=60)
    workdir: str = wire_field("str", default="/workspace")
    env: dict[str, str] | None = attrs.field(default=None, converter=env_or_none)

    def __attrs_post_init__(self) -> None:
        fields = attrs.fields(CommandStreamRequest)
        non_empty(self, fields.command, self.command)
        positive(self, fields.timeout, self.timeout)
        absolute_path(self, fields.workdir, self.workdir)


CommandEvent: TypeAlias = Stdout | Stderr | Result | ErrorMessage | Complete | UnknownMessage

COMMANDS_STREAM = output_stream_spec("/commands/stream", CommandStreamRequest)


class CommandStreamClient(RequestStreamClient[CommandStreamRequest, CommandEvent]):
    """Client role of ``/commands/stream``."""

    SPEC: ClassVar[StreamSpec] = COMMANDS_STREAM
    REQUEST: ClassVar[type[StreamMessage]] = CommandStreamRequest


class CommandStreamServer(RequestStreamServer[CommandStreamRequest, CommandEvent]):
    """Server role of ``/commands/stream``."""

    SPEC: ClassVar[StreamSpec] = COMMANDS_STREAM
