"""Replies rendered in pieces are byte for byte what the operations render whole."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from runtime_support import file_runtime

from hopx_local._server import bodies
from hopx_proto.ops import FILES_LIST, FILES_READ

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(_text, _json, max_size=6))
def test_pieces_join_into_the_whole_rendering(doc: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bodies, "_CHARS", 3)  # every string and list longer than this is cut
        patch.setattr(bodies, "_ITEMS", 2)
        pieces = bodies.encode_in_pieces(doc)
    assert b"".join(pieces) == FILES_READ.render(doc).body


def test_a_listing_in_pieces_is_the_listing(tmp_path: pathlib.Path) -> None:
    sandbox = file_runtime(tmp_path / "sbx")
    for name in ("b", "a", "é", 'with "quotes" and \\', "z" * 255):
        (sandbox.layout.workspace / name).write_text(name)
    (sandbox.layout.workspace / "dir").mkdir()
    entries = sandbox.files.list("/workspace")
    count, encoded = sandbox.files.list_encoded("/workspace")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bodies, "_CHARS", 7)
        pieces = bodies.listing_pieces("/workspace", count, encoded)
    whole = FILES_LIST.render({"files": entries, "path": "/workspace", "count": len(entries)})
    assert b"".join(pieces) == whole.body
    assert [entry["name"] for entry in json.loads(b"".join(pieces))["files"]] == sorted(
        ["a", "b", "dir", "é", 'with "quotes" and \\', "z" * 255]
    )
