"""The public surface of each package is pinned: a change to it is a deliberate change here."""

from __future__ import annotations

import importlib
import json
import pathlib

import pytest

PACKAGES = [
    "hopx_proto",
    "hopx_proto.ops",
    "hopx_proto.streams",
    "hopx_proto.wire",
    "hopx_proto.policy",
    "hopx_proto.aio",
    "hopx_proto.aio.api",
    "hopx_io",
    "hopx_trio",
    "hopx_asyncio",
    "hopx_sync",
    "hopx_local",
]
PINNED = json.loads((pathlib.Path(__file__).parent / "public_api.json").read_text())


@pytest.mark.parametrize("name", PACKAGES)
def test_surface_is_pinned(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == PINNED[name]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves_and_is_public(name: str) -> None:
    module = importlib.import_module(name)
    for attr in module.__all__:
        assert not attr.startswith("_"), attr
        assert hasattr(module, attr), f"{name}.{attr} is listed but missing"


def test_adapters_export_the_same_api() -> None:
    trio_api = set(importlib.import_module("hopx_trio").__all__) - {"TrioBackend"}
    anyio_api = set(importlib.import_module("hopx_asyncio").__all__) - {"AsyncioBackend"}
    assert trio_api == anyio_api
