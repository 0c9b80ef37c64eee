"""Stream machines: message formats, tolerant/strict decoding, transition tables, sessions."""

from __future__ import annotations

import enum
import importlib
import importlib.util
import itertools
import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hopx_proto._errors import LocalProtocolError, RemoteProtocolError, StreamEndedError
from hopx_proto._http import NEED_DATA, Role
from hopx_proto._streams import (
    STREAMS,
    UNKNOWN,
    Change,
    CommandStreamClient,
    CommandStreamRequest,
    CommandStreamServer,
    Complete,
    Direction,
    ErrorMessage,
    ExecuteState,
    ExecuteStreamClient,
    ExecuteStreamRequest,
    ExecuteStreamServer,
    Exit,
    Input,
    IPythonStreamClient,
    IPythonStreamServer,
    Output,
    Resize,
    Result,
    RichOutput,
    RichStreamClient,
    RichStreamServer,
    Stderr,
    Stdout,
    StreamMachine,
    StreamMessage,
    StreamSpec,
    TerminalClient,
    TerminalServer,
    TerminalState,
    UnknownMessage,
    WatchClient,
    WatchRequest,
    WatchServer,
)
from hopx_proto._url import BaseURL
from hopx_proto._ws import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    TextMessage,
    UpgradeRequest,
    WebSocket,
    WSEvent,
)

ROOT = pathlib.Path(__file__).parent.parent


def started_execute_client() -> ExecuteStreamClient:
    client = ExecuteStreamClient()
    client.start(ExecuteStreamRequest("print(1)"))
    return client


# ---------------------------------------------------------------------------------------------
# Messages read as the documented dicts


def test_events_read_and_print_as_the_documented_dicts(capsys: pytest.CaptureFixture[str]) -> None:
    message = Stdout("Hello\n")
    assert dict(message) == {"type": "stdout", "data": "Hello\n"}
    assert message == {"type": "stdout", "data": "Hello\n"}
    assert message["type"] == "stdout"
    assert message["data"] == "Hello\n"
    assert message.get("type") == "stdout"
    assert message.get("timestamp") is None
    assert message.get("missing", "dflt") == "dflt"
    assert "data" in message
    assert "timestamp" not in message
    assert list(message) == ["type", "data"]
    assert len(message) == 2
    with pytest.raises(KeyError):
        message["timestamp"]
    print(message)
    print(dict(message))
    out = capsys.readouterr().out.splitlines()
    assert out == ["{'type': 'stdout', 'data': 'Hello\\n'}"] * 2
    assert repr(message) == "Stdout(data='Hello\\n', timestamp=None)"


def test_the_documented_streaming_example_runs_unchanged() -> None:
    client = started_execute_client()
    frames = [
        '{"type": "stdout", "data": "Count: 0\\n"}',
        '{"type": "stderr", "data": "oops\\n"}',
        '{"type": "stdout", "data": "Count: 1\\n"}',
        '{"type": "complete", "success": true}',
    ]
    printed = []
    for frame in frames:
        messages = client.receive(frame)
        printed += [m.get("data", "") for m in messages if m.get("type") == "stdout"]
    assert "".join(printed) == "Count: 0\nCount: 1\n"


def test_events_compare_by_class_and_value() -> None:
    assert Stdout("a") == Stdout("a")
    assert Stdout("a") != Stderr("a")
    assert Stdout("a") != Stdout("b")
    assert hash(Stdout("a")) == hash(Stdout("a"))
    assert Stdout("a") != "a"
    unknown = UnknownMessage('{"type":"stdout","data":"a"}', "x", {"type": "stdout", "data": "a"})
    assert unknown == {"type": "stdout", "data": "a"}
    assert Stdout("a") != unknown  # different kinds of message are never equal
    assert len({Stdout("a"), Stdout("a"), Stderr("a")}) == 2


# Server messages recorded from the official client's session.
RECORDED: list[tuple[str, type[StreamMessage]]] = [
    ('{"type": "stdout", "data": "line 1\\n", "timestamp": "2026-11-27T03:38:57Z"}', Stdout),
    ('{"type": "stderr", "data": "warn\\n", "timestamp": "2026-11-27T03:38:57Z"}', Stderr),
    ('{"type": "result", "exit_code": 0, "execution_time": 0.01}', Result),
    ('{"type": "complete", "success": true, "exit_code": 0}', Complete),
]


