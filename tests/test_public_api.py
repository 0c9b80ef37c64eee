"""The public surface of each package is pinned: a change to it is a deliberate change here."""

from __future__ import annotations

import importlib
import json
import pathlib
import subprocess
import sys

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


@pytest.mark.parametrize("name", PACKAGES)
def test_dir_lists_every_exported_name(name: str) -> None:
    """A name that loads its submodule on first access is still listed before that access."""
    module = importlib.import_module(name)
    assert set(module.__all__) <= set(dir(module))


def test_a_name_loaded_on_first_access_is_the_submodules_own() -> None:
    """The names whose submodule loads on first use resolve to the very object defined there."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import hopx_trio, hopx_asyncio, hopx_proto.aio as aio\n"
            "late = ['hopx_trio._backend', 'hopx_asyncio._backend', 'hopx_proto.aio._desktop',\n"
            "        'hopx_proto.aio._websocket']\n"
            "print(*[m in sys.modules for m in late])\n"
            "print(hopx_trio.TrioBackend is sys.modules['hopx_trio._backend'].TrioBackend,\n"
            "      hopx_asyncio.AsyncioBackend is\n"
            "      sys.modules['hopx_asyncio._backend'].AsyncioBackend,\n"
            "      aio.AsyncDesktop is sys.modules['hopx_proto.aio._desktop'].AsyncDesktop,\n"
            "      aio.WebSocketSession is\n"
            "      sys.modules['hopx_proto.aio._websocket'].WebSocketSession)\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split() == ["False"] * 4 + ["True"] * 4


def test_the_template_builders_names_are_its_own() -> None:
    """Read on first access, each name of the template builder is the one its module defines:
    ``hopx_proto.aio.Template`` the builder, not the description it extends."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import hopx_asyncio, hopx_trio, hopx_proto.aio as aio, hopx_proto.aio.api as api\n"
            "print('hopx_proto._template' in sys.modules)\n"
            "builder = aio.Template\n"
            "flow = sys.modules['hopx_proto.aio._template']\n"
            "description = sys.modules['hopx_proto._template']\n"
            "print(aio.Template is flow.Template, aio.Template is not description.Template,\n"
            "      api.BuildOptions is description.BuildOptions, api.VM is flow.VM,\n"
            "      aio.wait_for_port is description.wait_for_port,\n"
            "      issubclass(hopx_asyncio.Template, flow.Template),\n"
            "      hopx_asyncio.Template._sandbox_class is hopx_asyncio.AsyncSandbox,\n"
            "      callable(hopx_trio.create_template),\n"
            "      hopx_trio.BuildResult is flow.BuildResult)\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"] + ["True"] * 9
