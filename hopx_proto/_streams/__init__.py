"""Stream machines: one per WebSocket endpoint of the agent, client and server role.

Message level, no bytes: JSON text in, typed events out (and back). Pair each machine with a
:class:`~hopx_proto._ws.WebSocket` for the bytes. Events are frozen attrs values that also read
as their wire dicts (``event["type"]``, ``event.get("data")``, ``dict(event)``), and print as
those dicts.

=====================  =========================  =========================
endpoint               client                     server
=====================  =========================  =========================
``/execute/stream``    ExecuteStreamClient        ExecuteStreamServer
``/commands/stream``   CommandStreamClient        CommandStreamServer
``/stream``            RichStreamClient           RichStreamServer
``/stream/ipython``    IPythonStreamClient        IPythonStreamServer
``/terminal``          TerminalClient             TerminalServer
``/files/watch``       WatchClient                WatchServer
=====================  =========================  =========================
"""

from __future__ import annotations

from ._base import (
    POLICY_VIOLATION,
    UNKNOWN,
    Direction,
    StreamMachine,
    StreamMessage,
    StreamSpec,
    UnknownMessage,
)
from ._commands import (
    COMMANDS_STREAM,
    CommandEvent,
    CommandStreamClient,
    CommandStreamRequest,
    CommandStreamServer,
)
from ._execute import (
    EXECUTE_STREAM,
    Complete,
    ErrorMessage,
    ExecuteEvent,
    ExecuteState,
    ExecuteStreamClient,
    ExecuteStreamRequest,
    ExecuteStreamServer,
    Result,
    Stderr,
    Stdout,
)
from ._ipython import IPYTHON_STREAM, IPythonStreamClient, IPythonStreamServer
from ._rich import RICH_STREAM, RichEvent, RichOutput, RichStreamClient, RichStreamServer
from ._terminal import (
    TERMINAL,
    Exit,
    Input,
    Output,
    Resize,
    TerminalClient,
    TerminalClientEvent,
    TerminalServer,
    TerminalServerEvent,
    TerminalState,
)
from ._watch import (
    CHANGE_EVENTS,
    WATCH,
    Change,
    WatchClient,
    WatchEvent,
    WatchRequest,
    WatchServer,
    WatchState,
)

#: Every stream's rules, by endpoint path.
STREAMS: dict[str, StreamSpec] = {
    spec.path: spec
    for spec in (EXECUTE_STREAM, COMMANDS_STREAM, RICH_STREAM, IPYTHON_STREAM, TERMINAL, WATCH)
}

__all__ = [
    "CHANGE_EVENTS",
    "COMMANDS_STREAM",
    "EXECUTE_STREAM",
    "IPYTHON_STREAM",
    "POLICY_VIOLATION",
    "RICH_STREAM",
    "STREAMS",
    "TERMINAL",
    "UNKNOWN",
    "WATCH",
    "Change",
    "CommandEvent",
    "CommandStreamClient",
    "CommandStreamRequest",
    "CommandStreamServer",
    "Complete",
    "Direction",
    "ErrorMessage",
    "ExecuteEvent",
    "ExecuteState",
    "ExecuteStreamClient",
    "ExecuteStreamRequest",
    "ExecuteStreamServer",
    "Exit",
    "IPythonStreamClient",
    "IPythonStreamServer",
    "Input",
    "Output",
    "Resize",
    "Result",
    "RichEvent",
    "RichOutput",
    "RichStreamClient",
    "RichStreamServer",
    "Stderr",
    "Stdout",
    "StreamMachine",
    "StreamMessage",
    "StreamSpec",
    "TerminalClient",
    "TerminalClientEvent",
    "TerminalServer",
    "TerminalServerEvent",
    "TerminalState",
    "UnknownMessage",
    "WatchClient",
    "WatchEvent",
    "WatchRequest",
    "WatchServer",
    "WatchState",
]
