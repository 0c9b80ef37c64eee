"""JSON <-> attrs models: round trips, strictness, tolerance, timestamps."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Literal

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto._codec import dumps, from_wire, loads, parse_datetime, to_wire, wire
from hopx_proto._errors import HopxError, LocalProtocolError, RemoteProtocolError
from hopx_proto._models.control import SandboxInfo


@attrs.frozen
class Limits:
    """A nested model with plain fields."""

    cpu: int
    memory_mb: int = wire("memoryMB", aliases=("memory_mb",), default=0)


@attrs.frozen
class Entry:
    """A model with every supported field type."""

    name: str
    size: int
    ratio: float
    is_directory: bool = wire(aliases=("is_dir",))
    modified: dt.datetime | None = wire(default=None)
    kind: Literal["file", "dir"] = wire(default="file")
    tags: list[str] = wire(factory=list)
    labels: dict[str, int] = wire(factory=dict)
    limits: Limits | None = wire(default=None)
    children: list[Limits] = wire(factory=list)
    anything: Any = wire(default=None)
    note: str | None = wire(default=None, keep_none=True)
    extra: dict[str, Any] = attrs.field(factory=dict)


# ---------------------------------------------------------------------------------------------
# Round trips

_aware = st.datetimes(
    min_value=dt.datetime(1900, 1, 2),
    max_value=dt.datetime(9000, 1, 1),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(dt.timedelta(hours=-8)),
        ]
    ),
)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _finite | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_limits = st.builds(Limits, cpu=st.integers(), memory_mb=st.integers())
_entries = st.builds(
    Entry,
    name=st.text(),
    size=st.integers(-(2**70), 2**70),
    ratio=_finite,
    is_directory=st.booleans(),
    modified=st.none() | _aware,
    kind=st.sampled_from(["file", "dir"]),
    tags=st.lists(st.text(max_size=5), max_size=3),
    labels=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    limits=st.none() | _limits,
    children=st.lists(_limits, max_size=3),
    anything=_json_value,
    note=st.none() | st.text(max_size=5),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=5).map(lambda k: "x-" + k), _json_value, max_size=3
    ),
)


@settings(max_examples=300, deadline=None)
@given(_entries)
def test_model_round_trips_through_json_bytes(entry: Entry) -> None:
    wire_form = to_wire(entry)
    data = dumps(wire_form)
    assert b"\n" not in data
    back = from_wire(Entry, loads(data))
    assert back == entry
    assert to_wire(back) == wire_form


@settings(max_examples=100, deadline=None)
@given(_aware)
def test_datetimes_round_trip_as_utc_instants(value: dt.datetime) -> None:
    text = to_wire(value)
    assert text.endswith("Z")
    parsed = parse_datetime(text)
    assert parsed == value
    assert parsed.utcoffset() == dt.timedelta(0)


def test_encoding_uses_wire_names_and_omits_none() -> None:
    entry = Entry(name="a", size=1, ratio=0.5, is_directory=False, limits=Limits(2, 512))
    assert to_wire(entry) == {
        "name": "a",
        "size": 1,
        "ratio": 0.5,
        "is_directory": False,
        "kind": "file",
        "tags": [],
        "labels": {},
        "limits": {"cpu": 2, "memoryMB": 512},
        "children": [],
        "note": None,
    }


def test_dumps_is_compact_utf8() -> None:
    assert dumps({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()


# ---------------------------------------------------------------------------------------------
# Strictness: wrong types name the JSON path

_GOOD: dict[str, Any] = {"name": "n", "size": 3, "ratio": 1, "is_directory": True}


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"size": "3"}, "size"),
        ({"size": True}, "size"),
        ({"size": 1.5}, "size"),
        ({"ratio": "1.0"}, "ratio"),
        ({"ratio": False}, "ratio"),
        ({"is_directory": 1}, "is_directory"),
        ({"name": 7}, "name"),
        ({"name": None}, "name"),
        ({"kind": "link"}, "kind"),
        ({"tags": "a"}, "tags"),
        ({"tags": ["a", 2]}, "tags[1]"),
        ({"labels": []}, "labels"),
        ({"labels": {"k": "v"}}, "labels.k"),
        ({"limits": {"cpu": "2"}}, "limits.cpu"),
        ({"limits": []}, "limits"),
        ({"children": [{"cpu": 1}, {"cpu": 1, "memoryMB": "x"}]}, "children[1].memoryMB"),
        ({"children": [{"memoryMB": 1}]}, "children[0].cpu"),
        ({"modified": "yesterday"}, "modified"),
        ({"modified": 1700000000}, "modified"),
    ],
)
def test_wrong_types_are_remote_protocol_errors_naming_the_path(
    patch: dict[str, Any], path: str
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        from_wire(Entry, {**_GOOD, **patch})
    assert str(info.value).startswith(path + ":"), str(info.value)


def test_missing_required_field_and_non_object() -> None:
    with pytest.raises(RemoteProtocolError, match=r"^size: required field is missing"):
        from_wire(Entry, {"name": "n", "ratio": 1, "is_directory": True})
    with pytest.raises(RemoteProtocolError, match="expected an object"):
        from_wire(Entry, ["name"])
    with pytest.raises(RemoteProtocolError, match=r"^item\.size: required"):
        from_wire(Entry, {"name": "n", "ratio": 1, "is_dir": True}, path="item")


def test_integral_floats_are_integers() -> None:
    assert from_wire(Entry, {**_GOOD, "size": 3.0}).size == 3
    value = from_wire(Entry, {**_GOOD, "ratio": 2})
    assert value.ratio == 2.0
    assert isinstance(value.ratio, float)


@settings(max_examples=200, deadline=None)
@given(_json_value)
def test_any_json_decodes_or_raises_remote_protocol_error(value: Any) -> None:
    for target in (Entry, SandboxInfo, Limits):
        try:
            from_wire(target, value)
        except RemoteProtocolError:
            pass
        try:
            from_wire(target, {**_GOOD, "id": "s", "status": "x", "cpu": 1, "size": value})
        except RemoteProtocolError:
            pass


def test_integer_too_large_for_a_float_field() -> None:
    with pytest.raises(RemoteProtocolError, match=r"^ratio"):
        from_wire(
            Entry, loads(b'{"name":"n","size":1,"is_directory":true,"ratio":1' + b"0" * 400 + b"}")
        )


# ---------------------------------------------------------------------------------------------
# Tolerance


def test_null_lists_and_maps_read_as_empty() -> None:
    value = from_wire(Entry, {**_GOOD, "tags": None, "labels": None, "children": None})
    assert (value.tags, value.labels, value.children) == ([], {}, [])


def test_aliases_are_accepted_and_the_main_name_wins() -> None:
    value = from_wire(Entry, {"name": "n", "size": 1, "ratio": 1, "is_dir": True})
    assert value.is_directory is True
    both = from_wire(
        Entry, {"name": "n", "size": 1, "ratio": 1, "is_directory": False, "is_dir": True}
    )
    assert both.is_directory is False
    assert from_wire(Limits, {"cpu": 1, "memory_mb": 64}).memory_mb == 64
    assert to_wire(from_wire(Limits, {"cpu": 1, "memory_mb": 64})) == {"cpu": 1, "memoryMB": 64}


def test_unknown_keys_are_kept_in_extra_and_written_back() -> None:
    raw = {**_GOOD, "future_field": {"x": [1]}, "other": None}
    value = from_wire(Entry, raw)
    assert value.extra == {"future_field": {"x": [1]}, "other": None}
    assert to_wire(value)["future_field"] == {"x": [1]}
    # a model without an extra field ignores unknown keys
    assert from_wire(Limits, {"cpu": 1, "surprise": True}) == Limits(1)


def test_sandbox_info_alias_and_extras() -> None:
    info = from_wire(SandboxInfo, {"sandbox_id": "s1", "status": "running", "gpu": "none"})
    assert info.sandbox_id == "s1"
    assert info.extra == {"gpu": "none"}
    assert to_wire(info) == {"id": "s1", "status": "running", "public_host": "", "gpu": "none"}


def test_any_field_keeps_values_as_they_are() -> None:
    value = from_wire(Entry, {**_GOOD, "anything": {"deep": [1, "2", None]}})
    assert value.anything == {"deep": [1, "2", None]}


# ---------------------------------------------------------------------------------------------
# Timestamps

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T03:48:57Z", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        ("2026-11-27T03:48:57z", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        ("2026-11-27T03:48:57+00:00", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        ("2026-11-27T05:48:57+02:00", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        ("2026-11-26T22:18:57-05:30", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        ("2026-11-27T03:48:57.5Z", dt.datetime(2026, 11, 27, 3, 48, 57, 500000, tzinfo=UTC)),
        ("2026-11-27T03:48:57.123Z", dt.datetime(2026, 11, 27, 3, 48, 57, 123000, tzinfo=UTC)),
        (
            "2026-11-27T03:48:57.123456789Z",
            dt.datetime(2026, 11, 27, 3, 48, 57, 123456, tzinfo=UTC),
        ),
        (
            "2026-11-27T03:48:57.123456789+01:00",
            dt.datetime(2026, 11, 27, 2, 48, 57, 123456, tzinfo=UTC),
        ),
        ("2026-11-27T03:48:57", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
        (" 2026-11-27 03:48:57Z ", dt.datetime(2026, 11, 27, 3, 48, 57, tzinfo=UTC)),
    ],
)
def test_timestamps(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None
    assert from_wire(Entry, {**_GOOD, "modified": text}).modified == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "2026-13-01T00:00:00Z",
        "2026-11-27T25:00:00Z",
        "2026-11-27T03:48:57+25:00",
        "2026-11-27T03:48:57ZZ",
    ],
)
def test_bad_timestamps_are_remote_protocol_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError, match=r"^modified: expected an RFC 3339"):
        from_wire(Entry, {**_GOOD, "modified": text})


def test_timestamp_encoding() -> None:
    assert to_wire(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert to_wire(dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.000600Z"
    )
    offset = dt.timezone(dt.timedelta(hours=2))
    assert to_wire(dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=offset)) == "2026-01-02T03:04:05Z"
    assert to_wire(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


def test_long_fraction_is_parsed_in_linear_time() -> None:
    # A guard against quadratic parsing, not a speed target: linear work on 1.5 million
    # digits takes milliseconds, quadratic work hours, so the bound leaves a busy machine
    # three orders of magnitude of room.
    text = "2026-11-27T03:48:57." + "1" * 1_500_000 + "Z"
    start = time.perf_counter()
    parsed = parse_datetime(text)
    elapsed = time.perf_counter() - start
    assert parsed.microsecond == 111111
    assert elapsed < 5


def test_decoded_timestamp_near_the_end_of_time_encodes() -> None:
    value = from_wire(Entry, {**_GOOD, "modified": "9999-12-31T23:59:59-05:00"})
    assert isinstance(to_wire(value)["modified"], str)


# ---------------------------------------------------------------------------------------------
# loads / dumps errors


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b"1" * 5000,
        b"{'a': 1}",
        b"NaN-ish",
        '{"a": 1} trailing',
    ],
)
def test_loads_refuses_non_json_with_remote_protocol_error(data: bytes | str) -> None:
    with pytest.raises(RemoteProtocolError, match=r"^reply is not valid JSON"):
        loads(data, what="reply")


def test_loads_accepts_utf8_and_text() -> None:
    assert loads('{"a":"é"}'.encode()) == {"a": "é"}
    assert loads('{"a":"é"}') == {"a": "é"}
    assert loads(json.dumps({"n": None})) == {"n": None}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1j: 1}])
def test_dumps_refuses_what_json_cannot_carry(value: object) -> None:
    with pytest.raises(LocalProtocolError):
        dumps({"x": value})


def test_errors_are_ours() -> None:
    with pytest.raises(HopxError):
        loads(b"}")
