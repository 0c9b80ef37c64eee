"""``/files/watch``: filesystem change events under a path.

Client (only message): ``{"action": "watch", "path": "/workspace"}``. Server:
``{"type": "change", "path", "event", "timestamp"}`` with ``event`` one of ``created``,
``modified``, ``deleted``, ``renamed`` (another name arrives as an :class:`UnknownMessage`).
No last message: the stream runs until either side closes.
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from .._checks import absolute_path
from .._errors import LocalProtocolError
from ._base import UNKNOWN, Direction, StreamMessage, StreamSpec, UnknownMessage, wire_field
from ._execute import RequestStreamClient, RequestStreamServer

__all__ = [
    "CHANGE_EVENTS",
    "Change",
    "WatchClient",
    "WatchEvent",
    "WatchRequest",
    "WatchServer",
    "WatchState",
]

CHANGE_EVENTS = frozenset({"created", "modified", "deleted", "renamed"})


@attrs.frozen(eq=False, repr=False)
class WatchRequest(StreamMessage):
    """The client's request: watch ``path`` (an absolute sandbox path)."""

    TAG_KEY: ClassVar[str] = "action"
    TAG: ClassVar[str] = "watch"
    DIRECTION: ClassVar[Direction] = Direction.UP

    path: str = wire_field("str", default="/workspace")

    def __attrs_post_init__(self) -> None:
        absolute_path(self, attrs.fields(WatchRequest).path, self.path)


@attrs.frozen(eq=False, repr=False)
class Change(StreamMessage):
    """A file or directory under the watched path changed."""

    TAG: ClassVar[str] = "change"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"event": CHANGE_EVENTS}

    path: str = wire_field("str")
    event: str = wire_field("str")
    timestamp: str | None = wire_field("str", default=None, optional=True)

    def __attrs_post_init__(self) -> None:
        if self.event not in CHANGE_EVENTS:
            raise LocalProtocolError(
                f"event must be one of {sorted(CHANGE_EVENTS)}, got {self.event!r}"
            )


WatchEvent: TypeAlias = Change | UnknownMessage


class WatchState(enum.Enum):
    """States of a watch stream."""

    IDLE = "IDLE"  #: nothing sent yet
    WATCHING = "WATCHING"  #: request sent; changes flow until either side closes


WATCH = StreamSpec(
    path="/files/watch",
    states=WatchState,
    initial=WatchState.IDLE,
    up={WatchRequest.TAG: WatchRequest},
    down={Change.TAG: Change},
    transitions={
        (WatchState.IDLE, Direction.UP, "watch"): WatchState.WATCHING,
        (WatchState.WATCHING, Direction.DOWN, "change"): WatchState.WATCHING,
        (WatchState.WATCHING, Direction.DOWN, UNKNOWN): WatchState.WATCHING,
    },
    final=frozenset({WatchState.IDLE, WatchState.WATCHING}),
    up_tag_key="action",
)


class WatchClient(RequestStreamClient[WatchRequest, WatchEvent]):
    """Client role of ``/files/watch``."""

    SPEC: ClassVar[StreamSpec] = WATCH
    REQUEST: ClassVar[type[StreamMessage]] = WatchRequest


class WatchServer(RequestStreamServer[WatchRequest, WatchEvent]):
    """Server role of ``/files/watch``."""

    SPEC: ClassVar[StreamSpec] = WATCH
