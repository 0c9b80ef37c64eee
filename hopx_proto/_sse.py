"""Template build logs: a ``text/event-stream`` parser and writer, and the JSON log poller.

The service's OpenAPI file says build logs stream as Server-Sent Events; the official clients
poll a JSON form instead (``{"logs", "offset", "status", "complete"}`` with ``?offset=``). Both
are here, pure:

* :class:`SSEParser`: bytes in (any chunking; ``b""`` is EOF), :class:`SSEEvent` out, following
  the WHATWG event-stream rules: CRLF, LF or CR line endings split anywhere, a leading BOM,
  comments, multi-line ``data``, ``id`` and ``retry``; lines and events have size limits.
* :func:`encode_sse_event` / :func:`encode_sse_comment`: the server side.
* :class:`BuildLogPoller`: one poll reply in, new log lines (with a guessed level) and the next
  offset out, and whether the log is done. It takes no clock; the caller waits between polls.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ._codec import from_wire
from ._errors import LocalProtocolError, RemoteProtocolError
from ._http import NEED_DATA, NeedData
from ._models.control import BuildLogs
from ._ops.control import BuildLogsQuery
from ._value import Value

__all__ = [
    "BuildLogPoller",
    "BuildLogUpdate",
    "LogLine",
    "SSEEvent",
    "SSEParser",
    "encode_sse_comment",
    "encode_sse_event",
    "guess_log_level",
]

DEFAULT_MAX_LINE_SIZE = 64 * 1024
DEFAULT_MAX_EVENT_SIZE = 1 << 20

_LINE_END = re.compile(r"\r\n|\r|\n")


@attrs.frozen(repr=False, eq=False, slots=False)
class SSEEvent(Value):
    """One dispatched event: its type (``"message"`` by default), data, last id and retry."""

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


class SSEParser:
    """Incremental ``text/event-stream`` parser.

    Args:
        max_line_size: the longest line accepted (characters).
        max_event_size: the largest ``data`` of one event accepted (characters).

    Feed bytes with :meth:`receive_data` (``b""`` at EOF), then call :meth:`next_event` until
    it returns ``NEED_DATA``; :attr:`ended` tells whether more can come. An event cut short by
    EOF is dropped, as the format requires. Oversized input raises
    :class:`RemoteProtocolError`, after which the parser refuses further use.
    """

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self.max_line_size = max_line_size
        self.max_event_size = max_event_size
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._tail: list[str] = []  # an unterminated line, in pieces
        self._tail_size = 0
        self._started = False  # the BOM check happens on the first character
        self._after_cr = False  # the previous chunk ended with CR: skip a leading LF
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._events: deque[SSEEvent] = deque()
        # the event being built
        self._event_type = ""
        self._data: list[str] = []
        self._data_size = 0
        self._last_id = ""
        self._retry: int | None = None
        self._reconnection_time: int | None = None

    @property
    def reconnection_time(self) -> int | None:
        """The last ``retry`` value seen, in milliseconds, whether or not an event followed it.

        A ``retry`` field sets the stream's reconnection time even in a block that dispatches
        no event (a block with no ``data``).
        """
        return self._reconnection_time

    @property
    def ended(self) -> bool:
        """EOF was received and every event has been returned."""
        return self._eof and not self._events

    @property
    def last_event_id(self) -> str:
        """The last ``id`` seen (what a client sends back as ``Last-Event-ID``)."""
        return self._last_id

    def _check_usable(self) -> None:
        if self._error is not None:
            raise LocalProtocolError(
                f"event stream is unusable after an earlier error: {self._error.message}"
            ) from self._error

    def _fail(self, message: str) -> RemoteProtocolError:
        self._error = RemoteProtocolError(message, status_hint=413)
        return self._error

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the stream; ``b""`` means EOF."""
        self._check_usable()
        if self._eof:
            if data:
                raise LocalProtocolError("data received after EOF")
            return
        if not data:
            self._eof = True
            text = self._decoder.decode(b"", True)
        else:
            text = self._decoder.decode(data)
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        self._parse(text)

    def next_event(self) -> SSEEvent | NeedData:
        """The next complete event, or ``NEED_DATA``."""
        self._check_usable()
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    def _parse(self, text: str) -> None:
        pos = 0
        for match in _LINE_END.finditer(text):
            line = text[pos : match.start()]
            pos = match.end()
            if self._tail:
                line = "".join(self._tail) + line
                self._tail.clear()
                self._tail_size = 0
            if match.group() == "\r" and pos == len(text) and not self._eof:
                self._after_cr = True  # an LF may open the next chunk
            if len(line) > self.max_line_size:
                raise self._fail(f"event stream line longer than {self.max_line_size}")
            self._line(line)
        if pos < len(text):
            self._tail.append(text[pos:])
            self._tail_size += len(text) - pos
            if self._tail_size > self.max_line_size:
                raise self._fail(f"event stream line longer than {self.max_line_size}")
        if self._eof:
            # An unterminated last line, and the event it belongs to, are dropped.
            self._tail.clear()
            self._tail_size = 0

    def _line(self, line: str) -> None:
        if not line:
            self._dispatch()
            return
        if line[0] == ":":
            return  # a comment
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event_size:
                raise self._fail(f"event stream event larger than {self.max_event_size}")
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self._reconnection_time = int(value)
        # any other field is ignored

    def _dispatch(self) -> None:
        if self._data:
            self._events.append(
                SSEEvent(
                    event=self._event_type or "message",
                    data="\n".join(self._data),
                    id=self._last_id,
                    retry=self._retry,
                )
            )
        self._event_type = ""
        self._data = []
        self._data_size = 0
        self._retry = None


