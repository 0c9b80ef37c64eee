"""How the packages import each other: siblings use only the public names of ``hopx_proto``,
each public submodule of the core loads on its own, and every import is at the top of its
module where tools can see it."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Every package beside the core: each top-level package of the distribution but hopx_proto.
SIBLINGS = sorted(
    path.parent.name for path in ROOT.glob("hopx_*/__init__.py") if path.parent.name != "hopx_proto"
)


def _private_core_names(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, name)`` of every private ``hopx_proto`` module an import (or an import by
    name, as a string) in ``tree`` reaches."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("hopx_proto.") else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "hopx_proto" and any(part.startswith("_") for part in parts[1:]):
                found.append((getattr(node, "lineno", 0), name))
    return found


def test_the_sibling_packages_are_found() -> None:
    assert {"hopx_asyncio", "hopx_trio", "hopx_sync", "hopx_local", "hopx_io"} <= set(SIBLINGS)


@pytest.mark.parametrize("package", SIBLINGS)
def test_siblings_import_only_public_core_names(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        bad += [
            f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in _private_core_names(tree)
        ]
    assert not bad, "private modules of hopx_proto imported:\n" + "\n".join(bad)


def test_the_check_sees_a_private_import() -> None:
    tree = ast.parse(
        "from hopx_proto._errors import HopxError\n"
        "import hopx_proto.aio._backend\n"
        "from hopx_proto import _http\n"
        "from hopx_proto.streams import WebSocket\n"
        "name = 'hopx_proto._ws'\n"
    )
    assert [name for _, name in _private_core_names(tree)] == [
        "hopx_proto._errors",
        "hopx_proto._errors.HopxError",
        "hopx_proto.aio._backend",
        "hopx_proto._http",
        "hopx_proto._ws",
    ]


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("statement", "not_loaded"),
    [
        (
            "import hopx_proto",
            {
                "hopx_proto.ops",
                "hopx_proto.streams",
                "hopx_proto._streams",
                "hopx_proto._ws",
                "hopx_proto._sse",
                "hopx_proto.wire",
                "hopx_proto.policy",
                "hopx_proto.aio",
                "wsproto",
                "hopx_proto._ops.desktop",
                "hopx_proto._ops.agent",
                "hopx_proto._multipart",
            },
        ),
        ("import hopx_proto.streams", {"hopx_proto.aio", "hopx_proto.ops"}),
        ("import hopx_proto.wire", {"hopx_proto.aio", "hopx_proto.streams"}),
        ("import hopx_proto.aio", {"trio", "anyio", "asyncio"}),
        ("import hopx_asyncio", {"trio", "anyio"}),
        ("import hopx_trio", {"anyio"}),
        ("import hopx_sync", {"trio", "anyio", "asyncio"}),
        # What the clients' import leaves to the first use of the path that needs it.
        (
            "from hopx_asyncio import AsyncSandbox",
            {"asyncio", "hopx_asyncio._backend", "hopx_io", "trio", "logging"}
            | {"tarfile", "glob", "shutil", "difflib", "hmac"}
            | {"hopx_proto._ops.desktop", "hopx_proto.aio._desktop"}
            | {"hopx_proto._ws", "hopx_proto.aio._websocket", "hashlib", "hopx_proto._streams"}
            | {"hopx_proto._template", "hopx_proto.aio._template", "hopx_proto._sse"}
            | {"hopx_asyncio._template"},
        ),
        (
            "from hopx_trio import AsyncSandbox",
            {"trio", "hopx_trio._backend", "hopx_io", "asyncio", "logging"}
            | {"tarfile", "glob", "shutil", "difflib", "hmac"}
            | {"hopx_proto._ops.desktop", "hopx_proto.aio._desktop"}
            | {"hopx_proto._ws", "hopx_proto.aio._websocket", "hashlib", "hopx_proto._streams"}
            | {"hopx_proto._template", "hopx_proto.aio._template", "hopx_proto._sse"}
            | {"hopx_trio._template"},
        ),
    ],
)
def test_each_public_submodule_loads_on_its_own(statement: str, not_loaded: set[str]) -> None:
    assert not (_loaded_after(statement) & not_loaded)


def _checked_modules() -> list[pathlib.Path]:
    paths = []
    for package in ("hopx_proto", "hopx_io", "hopx_trio", "hopx_asyncio", "hopx_sync"):
        paths += sorted((ROOT / package).rglob("*.py"))
    return paths


#: Where a part that few programs use loads, as a whole submodule, on its first use: each
#: ``(file, place, module)`` is an import inside the function ``place`` (or, for ``place``
#: ``"TYPE_CHECKING"``, the import that tells type checkers what a module ``__getattr__``
#: returns). Nothing else of the project is imported anywhere but at the top of a module.
LOADING_POINTS = {
    # The event loop: the backend submodule, and trio or asyncio with it, loads with the
    # first client made (or the first access to the backend class), not with the package.
    ("hopx_trio/__init__.py", "TYPE_CHECKING", "_backend"),
    ("hopx_trio/__init__.py", "_load", "_backend"),
    ("hopx_asyncio/__init__.py", "TYPE_CHECKING", "_backend"),
    ("hopx_asyncio/__init__.py", "_load", "_backend"),
    # The template builder: its submodules (the core's description of a build and its flow,
    # each adapter's Template) with the first read of one of its names. The adapters read
    # hopx_proto.aio.api's names from it on first access, so that its builder's stay unloaded.
    ("hopx_trio/__init__.py", "TYPE_CHECKING", "hopx_proto.aio.api"),
    ("hopx_trio/__init__.py", "TYPE_CHECKING", "_template"),
    ("hopx_trio/__init__.py", "_load", "_template"),
    ("hopx_asyncio/__init__.py", "TYPE_CHECKING", "hopx_proto.aio.api"),
    ("hopx_asyncio/__init__.py", "TYPE_CHECKING", "_template"),
    ("hopx_asyncio/__init__.py", "_load", "_template"),
    ("hopx_proto/aio/api.py", "TYPE_CHECKING", "_template"),
    ("hopx_proto/aio/api.py", "__getattr__", "_template"),
    ("hopx_proto/aio/__init__.py", "TYPE_CHECKING", "_template"),
    ("hopx_proto/aio/__init__.py", "__getattr__", "_template"),
    # The desktop: its resource with AsyncSandbox.desktop, its operations with the resource
    # (or with hopx_proto.ops, or the table's first read).
    ("hopx_proto/aio/_sandbox.py", "TYPE_CHECKING", "_desktop"),
    ("hopx_proto/aio/_sandbox.py", "desktop", "_desktop"),
    ("hopx_proto/aio/__init__.py", "TYPE_CHECKING", "_desktop"),
    ("hopx_proto/aio/__init__.py", "__getattr__", "_desktop"),
    ("hopx_proto/_ops/__init__.py", "_whole", "agent"),
    ("hopx_proto/_ops/__init__.py", "_whole", "control"),
    ("hopx_proto/_ops/__init__.py", "_whole", "desktop"),
    ("hopx_proto/_ops/__init__.py", "_whole", "files"),
    # The WebSocket layer: with the first stream a sandbox opens.
    ("hopx_proto/aio/_agent.py", "TYPE_CHECKING", "_websocket"),
    ("hopx_proto/aio/_agent.py", "open_ws", "_websocket"),
    ("hopx_proto/aio/_terminal.py", "TYPE_CHECKING", "_websocket"),
    ("hopx_proto/aio/__init__.py", "TYPE_CHECKING", "_websocket"),
    ("hopx_proto/aio/__init__.py", "__getattr__", "_websocket"),
    # The stream machines: with the first stream of each kind (annotations name their events).
    ("hopx_proto/aio/_commands.py", "TYPE_CHECKING", "_streams"),
    ("hopx_proto/aio/_commands.py", "stream", "_streams"),
    ("hopx_proto/aio/_execution.py", "TYPE_CHECKING", "_streams"),
    ("hopx_proto/aio/_execution.py", "run_code_stream", "_streams"),
    ("hopx_proto/aio/_execution.py", "run_ipython_stream", "_streams"),
    ("hopx_proto/aio/_files.py", "TYPE_CHECKING", "_streams"),
    ("hopx_proto/aio/_files.py", "watch", "_streams"),
    ("hopx_proto/aio/_terminal.py", "TYPE_CHECKING", "_streams"),
    ("hopx_proto/aio/_terminal.py", "connect", "_streams"),
}
#: Files that may define a module ``__getattr__`` (PEP 562), for the loading points above.
MODULE_GETATTR = {
    "hopx_trio/__init__.py",
    "hopx_asyncio/__init__.py",
    "hopx_proto/aio/__init__.py",
    "hopx_proto/aio/api.py",
}


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        return [node.module or alias.name for alias in node.names]
    return [node.module or ""]


def _is_stdlib(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom) and node.level:
        return False
    return all(name.split(".")[0] in sys.stdlib_module_names for name in _imported(node))


def _late_imports() -> tuple[set[tuple[str, str, str]], list[str]]:
    """The imports of the project's own modules below the top of a module (as
    ``(file, place, module)``), and every other import that is not at the top."""
    found: set[tuple[str, str, str]] = set()
    bad: list[str] = []
    for path in _checked_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name == "__getattr__" and node in tree.body and where not in MODULE_GETATTR:
                    bad.append(f"{where}:{node.lineno}: a module __getattr__")
                for sub in ast.walk(node):
                    if not isinstance(sub, ast.Import | ast.ImportFrom) or _is_stdlib(sub):
                        continue
                    for name in _imported(sub):
                        found.add((where, node.name, name))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        found.update((where, "TYPE_CHECKING", name) for name in _imported(sub))
    return found, bad


def test_imports_sit_at_the_top_of_their_module() -> None:
    """What a module uses, it imports plainly at its top. The exceptions: a standard-library
    module that only a rare path needs, imported in the function that uses it; and the
    :data:`LOADING_POINTS`, each a part few programs use loaded as a submodule on first use."""
    found, bad = _late_imports()
    bad += [
        f"{where}: import of {name} inside {place}" for where, place, name in found - LOADING_POINTS
    ]
    bad += [
        f"{where}: the loading point of {name} in {place} is gone"
        for where, place, name in LOADING_POINTS - found
    ]
    assert not bad, "\n".join(bad)


def test_the_import_check_sees_a_late_import_of_our_own() -> None:
    tree = ast.parse(
        "def f():\n    import json\n    from . import _x\n    from hopx_proto import ops\n"
    )
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    imports = [node for node in function.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [_is_stdlib(node) for node in imports] == [True, False, False]
    assert [_imported(node) for node in imports] == [["json"], ["_x"], ["hopx_proto"]]


def _graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (relative imports, at any depth)."""
    directory = ROOT / package.replace(".", "/")
    graph: dict[str, set[str]] = {}
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    edges.add(node.module.split(".")[0])
                else:
                    edges.update(alias.name for alias in node.names)
        graph[name] = edges & {p.stem for p in directory.glob("*.py")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_client_package_has_no_import_cycle() -> None:
    graph = _graph("hopx_proto.aio")
    graph.pop("__init__")
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
