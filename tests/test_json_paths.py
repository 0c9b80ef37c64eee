"""Both JSON paths (orjson, with the ``speedups`` extra, and the standard library's scanner)
give exactly what ``json.loads`` gives, results and errors, for text and for bytes."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from hopx_proto import _json

ROOT = pathlib.Path(__file__).resolve().parent.parent

PATHS = [pytest.param(_json.stdlib_loads, id="stdlib")]
if _json.orjson_loads is not None:
    PATHS.append(pytest.param(_json.orjson_loads, id="orjson"))

#: Numbers where the two parsers part: integers past 64 bits, huge and tiny exponents.
NUMBERS = (
    st.integers()
    | st.integers(min_value=2**63 - 3, max_value=2**64 + 3)
    | st.integers(min_value=-(2**63) - 3, max_value=-(2**63) + 3)
    | st.integers(min_value=10**19, max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
SPACE = st.text(alphabet=" \t\r\n", max_size=2)
ODD = st.sampled_from(
    [
        "", " ", "{", "[1,]", "NaN", "[Infinity]", "-Infinity", "1e400", "[-1e400]", '"\\ud800"',
        '{"a":"\\udfff"}', "\ufeff{}", '{"a":1,"a":2}', "[" * 3000 + "]" * 3000, "01", "1.",
        "-", "tru", '"\x00"', "\ud800", "[1e19]", "18446744073709551616", "-0", "-0.0", "1E5",
    ]
)  # fmt: skip


def outcome(decode: Any, data: str | bytes) -> tuple[str, Any]:
    try:
        value = decode(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return "error", type(exc).__name__
    # repr tells 1 from 1.0 and -0.0 from 0.0, which == does not
    return "ok", repr(value)


@pytest.mark.parametrize("decode", PATHS)
@settings(max_examples=300, deadline=None)
@given(value=JSON, before=SPACE, after=SPACE, ascii_only=st.booleans(), as_bytes=st.booleans())
def test_documents_decode_alike(
    decode: Any, value: Any, before: str, after: str, ascii_only: bool, as_bytes: bool
) -> None:
    text = before + json.dumps(value, ensure_ascii=ascii_only) + after
    data: str | bytes = text.encode() if as_bytes else text
    assert outcome(decode, data) == outcome(json.loads, data)


@pytest.mark.parametrize("decode", PATHS)
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40) | ODD)
def test_any_text_decodes_or_fails_alike(decode: Any, text: str) -> None:
    assert outcome(decode, text) == outcome(json.loads, text)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8
        return
    assert outcome(decode, data) == outcome(json.loads, data)


@pytest.mark.parametrize("decode", PATHS)
@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=30)
    | st.sampled_from(
        [b"\xef\xbb\xbf{}", '{"a":1}'.encode("utf-16"), "[1]".encode("utf-32"), b'"\xff"']
    )
)
def test_any_bytes_decode_or_fail_alike(decode: Any, data: bytes) -> None:
    assert outcome(decode, data) == outcome(json.loads, data)


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout.strip()


def test_without_orjson_the_stdlib_path_serves_bodies_and_frames() -> None:
    out = _run(
        """
        import sys
        sys.modules["orjson"] = None  # as if the speedups extra were not installed
        from hopx_proto import _json
        from hopx_proto._streams._base import decode_frame
        from hopx_proto.streams import Stdout
        from hopx_proto.wire import loads
        frame = decode_frame('{"type":"stdout","data":"hi","n":18446744073709551616}',
                             {"stdout": Stdout})
        assert isinstance(frame, Stdout), frame
        print(_json.ORJSON, _json.loads is _json.stdlib_loads, loads(b'[18446744073709551616]'),
              frame["n"])
        """
    )
    assert out == "False True [18446744073709551616] 18446744073709551616"


@pytest.mark.skipif(_json.orjson_loads is None, reason="orjson is not installed")
def test_with_orjson_bodies_and_frames_take_its_path() -> None:
    assert _json.ORJSON
    assert _json.loads is _json.orjson_loads
    # an integer past 64 bits stays exact, as json.loads keeps it
    assert _json.loads('{"n":18446744073709551616}') == {"n": 18446744073709551616}
    assert type(_json.loads(b"[-9223372036854775809]")[0]) is int