def _check_field(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"SSE {name} must be a str, got {type(value).__name__}")
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"SSE {name} must not contain line breaks")


def encode_sse_event(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """The bytes of one event; ``data`` may hold line breaks of any kind."""
    if not isinstance(data, str):
        raise LocalProtocolError(f"SSE data must be a str, got {type(data).__name__}")
    out: list[str] = []
    if event is not None:
        _check_field("event", event)
        out.append(f"event: {event}\n")
    if id is not None:
        _check_field("id", id)
        if "\x00" in id:
            raise LocalProtocolError("SSE id must not contain NUL")
        out.append(f"id: {id}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise LocalProtocolError(f"SSE retry must be an integer >= 0, got {retry!r}")
        out.append(f"retry: {retry}\n")
    out += [f"data: {line}\n" for line in _LINE_END.split(data)]
    out.append("\n")
    return "".join(out).encode("utf-8")


def encode_sse_comment(text: str = "") -> bytes:
    """The bytes of a comment line (a keep-alive that readers ignore)."""
    _check_field("comment", text)
    return f": {text}\n".encode() if text else b":\n"


# ---------------------------------------------------------------------------------------------
# JSON offset polling


LogLevel = Literal["ERROR", "WARN", "INFO"]


def guess_log_level(line: str) -> LogLevel:
    """The level the official clients give a line: ``❌``/``ERROR``, ``⚠``/``WARN``, else INFO."""
    if "❌" in line or "ERROR" in line:
        return "ERROR"
    if "⚠" in line or "WARN" in line:
        return "WARN"
    return "INFO"


@attrs.frozen(repr=False, eq=False, slots=False)
class LogLine(Value):
    """One build log line, as the official clients hand it to their log callback."""

    level: LogLevel
    message: str
    timestamp: str = ""

    def as_dict(self) -> dict[str, str]:
        """``{"level", "message", "timestamp"}``, the callback's argument."""
        return {"level": self.level, "message": self.message, "timestamp": self.timestamp}


@attrs.frozen(repr=False, eq=False, slots=False)
class BuildLogUpdate(Value):
    """What one poll brought: new lines, the offset to ask for next, and whether it is over."""

    lines: tuple[LogLine, ...]
    offset: int
    status: str
    done: bool


@attrs.frozen(repr=False, eq=False, slots=False)
class _PollerArgs(Value):
    template_id: str = attrs.field()

    @template_id.validator
    def _check(self, _attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise LocalProtocolError(f"template_id must be a non-empty string, got {value!r}")


class BuildLogPoller:
    """The JSON log polling loop of a template build, without the waiting.

    Each round: send :meth:`query` (the ``templates.build_logs`` arguments), give the reply to
    :meth:`feed`, hand the returned lines to the user; stop when :attr:`done`, else wait (the
    official clients wait 2 s) and go again. The next offset is the reply's, unless it is
    missing, zero or behind us, in which case ours is kept. After :attr:`done`, ``feed`` raises
    :class:`LocalProtocolError`.
    """

    def __init__(self, template_id: str, *, offset: int = 0) -> None:
        _PollerArgs(template_id)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise LocalProtocolError(f"offset must be an integer >= 0, got {offset!r}")
        self.template_id = template_id
        self._offset = offset
        self._status = "unknown"
        self._done = False

    @property
    def offset(self) -> int:
        """The offset to ask for next."""
        return self._offset

    @property
    def status(self) -> str:
        """The build status of the last reply (``"unknown"`` before any)."""
        return self._status

    @property
    def done(self) -> bool:
        """No more log will come."""
        return self._done

    def query(self) -> BuildLogsQuery:
        """The arguments of the next poll (the template id goes in the ``build_id`` slot)."""
        if self._done:
            raise LocalProtocolError("the build log is complete; there is nothing to poll")
        return BuildLogsQuery(build_id=self.template_id, offset=self._offset)

    def feed(self, reply: BuildLogs | Mapping[str, Any]) -> BuildLogUpdate:
        """Read one poll reply (the decoded model or its JSON object)."""
        if self._done:
            raise LocalProtocolError("the build log is complete; no more replies are expected")
        if isinstance(reply, Mapping):
            logs = from_wire(BuildLogs, dict(reply))
        elif isinstance(reply, BuildLogs):
            logs = reply
        else:
            raise LocalProtocolError(f"expected BuildLogs or a dict, got {type(reply).__name__}")
        if logs.offset < 0:
            raise RemoteProtocolError(f"build log offset is negative: {logs.offset}")
        if logs.offset > self._offset:
            self._offset = logs.offset
        self._status = logs.status
        self._done = logs.is_done
        lines = tuple(LogLine(guess_log_level(line), line) for line in logs.lines)
        return BuildLogUpdate(lines, self._offset, self._status, self._done)
