"""Lists and maps of plain values decode as each item would alone: the same values (copies,
not the parsed objects themselves) and, for a wrong item, the error naming its JSON path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from hopx_proto import EnvVars, HealthFeatures, RemoteProtocolError
from hopx_proto.wire import from_wire

ITEM = st.text(max_size=5) | st.integers() | st.none() | st.booleans() | st.floats()


@given(values=st.dictionaries(st.text(max_size=5), ITEM, max_size=6))
def test_a_map_of_strings_decodes_or_names_the_first_wrong_value(values: dict[str, Any]) -> None:
    wrong = [k for k, v in values.items() if not isinstance(v, str)]
    if not wrong:
        env = from_wire(EnvVars, {"env_vars": values})
        assert env.env_vars == values
        assert env.env_vars is not values
        return
    with pytest.raises(RemoteProtocolError, match="expected a string") as caught:
        from_wire(EnvVars, {"env_vars": values})
    assert str(caught.value).startswith(f"env_vars.{wrong[0]}:")


def test_a_list_of_strings_names_the_index_of_a_wrong_item() -> None:
    ok = from_wire(HealthFeatures, {"languages": ["python", "bash"]})
    assert ok.languages == ["python", "bash"]
    with pytest.raises(RemoteProtocolError, match=r"languages\[2\]: expected a string"):
        from_wire(HealthFeatures, {"languages": ["python", "bash", 3]})