def test_recorded_session_decodes_to_typed_events_with_the_same_keys() -> None:
    client = started_execute_client()
    server = ExecuteStreamServer()
    server.receive(ExecuteStreamClient().start(ExecuteStreamRequest("x")))
    for text, cls in RECORDED:
        (event,) = client.receive(text)
        assert isinstance(event, cls)
        assert dict(event) == json.loads(text)
        assert json.loads(server.send(event)) == json.loads(text)
    assert client.done
    client.finish()


def test_unknown_keys_are_kept_and_written_back() -> None:
    client = started_execute_client()
    (event,) = client.receive('{"type":"stdout","data":"x","seq":3,"meta":{"a":[1]}}')
    assert event == Stdout("x", extra={"seq": 3, "meta": {"a": [1]}})
    assert dict(event) == {"type": "stdout", "data": "x", "seq": 3, "meta": {"a": [1]}}
    assert event["seq"] == 3
    server = ExecuteStreamServer()
    server.receive(ExecuteStreamClient().start(ExecuteStreamRequest("x")))
    assert json.loads(server.send(event)) == dict(event)


def test_null_reads_as_absent() -> None:
    client = started_execute_client()
    (event,) = client.receive('{"type":"stdout","data":null,"timestamp":null}')
    assert event == Stdout("")
    assert dict(event) == {"type": "stdout", "data": ""}


# ---------------------------------------------------------------------------------------------
# Tolerant decoding


@pytest.mark.parametrize("frame", ["", "   ", "\n\t ", b"", b"  \r\n"])
def test_empty_and_whitespace_frames_are_skipped(frame: str | bytes) -> None:
    client = started_execute_client()
    assert client.receive(frame) == []
    assert client.state is ExecuteState.RUNNING


def test_binary_frames_are_read_as_utf8() -> None:
    client = started_execute_client()
    assert client.receive('{"type":"stdout","data":"é"}'.encode()) == [Stdout("é")]
    frame = bytearray(b'{"type":"stderr","data":"x"}')
    assert client.receive(frame) == [Stderr("x")]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "reason", "as_dict"),
    [
        ("not json", "not JSON", {}),
        ('{"type": "stdout", "data": "cut', "not JSON", {}),
        ("[1, 2]", "not a JSON object", {}),
        ("42", "not a JSON object", {}),
        (
            '{"type": "done", "exit_code": 0}',
            "unknown type 'done'",
            {"type": "done", "exit_code": 0},
        ),
        ('{"data": "no type"}', "unknown type None", {"data": "no type"}),
        ('{"type": 7}', "unknown type 7", {"type": 7}),
        (b"\xff\xfe{}", "not UTF-8", {}),
    ],
)
def test_unreadable_frames_become_unknown_messages(
    frame: str | bytes, reason: str, as_dict: dict[str, Any]
) -> None:
    client = started_execute_client()
    (event,) = client.receive(frame)
    assert isinstance(event, UnknownMessage)
    assert event.reason == reason
    assert dict(event) == as_dict
    assert event.raw == (frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))
    assert client.state is ExecuteState.RUNNING
    if as_dict:
        assert event.get("type") == as_dict.get("type")
        assert str(event) == str(as_dict)
    else:
        assert str(event) == event.raw  # printing shows what came


def test_frames_of_the_wrong_python_type_are_local_errors() -> None:
    client = started_execute_client()
    with pytest.raises(LocalProtocolError):
        client.receive(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Strict where a wrong value would mislead


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"result","exit_code":"0"}',
        '{"type":"result","exit_code":1.5}',
        '{"type":"result","exit_code":true}',
        '{"type":"result"}',
        '{"type":"result","exit_code":null}',
        '{"type":"result","exit_code":0,"execution_time":"fast"}',
        '{"type":"stdout","data":5}',
        '{"type":"complete","success":"yes"}',
        '{"type":"complete","exit_code":"0"}',
        '{"type":"error","error":["x"]}',
    ],
)
def test_wrong_values_are_remote_errors_then_the_machine_refuses(frame: str) -> None:
    client = started_execute_client()
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(frame)
    assert info.value.close_code == 1008
    with pytest.raises(LocalProtocolError):
        client.receive('{"type":"stdout","data":"x"}')
    client.finish()  # the error was reported already; finishing adds nothing


