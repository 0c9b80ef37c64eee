"""The operation table covers every path and method of the service's OpenAPI files."""

from __future__ import annotations

import json
import pathlib

import pytest

from hopx_proto._ops import OPERATIONS, Plane

HERE = pathlib.Path(__file__).parent
SPEC = json.loads((HERE / "spec_paths.json").read_text())
SHARED = HERE.parent.parent / "shared" / "spec"


def _table() -> set[tuple[str, str, str]]:
    return {(op.plane.value, op.method, op.path) for op in OPERATIONS.values()}


def _norm(path: str) -> str:
    """Path templates compare without parameter names."""
    import re

    return re.sub(r"\{[^}]+\}", "{}", path)


ALL_PATHS = [tuple(x) for x in SPEC["spec"] + SPEC["extra"]]


@pytest.mark.parametrize(("plane", "method", "path"), ALL_PATHS)
def test_every_spec_operation_has_a_codec(plane: str, method: str, path: str) -> None:
    table = {(p, m, _norm(x)) for p, m, x in _table()}
    assert (plane, method, _norm(path)) in table, f"no operation for {plane} {method} {path}"


def test_spec_list_matches_openapi_files() -> None:
    if not SHARED.exists():
        pytest.skip("the service's OpenAPI files are not beside this checkout")
    found = []
    for name, plane in (("openapi_public.json", "control"), ("openapi_agent.json", "agent")):
        doc = json.loads((SHARED / name).read_text())
        found += [
            [plane, method.upper(), path]
            for path, ops in doc["paths"].items()
            for method in ops
            if method in ("get", "post", "put", "patch", "delete")
        ]
    assert sorted(found) == SPEC["spec"]


def test_names_are_unique_and_planes_consistent() -> None:
    for name, op in OPERATIONS.items():
        assert op.name == name
        assert isinstance(op.plane, Plane)
        assert op.path.startswith("/")
