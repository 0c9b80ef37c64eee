"""Fuzz every stream machine of hopx_proto._streams, client and server role.

Input: one selector byte (which stream, which role), then frames separated by ``\\x1e``; a
frame starting with ``\\x00`` is passed as bytes (the rest of it), any other frame as text
(UTF-8, invalid bytes replaced). A client machine first sends its stream's request.

Invariants: only :class:`HopxError` subclasses escape ``receive`` and ``finish``; after an
error every ``receive`` raises :class:`LocalProtocolError`; every event is a stream message
that reads as its wire mapping, and a known message encodes to JSON that decodes to the same
message; the same frames always give the same events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Any

from fuzz._harness import Harness, InvariantViolation, main, require_module
from hopx_proto._errors import HopxError, LocalProtocolError

__all__ = ["HARNESS"]

_streams: Any = require_module("hopx_proto._streams")
_base: Any = require_module("hopx_proto._streams._base")

SEPARATOR = b"\x1e"
BYTES_MARK = b"\x00"
MAX_FRAMES = 64


def _execute_request() -> Any:
    return _streams.ExecuteStreamRequest(code="print('hi')")


# (path, machine class, how a client opens the stream) for each selector value.
_MACHINES: list[tuple[str, Any, Callable[[Any], object] | None]] = [
    ("/execute/stream", _streams.ExecuteStreamClient, lambda m: m.start(_execute_request())),
    ("/execute/stream", _streams.ExecuteStreamServer, None),
    (
        "/commands/stream",
        _streams.CommandStreamClient,
        lambda m: m.start(_streams.CommandStreamRequest(command="ls", args=("-la",))),
    ),
    ("/commands/stream", _streams.CommandStreamServer, None),
    ("/stream", _streams.RichStreamClient, lambda m: m.start(_execute_request())),
    ("/stream", _streams.RichStreamServer, None),
    ("/stream/ipython", _streams.IPythonStreamClient, lambda m: m.start(_execute_request())),
    ("/stream/ipython", _streams.IPythonStreamServer, None),
    ("/terminal", _streams.TerminalClient, None),
    ("/terminal", _streams.TerminalServer, None),
    (
        "/files/watch",
        _streams.WatchClient,
        lambda m: m.start(_streams.WatchRequest(path="/workspace")),
    ),
    ("/files/watch", _streams.WatchServer, None),
]


def _frames(data: bytes) -> list[str | bytes]:
    frames: list[str | bytes] = []
    for raw in data.split(SEPARATOR)[:MAX_FRAMES]:
        if raw.startswith(BYTES_MARK):
            frames.append(raw[1:])
        else:
            frames.append(raw.decode("utf-8", "replace"))
    return frames


def _check_event(event: Any, spec: Any, is_client: bool) -> None:
    if not isinstance(event, _streams.StreamMessage):
        raise InvariantViolation(f"receive returned {type(event).__name__}, not a StreamMessage")
    mapping = dict(event)
    if set(mapping) != set(event):
        raise InvariantViolation(f"{event!r} iterates keys it cannot read")
    if isinstance(event, _streams.UnknownMessage):
        return
    table, key = (spec.down, "type") if is_client else (spec.up, spec.up_tag_key)
    if event[key] != event.TAG:
        raise InvariantViolation(f"{event!r}[{key!r}] is not its tag {event.TAG!r}")
    text = _base.encode_message(event)
    again = _base.decode_frame(text, table, key)
    if again != event:
        raise InvariantViolation(f"{event!r} re-encoded as {text!r} decodes to {again!r}")
    json.loads(text)


def _play(selector: int, frames: list[str | bytes]) -> tuple[tuple[Hashable, ...], object]:
    path, cls, opener = _MACHINES[selector % len(_MACHINES)]
    spec = _streams.STREAMS[path]
    machine = cls()
    if opener is not None:
        opener(machine)
    is_client = bool(cls.ROLE_IS_CLIENT)
    events: list[Hashable] = []
    try:
        for frame in frames:
            got = machine.receive(frame)
            for event in got if isinstance(got, list) else [got]:
                _check_event(event, spec, is_client)
                events.append(event)
        machine.finish()
    except HopxError as exc:
        try:
            machine.receive("{}")
        except LocalProtocolError:
            pass
        else:
            raise InvariantViolation(f"after {exc!r} the machine still accepted a frame") from None
        return tuple(events), type(exc)
    return tuple(events), None


def run(data: bytes) -> None:
    """One input: a selector byte, then frames."""
    if not data:
        return
    frames = _frames(data[1:])
    first = _play(data[0], frames)
    if _play(data[0], frames) != first:
        raise InvariantViolation("the same frames gave different events")


def _seed(selector: int, *messages: object) -> bytes:
    frames = [m if isinstance(m, bytes) else json.dumps(m).encode() for m in messages]
    return bytes([selector]) + SEPARATOR.join(frames)


def seeds() -> list[bytes]:
    """Typical conversations of every stream, both roles."""
    ts = "2026-01-01T00:00:00Z"
    output = [
        {"type": "stdout", "data": "hi\n", "timestamp": ts},
        {"type": "stderr", "data": "warn\n", "timestamp": ts},
        {"type": "result", "exit_code": 0, "execution_time": 0.25, "timestamp": ts},
        {"type": "complete", "success": True, "exit_code": 0},
    ]
    display = {"type": "display", "mime": "image/png", "data": "iVBORw0KGgo=", "timestamp": ts}
    execute = {
        "type": "execute",
        "code": "print(1)",
        "language": "python",
        "timeout": 30,
        "workdir": "/workspace",
        "env": {"A": "1"},
    }
    out = [
        _seed(0, *output),
        _seed(0, {"type": "error", "error": "boom", "code": "EXECUTION_FAILED"}, output[-1]),
        _seed(0, b"", b"  ", b"\x00\xff\xfe", {"type": "surprise"}, [1, 2], output[-1]),
        _seed(1, execute),
        _seed(2, *output),
        _seed(3, {"type": "run", "command": "ls", "args": ["-l"], "timeout": 5}),
        _seed(4, output[0], display, *output[2:]),
        _seed(5, execute),
        _seed(6, display, output[-1]),
        _seed(7, execute),
        _seed(8, {"type": "output", "data": "$ "}, {"type": "exit", "code": 0}),
        _seed(9, {"type": "input", "data": "ls\n"}, {"type": "resize", "cols": 80, "rows": 24}),
        _seed(10, {"type": "change", "path": "/workspace/a", "event": "created", "timestamp": ts}),
        _seed(11, {"action": "watch", "path": "/workspace"}),
    ]
    return out


HARNESS = Harness("streams", run, seeds)

if __name__ == "__main__":
    main(HARNESS)
