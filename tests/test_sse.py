"""The event-stream parser and writer, and the JSON build-log poller."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto._errors import LocalProtocolError, RemoteProtocolError
from hopx_proto._http import NEED_DATA
from hopx_proto._models.control import BuildLogs
from hopx_proto._ops.control import BuildLogsQuery
from hopx_proto._sse import (
    BuildLogPoller,
    LogLine,
    SSEEvent,
    SSEParser,
    encode_sse_comment,
    encode_sse_event,
    guess_log_level,
)


def parse(*chunks: bytes, eof: bool = True, parser: SSEParser | None = None) -> list[SSEEvent]:
    parser = parser or SSEParser()
    out: list[SSEEvent] = []
    for chunk in (*chunks, *((b"",) if eof else ())):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            out.append(event)
    return out


# ---------------------------------------------------------------------------------------------
# Parsing rules


def test_simple_events_with_type_id_and_retry() -> None:
    stream = (
        b"data: first\n\n"
        b"event: log\nid: 7\nretry: 1500\ndata: line one\ndata: line two\n\n"
        b"data: third\n\n"
    )
    assert parse(stream) == [
        SSEEvent("message", "first", "", None),
        SSEEvent("log", "line one\nline two", "7", 1500),
        SSEEvent("message", "third", "7", None),  # the id persists, retry does not
    ]


def test_comments_unknown_fields_and_field_forms() -> None:
    stream = b": keep-alive\ncolour: blue\ndata:no space\ndata:  two spaces\ndata\n\n"
    assert parse(stream) == [SSEEvent(data="no space\n two spaces\n")]


def test_events_without_data_are_not_dispatched() -> None:
    parser = SSEParser()
    assert parse(b"event: ping\nid: 3\n\n\n\ndata: x\n\n", parser=parser) == [
        SSEEvent("message", "x", "3", None)
    ]
    assert parser.last_event_id == "3"


def test_id_with_nul_is_ignored_and_bad_retry_is_ignored() -> None:
    assert parse(b"id: a\x00b\nretry: 12x\nretry: \xd9\xa1\ndata: x\n\n") == [SSEEvent(data="x")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(ending: bytes) -> None:
    stream = ending.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert parse(stream) == [SSEEvent("e", "a\nb"), SSEEvent(data="c")]


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    assert parse(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        SSEEvent(data="a"),
        SSEEvent(data="b"),
    ]


def test_bom_is_stripped_only_at_the_start() -> None:
    assert parse(b"\xef\xbb", b"\xbfdata: x\n\n") == [SSEEvent(data="x")]
    # A BOM later is part of a field name, so that line is an unknown field.
    assert parse(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == [SSEEvent(data="x")]


def test_invalid_utf8_is_replaced() -> None:
    assert parse(b"data: a\xffb\n\n") == [SSEEvent(data="a\ufffdb")]


def test_eof_drops_an_unfinished_event_and_ends() -> None:
    parser = SSEParser()
    assert parse(b"data: done\n\ndata: cut", parser=parser) == [SSEEvent(data="done")]
    assert parser.ended
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")  # EOF twice is harmless
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"more")


def test_an_event_ended_by_a_blank_line_just_before_eof_counts() -> None:
    assert parse(b"data: x\n\n") == [SSEEvent(data="x")]
    assert parse(b"data: x\n") == []


def test_long_lines_and_events_are_refused() -> None:
    parser = SSEParser(max_line_size=10)
    with pytest.raises(RemoteProtocolError):
        parse(b"data: 0123456789\n", parser=parser, eof=False)
    with pytest.raises(LocalProtocolError):
        parser.next_event()
    unterminated = SSEParser(max_line_size=10)
    with pytest.raises(RemoteProtocolError):
        parse(*[b"x"] * 11, parser=unterminated, eof=False)
    big = SSEParser(max_event_size=8)
    with pytest.raises(RemoteProtocolError):
        parse(b"data: 1234\ndata: 5678\n\n", parser=big)


def test_a_long_line_fed_byte_by_byte_stays_fast() -> None:
    line = b"data: " + b"x" * 60_000 + b"\n\n"
    assert parse(*[line[i : i + 1] for i in range(len(line))]) == [SSEEvent(data="x" * 60_000)]


# ---------------------------------------------------------------------------------------------
# Properties: chunking does not matter; the writer's output parses back

field_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
    max_size=15,
)
events = st.builds(
    SSEEvent,
    event=st.one_of(st.just("message"), field_text.filter(lambda t: t != "")),
    data=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
    id=field_text,
    retry=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
)


def _reference_encode(event: SSEEvent, ending: str) -> bytes:
    """An event written independently of the code under test, with a chosen line ending."""
    lines = [f"event: {event.event}", f"id: {event.id}"]
    if event.retry is not None:
        lines.append(f"retry:{event.retry}")
    lines += [": a comment"]
    lines += [
        "data: " + part for part in event.data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return (ending.join(lines) + ending + ending).encode()


def _normalised(event: SSEEvent) -> SSEEvent:
    data = event.data.replace("\r\n", "\n").replace("\r", "\n")
    return SSEEvent(event.event, data, event.id, event.retry)


@settings(max_examples=80, deadline=None)
@given(
    stream_events=st.lists(events, max_size=6),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
    bom=st.booleans(),
)
def test_any_chunking_gives_the_same_events(
    stream_events: list[SSEEvent], endings: list[str], cuts: list[int], bom: bool
) -> None:
    data = b"\xef\xbb\xbf" if bom else b""
    for event, ending in zip(stream_events, itertools.cycle(endings), strict=False):
        data += _reference_encode(event, ending)
    expected = [_normalised(e) for e in stream_events]
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    assert parse(data) == expected
    assert parse(*[data[i : i + 1] for i in range(len(data))]) == expected
    assert parse(*[data[a:b] for a, b in itertools.pairwise(points)]) == expected


@settings(max_examples=80, deadline=None)
@given(stream_events=st.lists(events, max_size=6))
def test_writer_output_parses_back(stream_events: list[SSEEvent]) -> None:
    data = encode_sse_comment("hello") + encode_sse_comment()
    for event in stream_events:
        data += encode_sse_event(event.data, event=event.event, id=event.id, retry=event.retry)
    assert parse(data) == [_normalised(e) for e in stream_events]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(noise: bytes) -> None:
    parser = SSEParser(max_line_size=100, max_event_size=100)
    try:
        parse(noise, parser=parser)
    except RemoteProtocolError:
        with pytest.raises(LocalProtocolError):
            parser.next_event()


def test_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(LocalProtocolError):
        encode_sse_event("x", event="a\nb")
    with pytest.raises(LocalProtocolError):
        encode_sse_event("x", id="a\rb")
    with pytest.raises(LocalProtocolError):
        encode_sse_event("x", id="a\x00b")
    with pytest.raises(LocalProtocolError):
        encode_sse_event("x", retry=-1)
    with pytest.raises(LocalProtocolError):
        encode_sse_event(b"x")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode_sse_comment("two\nlines")
    assert encode_sse_event("a\r\nb", event="log", id="1", retry=5) == (
        b"event: log\nid: 1\nretry: 5\ndata: a\ndata: b\n\n"
    )


# ---------------------------------------------------------------------------------------------
# JSON build-log polling


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("❌ Step 3 failed", "ERROR"),
        ("ERROR: no space left", "ERROR"),
        ("⚠️ cache miss", "WARN"),
        ("WARN: slow mirror", "WARN"),
        ("Step 1/4: FROM python:3.11", "INFO"),
        ("an error in lower case", "INFO"),
    ],
)
def test_levels_are_guessed_like_the_official_clients(line: str, level: str) -> None:
    assert guess_log_level(line) == level


def test_poll_loop_until_complete() -> None:
    poller = BuildLogPoller("tmpl_1")
    assert poller.query() == BuildLogsQuery(build_id="tmpl_1", offset=0)
    first = poller.feed(
        {"logs": "Step 1\n\n⚠ slow\n", "offset": 14, "status": "building", "complete": False}
    )
    assert first.lines == (LogLine("INFO", "Step 1"), LogLine("WARN", "⚠ slow"))
    assert first.lines[0].as_dict() == {"level": "INFO", "message": "Step 1", "timestamp": ""}
    assert (first.offset, first.status, first.done) == (14, "building", False)
    assert poller.query().offset == 14
    # A reply without an offset (or 0, or behind us) keeps ours.
    second = poller.feed({"logs": "", "status": "building"})
    assert second.offset == 14
    assert second.lines == ()
    third = poller.feed(BuildLogs(logs="ERROR boom\nDone", offset=30, status="failed"))
    assert third.done
    assert poller.done
    assert poller.status == "failed"
    assert [line.level for line in third.lines] == ["ERROR", "INFO"]
    with pytest.raises(LocalProtocolError):
        poller.feed({"logs": "late"})
    with pytest.raises(LocalProtocolError):
        poller.query()


@pytest.mark.parametrize(
    "reply",
    [
        {"complete": True},
        {"status": "active"},
        {"status": "success"},
        {"status": "failed", "complete": False},
    ],
)
def test_done_by_complete_or_a_final_status(reply: dict[str, object]) -> None:
    assert BuildLogPoller("t").feed(reply).done


def test_missing_keys_take_the_official_defaults() -> None:
    update = BuildLogPoller("t", offset=5).feed({})
    assert (update.lines, update.offset, update.status, update.done) == ((), 5, "unknown", False)


@pytest.mark.parametrize(
    "reply",
    [{"offset": "12"}, {"complete": "yes"}, {"logs": ["a"]}, {"offset": -1}],
)
def test_wrong_values_in_a_reply_are_remote_errors(reply: dict[str, object]) -> None:
    with pytest.raises(RemoteProtocolError):
        BuildLogPoller("t").feed(reply)


def test_poller_arguments_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        BuildLogPoller("")
    with pytest.raises(LocalProtocolError):
        BuildLogPoller("t", offset=-1)
    with pytest.raises(LocalProtocolError):
        BuildLogPoller("t").feed("logs")  # type: ignore[arg-type]


def test_retry_without_data_still_sets_the_reconnection_time() -> None:
    parser = SSEParser()
    parser.receive_data(b"retry: 1500\n\ndata: x\n\n")
    event = parser.next_event()
    assert isinstance(event, SSEEvent)
    assert event.data == "x"
    assert event.retry is None  # the retry belonged to the block before, which had no data
    assert parser.reconnection_time == 1500