def test_integral_float_exit_code_is_accepted() -> None:
    client = started_execute_client()
    assert client.receive('{"type":"result","exit_code":2.0}') == [Result(2)]


def test_nothing_may_follow_complete() -> None:
    client = started_execute_client()
    client.receive('{"type":"complete","success":true}')
    with pytest.raises(RemoteProtocolError):
        client.receive('{"type":"stdout","data":"late"}')


def test_unknown_after_complete_is_an_error_too() -> None:
    client = started_execute_client()
    client.receive('{"type":"complete","success":true}')
    with pytest.raises(RemoteProtocolError):
        client.receive('{"type":"mystery"}')


def test_messages_before_the_request_are_remote_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        ExecuteStreamClient().receive('{"type":"stdout","data":"x"}')


# ---------------------------------------------------------------------------------------------
# finish()


def test_finish_without_complete_raises_stream_ended() -> None:
    client = started_execute_client()
    client.receive('{"type":"stdout","data":"x"}')
    client.receive('{"type":"result","exit_code":0}')
    with pytest.raises(StreamEndedError) as info:
        client.finish()
    assert "complete" in str(info.value)
    assert isinstance(info.value, RemoteProtocolError)
    client.finish()  # once reported, finishing again is quiet
    with pytest.raises(LocalProtocolError):
        client.receive('{"type":"stdout","data":"x"}')


def test_finish_is_fine_after_complete_after_error_or_when_we_hung_up() -> None:
    done = started_execute_client()
    done.receive('{"type":"complete","success":true,"exit_code":0}')
    assert done.done
    done.finish()
    failed = started_execute_client()
    failed.receive('{"type":"error","error":"boom","code":"EXECUTION_FAILED"}')
    assert not failed.done
    failed.finish()
    hung_up = started_execute_client()
    hung_up.finish(closed_by_us=True)


def test_watch_needs_no_last_message_and_terminal_needs_exit() -> None:
    watch = WatchClient()
    watch.start(WatchRequest("/workspace"))
    watch.receive('{"type":"change","path":"/workspace/a","event":"created","timestamp":"t"}')
    watch.finish()
    terminal = TerminalClient()
    terminal.receive('{"type":"output","data":"$ "}')
    with pytest.raises(StreamEndedError):
        terminal.finish()
    terminal2 = TerminalClient()
    terminal2.receive('{"type":"exit","code":0}')
    terminal2.finish()


# ---------------------------------------------------------------------------------------------
# Requests: the official wire forms, validation, server parsing


def test_execute_request_wire_form_matches_the_official_client() -> None:
    client = ExecuteStreamClient()
    text = client.start(ExecuteStreamRequest("print(3)"))
    assert json.loads(text) == {
        "type": "execute",
        "code": "print(3)",
        "language": "python",
        "timeout": 60,
        "workdir": "/workspace",
    }
    assert list(json.loads(text)) == ["type", "code", "language", "timeout", "workdir"]
    with_env = ExecuteStreamRequest("x", timeout=30, workdir="/tmp", env={"S": "1"})
    assert dict(with_env)["env"] == {"S": "1"}
    assert "env" not in ExecuteStreamRequest("x", env={})


def test_server_reads_the_official_clients_request() -> None:
    server = ExecuteStreamServer()
    request = server.receive(
        '{"type": "execute", "code": "for i in range(2): print(i)", "language": "python", '
        '"timeout": 30, "workdir": "/tmp", "env": {"S": "1"}}'
    )
    assert request == ExecuteStreamRequest(
        "for i in range(2): print(i)", timeout=30, workdir="/tmp", env={"S": "1"}
    )
    assert server.state is ExecuteState.RUNNING


@pytest.mark.parametrize(
    "kwargs",
    [
        {"code": 5},
        {"code": "x", "workdir": "relative"},
        {"code": "x", "timeout": 0},
        {"code": "x", "timeout": "60"},
        {"code": "x", "language": ""},
        {"code": "x", "env": {"A": 1}},
        {"code": "x", "env": ["A"]},
    ],
)
def test_bad_requests_are_refused_before_any_text(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        ExecuteStreamRequest(**kwargs)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"stdout","data":"x"}',
        '{"type":"execute"}',
        '{"type":"execute","code":"x","workdir":"rel"}',
        '{"type":"execute","code":"x","timeout":-1}',
        "garbage",
        "",
        '{"action":"watch","path":"/x"}',
    ],
)
def test_server_refuses_anything_but_a_valid_request(frame: str) -> None:
    server = ExecuteStreamServer()
    with pytest.raises(RemoteProtocolError) as info:
        server.receive(frame)
    assert info.value.close_code == 1008
    with pytest.raises(LocalProtocolError):
        server.send(Stdout("x"))


