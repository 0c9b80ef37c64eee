"""The stream machines' JSON fast path decodes exactly what json.loads does."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from hopx_proto._streams._base import _loads

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
SPACE = st.text(alphabet=" \t\r\n", max_size=3)


def outcome(decode: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", decode(text)
    except (ValueError, RecursionError) as exc:
        return "error", type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(value=JSON, before=SPACE, after=SPACE, ascii_only=st.booleans())
def test_documents_decode_alike(value: Any, before: str, after: str, ascii_only: bool) -> None:
    text = before + json.dumps(value, ensure_ascii=ascii_only) + after
    assert outcome(_loads, text) == outcome(json.loads, text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40) | st.sampled_from(["", " ", "{", '{"a":1} x', "[1,]", "NaN"]))
def test_any_text_decodes_or_fails_alike(text: str) -> None:
    assert outcome(_loads, text) == outcome(json.loads, text)
