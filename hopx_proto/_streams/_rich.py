"""``/stream``: run code, receive its output and its rich outputs (images, HTML) as they happen.

The service documents no format for this endpoint; ours mirrors ``/execute/stream`` and adds one
message: ``{"type": "display", "mime": "image/png", "data": "<base64>"}`` for each rich output
(``data`` is base64 for binary types, text for text types, a JSON value for JSON types).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeAlias

import attrs

from .._checks import non_empty
from ._base import StreamMessage, StreamSpec, UnknownMessage, wire_field
from ._execute import (
    Complete,
    ErrorMessage,
    ExecuteStreamRequest,
    RequestStreamClient,
    RequestStreamServer,
    Result,
    Stderr,
    Stdout,
    output_stream_spec,
)

__all__ = ["RichEvent", "RichOutput", "RichStreamClient", "RichStreamServer"]


@attrs.frozen(eq=False, repr=False)
class RichOutput(StreamMessage):
    """One rich output of the code (a figure, a table, HTML), as ``{"type": "display"}``."""

    TAG: ClassVar[str] = "display"

    mime: str = wire_field("str")
    data: Any = attrs.field(default="")
    timestamp: str | None = wire_field("str", default=None, optional=True)

    def __attrs_post_init__(self) -> None:
        non_empty(self, attrs.fields(RichOutput).mime, self.mime)


RichEvent: TypeAlias = (
    Stdout | Stderr | RichOutput | Result | ErrorMessage | Complete | UnknownMessage
)

RICH_STREAM = output_stream_spec("/stream", ExecuteStreamRequest, (RichOutput,))


class RichStreamClient(RequestStreamClient[ExecuteStreamRequest, RichEvent]):
    """Client role of ``/stream``."""

    SPEC: ClassVar[StreamSpec] = RICH_STREAM
    REQUEST: ClassVar[type[StreamMessage]] = ExecuteStreamRequest


class RichStreamServer(RequestStreamServer[ExecuteStreamRequest, RichEvent]):
    """Server role of ``/stream``."""

    SPEC: ClassVar[StreamSpec] = RICH_STREAM