def test_server_errors_say_why_a_frame_was_unreadable() -> None:
    with pytest.raises(RemoteProtocolError, match="not JSON"):
        ExecuteStreamServer().receive("garbage")
    with pytest.raises(RemoteProtocolError, match="unknown type 'exec'"):
        ExecuteStreamServer().receive('{"type":"exec","code":"x"}')


def test_server_refuses_a_second_request() -> None:
    server = ExecuteStreamServer()
    text = ExecuteStreamClient().start(ExecuteStreamRequest("x"))
    server.receive(text)
    with pytest.raises(RemoteProtocolError):
        server.receive(text)


def test_server_sending_rules() -> None:
    server = ExecuteStreamServer()
    with pytest.raises(LocalProtocolError):
        server.send(Stdout("before the request"))
    server.receive(ExecuteStreamClient().start(ExecuteStreamRequest("x")))
    with pytest.raises(LocalProtocolError):
        server.send(UnknownMessage("{}"))
    with pytest.raises(LocalProtocolError):
        server.send(Output("terminal message"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        server.send(RichOutput("image/png", "AAAA"))  # type: ignore[arg-type]
    assert json.loads(server.send(Result(1, 0.5))) == {
        "type": "result",
        "exit_code": 1,
        "execution_time": 0.5,
    }
    server.send(Complete(False, 1))
    with pytest.raises(LocalProtocolError):
        server.send(Stdout("after complete"))
    assert server.done


def test_client_start_rules() -> None:
    client = ExecuteStreamClient()
    with pytest.raises(LocalProtocolError):
        client.start(CommandStreamRequest("ls"))  # type: ignore[arg-type]
    client.start(ExecuteStreamRequest("x"))
    with pytest.raises(LocalProtocolError):
        client.start(ExecuteStreamRequest("again"))


def test_commands_stream_request_and_output() -> None:
    client, server = CommandStreamClient(), CommandStreamServer()
    text = client.start(CommandStreamRequest("bash", ("-c", "ls -la"), timeout=10))
    assert json.loads(text) == {
        "type": "run",
        "command": "bash",
        "args": ["-c", "ls -la"],
        "timeout": 10,
        "workdir": "/workspace",
    }
    request = server.receive(text)
    assert request.args == ("-c", "ls -la")
    assert request["args"] == ["-c", "ls -la"]
    for event in (Stdout("a\n"), Result(0, 0.1), Complete(True, 0)):
        assert client.receive(server.send(event)) == [event]
    with pytest.raises(LocalProtocolError):
        CommandStreamRequest("")
    with pytest.raises(LocalProtocolError):
        CommandStreamRequest("ls", ["-l", 3])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("client_cls", "server_cls"),
    [(RichStreamClient, RichStreamServer), (IPythonStreamClient, IPythonStreamServer)],
)
def test_rich_streams_carry_display_messages(
    client_cls: type[RichStreamClient], server_cls: type[RichStreamServer]
) -> None:
    client, server = client_cls(), server_cls()
    server.receive(client.start(ExecuteStreamRequest("plot()")))
    png = RichOutput("image/png", "iVBORw0KGgo=")
    text = server.send(png)
    assert json.loads(text) == {"type": "display", "mime": "image/png", "data": "iVBORw0KGgo="}
    assert client.receive(text) == [png]
    table = RichOutput("application/json", {"rows": [1, 2]})
    assert client.receive(server.send(table)) == [table]
    with pytest.raises(LocalProtocolError):
        RichOutput("", "x")


def test_display_on_execute_stream_is_surfaced_as_unknown() -> None:
    client = started_execute_client()
    (event,) = client.receive('{"type":"display","mime":"text/html","data":"<b>"}')
    assert isinstance(event, UnknownMessage)
    assert event["mime"] == "text/html"


def test_watch_formats() -> None:
    client, server = WatchClient(), WatchServer()
    text = client.start(WatchRequest())
    assert json.loads(text) == {"action": "watch", "path": "/workspace"}
    assert server.receive('{"action": "watch", "path": "/workspace/data"}') == WatchRequest(
        "/workspace/data"
    )
    change = Change("/workspace/data/new.txt", "created", "2026-11-27T03:38:57Z")
    assert client.receive(server.send(change)) == [change]
    (odd,) = client.receive('{"type":"change","path":"/w/x","event":"chmod"}')
    assert isinstance(odd, UnknownMessage)
    assert odd.reason == "unknown event 'chmod'"
    assert odd["event"] == "chmod"
    with pytest.raises(LocalProtocolError):
        Change("/w/x", "chmod")
    with pytest.raises(LocalProtocolError):
        WatchRequest("relative")
    with pytest.raises(RemoteProtocolError):
        client.receive('{"type":"change","event":"created"}')  # no path


def test_terminal_formats_and_late_output() -> None:
    client, server = TerminalClient(), TerminalServer()
    assert client.receive(server.send(Output("$ "))) == [Output("$ ")]  # no greeting needed
    assert json.loads(client.input("ls -la\n")) == {"type": "input", "data": "ls -la\n"}
    assert json.loads(client.resize(120, 40)) == {"type": "resize", "cols": 120, "rows": 40}
    assert server.receive(client.input("exit\n")) == [Input("exit\n")]
    assert server.receive(client.resize(80, 24)) == [Resize(80, 24)]
    assert client.receive(server.send(Exit(0))) == [Exit(0)]
    assert client.done
    assert client.receive(server.send(Output("bye\n"))) == [Output("bye\n")]
    assert server.receive(client.input("too late\n")) == [Input("too late\n")]
    with pytest.raises(LocalProtocolError):
        server.send(Exit(1))
    with pytest.raises(RemoteProtocolError):
        client.receive('{"type":"exit","code":1}')
    with pytest.raises(LocalProtocolError):
        Resize(0, 24)
    with pytest.raises(LocalProtocolError):
        client.send(Output("x"))  # type: ignore[arg-type]
    (odd,) = server.receive('{"type":"signal","name":"INT"}')
    assert isinstance(odd, UnknownMessage)


@pytest.mark.parametrize("size", [(0, 24), (80, 0), (-1, 24), (65536, 24), (80, 70000)])
def test_terminal_resize_is_bounded_in_both_roles(size: tuple[int, int]) -> None:
    client, server = TerminalClient(), TerminalServer()
    with pytest.raises(LocalProtocolError, match="from 1 to 65535"):
        client.resize(*size)
    assert json.loads(client.input("ls\n"))["data"] == "ls\n"  # the client stays usable
    cols, rows = size
    with pytest.raises(RemoteProtocolError, match="from 1 to 65535") as refused:
        server.receive(json.dumps({"type": "resize", "cols": cols, "rows": rows}))
    assert refused.value.close_code == 1008
    with pytest.raises(LocalProtocolError, match="unusable"):
        server.receive(client.resize(80, 24))  # a malformed message ends the server's stream


def test_terminal_resize_bounds_are_inclusive() -> None:
    client, server = TerminalClient(), TerminalServer()
    for size in ((1, 1), (65535, 65535)):
        assert server.receive(client.resize(*size)) == [Resize(*size)]


# ---------------------------------------------------------------------------------------------
# Every (state, message) pair of every machine: a legal transition or the library's error

SAMPLES: dict[str, StreamMessage] = {
    "execute": ExecuteStreamRequest("x"),
    "run": CommandStreamRequest("ls"),
    "stdout": Stdout("o"),
    "stderr": Stderr("e"),
    "result": Result(0, 0.1),
    "error": ErrorMessage("boom", "EXECUTION_FAILED"),
    "complete": Complete(True, 0),
    "display": RichOutput("text/html", "<b>hi</b>"),
    "input": Input("ls\n"),
    "resize": Resize(80, 24),
    "output": Output("$ "),
    "exit": Exit(0),
    "watch": WatchRequest("/workspace"),
    "change": Change("/workspace/a", "modified", "t"),
}
UNKNOWN_FRAME = '{"type":"mystery","x":1}'

MACHINES: dict[str, tuple[type[StreamMachine], type[StreamMachine]]] = {
    "/execute/stream": (ExecuteStreamClient, ExecuteStreamServer),
    "/commands/stream": (CommandStreamClient, CommandStreamServer),
    "/stream": (RichStreamClient, RichStreamServer),
    "/stream/ipython": (IPythonStreamClient, IPythonStreamServer),
    "/terminal": (TerminalClient, TerminalServer),
    "/files/watch": (WatchClient, WatchServer),
}


def test_every_public_name_of_the_stream_modules_is_exported() -> None:
    import hopx_proto._streams as package

    for module_name in (
        "_base",
        "_execute",
        "_commands",
        "_rich",
        "_ipython",
        "_terminal",
        "_watch",
    ):
        module = importlib.import_module(f"hopx_proto._streams.{module_name}")
        for name in getattr(module, "__all__", ()):
            exported = name in package.__all__
            internal = name in {"StreamMachine", "decode_frame", "encode_message"}
            assert exported or internal or name.isupper(), f"{module_name}.{name}"
    for name in package.__all__:
        assert hasattr(package, name), name


def test_terminal_dropped_without_close_frame_after_exit_is_fine() -> None:
    client_ws, server_ws = _open_pair()
    terminal = TerminalClient()
    client_ws.receive_data(server_ws.send_text('{"type":"exit","code":0}'))
    client_ws.receive_data(b"")  # the agent drops TCP after the shell exits
    events = _ws_events(client_ws)
    assert isinstance(events[0], TextMessage)
    assert terminal.receive(events[0].text) == [Exit(0)]
    assert events[1] == CloseReceived(1006, "")
    terminal.finish()


def test_every_stream_has_machines_for_both_roles() -> None:
    assert set(MACHINES) == set(STREAMS)
    for path, (client_cls, server_cls) in MACHINES.items():
        assert client_cls.SPEC is server_cls.SPEC is STREAMS[path]


def _cases() -> Iterator[tuple[str, enum.Enum, str]]:
    for path, spec in STREAMS.items():
        for state in spec.states:
            for name in [*SAMPLES, UNKNOWN]:
                yield path, state, name


def _frame(name: str) -> str:
    if name == UNKNOWN:
        return UNKNOWN_FRAME
    return json.dumps(SAMPLES[name].to_wire())


def _outcome(fn: Any) -> type[Exception] | None:
    try:
        fn()
    except (LocalProtocolError, RemoteProtocolError) as exc:
        return type(exc)
    return None


def _send(machine: StreamMachine, message: StreamMessage) -> str:
    if isinstance(machine, ExecuteStreamClient | CommandStreamClient | WatchClient):
        return machine.start(message)  # type: ignore[arg-type]
    if isinstance(machine, RichStreamClient | IPythonStreamClient):
        return machine.start(message)  # type: ignore[arg-type]
    return machine.send(message)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize(("path", "state", "name"), list(_cases()))
def test_every_state_and_message_pair(path: str, state: enum.Enum, name: str) -> None:
    spec = STREAMS[path]
    client_cls, server_cls = MACHINES[path]
    for role_cls, sent_dir in ((client_cls, Direction.UP), (server_cls, Direction.DOWN)):
        # Receiving: the peer's direction.
        recv_dir = Direction.DOWN if sent_dir is Direction.UP else Direction.UP
        machine = role_cls()
        machine._state = state
        tag = name if name == UNKNOWN or name in _tags(spec, recv_dir) else UNKNOWN
        allowed = spec.transitions.get((state, recv_dir, tag))
        got = _outcome(lambda m=machine: m.receive(_frame(name)))
        if allowed is None:
            assert got is RemoteProtocolError, (role_cls.__name__, state, name)
            with pytest.raises(LocalProtocolError):
                machine.receive(_frame(name))  # type: ignore[attr-defined]
        else:
            assert got is None, (role_cls.__name__, state, name)
            assert machine.state is allowed
        # Sending: our direction; only known messages of that direction may be sent.
        machine = role_cls()
        machine._state = state
        if name == UNKNOWN:
            got = _outcome(lambda m=machine: _send(m, UnknownMessage(UNKNOWN_FRAME)))
            assert got is LocalProtocolError
            continue
        allowed = spec.transitions.get((state, sent_dir, name))
        if name not in _tags(spec, sent_dir):
            allowed = None
        got = _outcome(lambda m=machine: _send(m, SAMPLES[name]))
        if allowed is None:
            assert got is LocalProtocolError, (role_cls.__name__, state, name)
            assert machine.state is state  # nothing happened
        else:
            assert got is None, (role_cls.__name__, state, name)
            assert machine.state is allowed


def _tags(spec: StreamSpec, direction: Direction) -> set[str]:
    return set(spec.up if direction is Direction.UP else spec.down)


def test_tables_only_name_known_states_and_messages() -> None:
    for spec in STREAMS.values():
        names = set(spec.up) | set(spec.down) | {UNKNOWN}
        for (state, direction, name), after in spec.transitions.items():
            assert state in spec.states
            assert after in spec.states
            assert name in names
            table = spec.up if direction is Direction.UP else spec.down
            assert name == UNKNOWN or name in table
        assert spec.initial in spec.states
        assert spec.done <= spec.final


# ---------------------------------------------------------------------------------------------
# Sessions over real WebSocket bytes

output_events = st.one_of(
    st.builds(Stdout, st.text(max_size=40), st.one_of(st.none(), st.just("2026-11-27T03:38:57Z"))),
    st.builds(Stderr, st.text(max_size=40)),
)


def _open_pair() -> tuple[WebSocket, WebSocket]:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    server = WebSocket(Role.SERVER)
    server.receive_data(client.connect(BaseURL.parse("http://127.0.0.1:9"), "/execute/stream"))
    assert isinstance(server.next_event(), UpgradeRequest)
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    return client, server


def _ws_events(ws: WebSocket) -> list[WSEvent]:
    out: list[WSEvent] = []
    while (event := ws.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def _read_session(pieces: list[bytes]) -> list[StreamMessage]:
    client, _ = _open_pair()
    stream = started_execute_client()
    got: list[StreamMessage] = []
    for piece in pieces:
        client.receive_data(piece)
        for event in _ws_events(client):
            if isinstance(event, TextMessage):
                got += stream.receive(event.text)
            elif isinstance(event, BinaryMessage):
                got += stream.receive(event.data)
            elif isinstance(event, CloseReceived):
                stream.finish()
    return got


@settings(max_examples=40, deadline=None)
@given(
    outputs=st.lists(output_events, max_size=15),
    exit_code=st.integers(min_value=0, max_value=255),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
    binary=st.booleans(),
)
def test_session_bytes_give_the_same_events_however_they_are_split(
    outputs: list[StreamMessage], exit_code: int, cuts: list[int], binary: bool
) -> None:
    _, server_ws = _open_pair()
    server = ExecuteStreamServer()
    server.receive(ExecuteStreamClient().start(ExecuteStreamRequest("x")))
    sent: list[Any] = [*outputs, Result(exit_code, 0.25), Complete(exit_code == 0, exit_code)]
    data = b""
    for event in sent:
        text = server.send(event)
        data += server_ws.send_binary(text.encode()) if binary else server_ws.send_text(text)
    data += server_ws.send_close(1000)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    splits = [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[a:b] for a, b in itertools.pairwise(points)],
    ]
    results = [_read_session(split) for split in splits]
    assert results[0] == sent
    assert results[1] == results[0]
    assert results[2] == results[0]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.sampled_from(["stdout", "stderr", "result", "error", "complete", UNKNOWN]), max_size=12
    )
)
def test_client_and_server_agree_on_every_sequence(names: list[str]) -> None:
    """The server's send rules and the client's receive rules are the same table."""
    client, server = ExecuteStreamClient(), ExecuteStreamServer()
    server.receive(client.start(ExecuteStreamRequest("x")))
    for name in names:
        if name == UNKNOWN:
            if client.done:
                with pytest.raises(RemoteProtocolError):
                    client.receive(UNKNOWN_FRAME)
                return
            assert len(client.receive(UNKNOWN_FRAME)) == 1
            continue
        try:
            text = server.send(SAMPLES[name])  # type: ignore[arg-type]
        except LocalProtocolError:
            with pytest.raises(RemoteProtocolError):
                client.receive(_frame(name))
            return
        assert client.receive(text) == [SAMPLES[name]]
        assert client.state is server.state


