"""Names loaded on first use: the tables agree with the typed imports, and importing a
package does not load what it defers."""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAZY_PACKAGES = ["hopx_proto", "hopx_proto.aio", "hopx_asyncio", "hopx_trio"]


def type_checking_imports(package: str) -> dict[str, tuple[str, str]]:
    """``{public name: (module, name there)}`` of the imports under ``if TYPE_CHECKING:``."""
    path = ROOT / (package.replace(".", "/") + "/__init__.py")
    found: dict[str, tuple[str, str]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for item in node.body:
                assert isinstance(item, ast.ImportFrom)
                module = "." * item.level + (item.module or "")
                for alias in item.names:
                    found[alias.asname or alias.name] = (module, alias.name)
    return found


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_table_matches_the_typed_imports_and_all(package: str) -> None:
    module = importlib.import_module(package)
    sources = module._SOURCES
    assert type_checking_imports(package) == sources
    for name in sources:
        assert name in module.__all__, name
        value = getattr(module, name)  # imported on first read
        source_module = importlib.import_module(sources[name][0], package)
        assert value is getattr(source_module, sources[name][1])
        assert module.__dict__[name] is value  # kept: later reads are plain look-ups
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", ["hopx_proto", "hopx_asyncio", "hopx_trio"])
def test_importing_a_package_defers_streams_and_desktop(package: str) -> None:
    code = (
        f"import sys, {package}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('hopx_proto'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(out.stdout.split())
    for deferred in ("hopx_proto._streams", "hopx_proto._ws", "hopx_proto._models.desktop"):
        assert deferred not in loaded, (package, deferred)