# ---------------------------------------------------------------------------------------------
# A terminal session driven across client and server machines over WebSocket bytes


class TerminalSession(RuleBasedStateMachine):
    """Input, resize, output, exit and close across both roles, bytes in random pieces."""

    def __init__(self) -> None:
        super().__init__()
        self.client_ws, self.server_ws = _open_pair()
        self.client, self.server = TerminalClient(), TerminalServer()
        self.sent_up: list[StreamMessage] = []
        self.sent_down: list[StreamMessage] = []
        self.got_up: list[StreamMessage] = []
        self.got_down: list[StreamMessage] = []
        self.exited = False
        self.closed = False

    def _deliver(self, data: bytes, to_server: bool, cut: int) -> None:
        ws = self.server_ws if to_server else self.client_ws
        machine: TerminalClient | TerminalServer = self.server if to_server else self.client
        got = self.got_up if to_server else self.got_down
        cut = cut % (len(data) + 1)
        for piece in (data[:cut], data[cut:]):
            if not piece:
                continue
            ws.receive_data(piece)
            for event in _ws_events(ws):
                if isinstance(event, TextMessage):
                    got.extend(machine.receive(event.text))

    @precondition(lambda self: not self.closed)
    @rule(data=st.text(max_size=20), cut=st.integers(0, 100))
    def type_input(self, data: str, cut: int) -> None:
        self._deliver(self.client_ws.send_text(self.client.input(data)), True, cut)
        self.sent_up.append(Input(data))

    @precondition(lambda self: not self.closed)
    @rule(cols=st.integers(1, 500), rows=st.integers(1, 200), cut=st.integers(0, 100))
    def resize(self, cols: int, rows: int, cut: int) -> None:
        self._deliver(self.client_ws.send_text(self.client.resize(cols, rows)), True, cut)
        self.sent_up.append(Resize(cols, rows))

    @precondition(lambda self: not self.closed)
    @rule(data=st.text(max_size=30), cut=st.integers(0, 100))
    def output(self, data: str, cut: int) -> None:
        self._deliver(self.server_ws.send_text(self.server.send(Output(data))), False, cut)
        self.sent_down.append(Output(data))

    @precondition(lambda self: not self.closed and not self.exited)
    @rule(code=st.integers(0, 255), cut=st.integers(0, 100))
    def exit(self, code: int, cut: int) -> None:
        self._deliver(self.server_ws.send_text(self.server.send(Exit(code))), False, cut)
        self.sent_down.append(Exit(code))
        self.exited = True

    @precondition(lambda self: not self.closed)
    @rule(by_client=st.booleans())
    def close(self, by_client: bool) -> None:
        closer, other = (
            (self.client_ws, self.server_ws) if by_client else (self.server_ws, self.client_ws)
        )
        other.receive_data(closer.send_close(1000))
        assert _ws_events(other) == [CloseReceived(1000, "")]
        closer.receive_data(other.data_to_send())
        assert _ws_events(closer) == [CloseReceived(1000, "")]
        self.closed = True
        if self.exited or by_client:
            self.client.finish(closed_by_us=by_client)
        else:
            with pytest.raises(StreamEndedError):
                self.client.finish()
        self.server.finish()

    @precondition(lambda self: self.closed)
    @rule()
    def nothing_goes_after_close(self) -> None:
        with pytest.raises(LocalProtocolError):
            self.client_ws.send_text("{}")
        with pytest.raises(LocalProtocolError):
            self.client.receive('{"type":"output","data":"x"}')
        with pytest.raises(LocalProtocolError):
            self.server.send(Output("x"))

    @invariant()
    def both_sides_saw_what_the_other_sent(self) -> None:
        assert self.got_up == self.sent_up
        assert self.got_down == self.sent_down
        assert self.client.state is self.server.state
        expected = TerminalState.EXITED if self.exited else TerminalState.OPEN
        assert self.client.state is expected
        assert self.client.done is self.exited


TerminalSession.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
test_terminal_session = TerminalSession.TestCase


# ---------------------------------------------------------------------------------------------
# The documentation's tables are the code's tables


def test_docs_state_tables_are_in_sync() -> None:
    path = ROOT / "docs" / "gen_state_tables.py"
    spec = importlib.util.spec_from_file_location("gen_state_tables", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = (ROOT / "docs" / "streams.md").read_text(encoding="utf-8")
    generated = module.render()
    assert generated in doc, "run: .venv/bin/python docs/gen_state_tables.py --write"
    for stream in STREAMS:
        assert f"### `{stream}`" in generated
