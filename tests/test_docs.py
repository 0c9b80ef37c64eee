"""The documentation agrees with the code.

- every public name of the packages is in the API reference;
- the generated parts (state diagrams, operation table, re-export tables) are up to date;
- every page is in the navigation, and every relative link leads to a page that exists;
- every Python snippet parses, and the getting-started programs run against the emulator.

Building the site itself (``mkdocs build --strict``) is the ``docs`` make target.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
from types import ModuleType

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

#: Each package and the reference pages that document it.
PAGES = {
    "hopx_proto": ["hopx_proto.md"],
    "hopx_proto.ops": ["hopx_proto_ops.md"],
    "hopx_proto.streams": ["hopx_proto_streams.md"],
    "hopx_proto.wire": ["hopx_proto_wire.md"],
    "hopx_proto.policy": ["hopx_proto_policy.md"],
    "hopx_proto.aio": ["sandbox.md", "hopx_proto_aio.md"],
    "hopx_io": ["hopx_io.md"],
    "hopx_asyncio": ["hopx_asyncio.md"],
    "hopx_trio": ["hopx_trio.md"],
    "hopx_sync": ["hopx_sync.md"],
    "hopx_local": ["hopx_local.md"],
}

DIRECTIVE = re.compile(r"^::: (?P<module>[\w.]+)\n(?P<options>(?:[ ]{4}.*\n)*)", re.MULTILINE)
MEMBERS = re.compile(r"^\s+members: \[(?P<names>[^\]]*)\]", re.MULTILINE)
REEXPORT_ROW = re.compile(r"^\| `(?P<name>\w+)` \| \[`(?P<target>[\w.]+)`\]", re.MULTILINE)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[pathlib.Path]:
    return sorted(DOCS.rglob("*.md"))


def _documented(*pages: str) -> dict[str, set[str]]:
    """Module -> the names the reference pages render or list."""
    text = "".join((REFERENCE / page).read_text(encoding="utf-8") for page in pages)
    found: dict[str, set[str]] = {}
    for match in DIRECTIVE.finditer(text):
        module = importlib.import_module(match["module"])
        members = MEMBERS.search(match["options"])
        if members:
            names = {n.strip() for n in members["names"].split(",") if n.strip()}
        else:
            names = set(getattr(module, "__all__", ()))
        found.setdefault(match["module"], set()).update(names)
    return found


@pytest.mark.parametrize("package", sorted(PAGES))
def test_every_public_name_is_in_the_reference(package: str) -> None:
    module = importlib.import_module(package)
    documented = _documented(*PAGES[package]).get(package, set())
    text = "".join((REFERENCE / page).read_text(encoding="utf-8") for page in PAGES[package])
    for row in REEXPORT_ROW.finditer(text):
        target_module, _, target_name = row["target"].rpartition(".")
        assert target_name in _documented(*PAGES[target_module]).get(target_module, set()), row[0]
        documented.add(row["name"])
    missing = sorted(set(module.__all__) - documented)
    assert not missing, f"{package}: not in docs/reference/{PAGES[package]}: {missing}"


def test_the_pytest_fixture_is_in_the_reference() -> None:
    assert "hopx_local" in _documented("hopx_local.md")["hopx_local.pytest_plugin"]


@pytest.mark.parametrize("name", ["state diagrams", "operation table", "re-exports"])
def test_generated_parts_are_up_to_date(name: str) -> None:
    blocks = [b for b in _generator().BLOCKS if b.name == name]
    assert blocks
    for block in blocks:
        assert block.current(DOCS) == block.text(), (
            f"docs/{block.page} is stale: run .venv/bin/python docs/generate.py --write"
        )


def test_state_diagrams_draw_every_transition() -> None:
    from hopx_proto._streams import STREAMS

    generator = _generator()
    for spec in STREAMS.values():
        drawn = generator.diagram(spec)
        for state, _direction, message, after in spec.rows():
            shown = "unknown frame" if message == "(unknown)" else message
            edge = re.compile(
                rf"^    {state} --> {after}: \w+ sends (?:[\w ]+, )*{re.escape(shown)}(?:,|$)",
                re.MULTILINE,
            )
            assert edge.search(drawn), (spec.path, state, message, after)


def test_every_page_is_in_the_navigation() -> None:
    nav = set(re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", _mkdocs_yml(), re.MULTILINE))
    pages = {str(p.relative_to(DOCS)) for p in _pages()}
    assert pages == nav, {"not in nav": pages - nav, "no such page": nav - pages}


def _mkdocs_yml() -> str:
    return (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_relative_links_lead_to_pages() -> None:
    broken = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            target = match["target"].split("#", 1)[0]
            if not target or "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).resolve().is_file():
                broken.append(f"{page.relative_to(DOCS)}: {match['target']}")
    assert not broken


def test_python_snippets_parse() -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
    for page in _pages():
        for block in PYTHON_BLOCK.finditer(page.read_text(encoding="utf-8")):
            line = page.read_text(encoding="utf-8")[: block.start()].count("\n") + 2
            try:
                compile(block["code"], f"{page.relative_to(DOCS)}:{line}", "exec", flags)
            except SyntaxError as exc:
                pytest.fail(f"{exc.filename}: {exc.msg}")


def _getting_started_programs() -> list[str]:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    return [m["code"] for m in PYTHON_BLOCK.finditer(text) if "async def main" in m["code"]]


def test_getting_started_has_three_programs() -> None:
    programs = _getting_started_programs()
    assert len(programs) == 3
    assert any("hopx_trio" in p for p in programs)
    assert any("hopx_local.serve()" in p for p in programs)


@pytest.mark.slow
def test_getting_started_synchronous_program_runs(tmp_path: pathlib.Path) -> None:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    (code,) = [m["code"] for m in PYTHON_BLOCK.finditer(text) if "from hopx_sync" in m["code"]]
    program = tmp_path / "prog.py"
    program.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPX_")}
    done = subprocess.run(
        [sys.executable, "-m", "hopx_local", "run", "--", sys.executable, str(program)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "42\ntick 0\ntick 1\ntick 2\n" in done.stdout, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("index", range(3))
def test_getting_started_programs_run(index: int, tmp_path: pathlib.Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(_getting_started_programs()[index], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPX_")}
    command = [sys.executable, str(program)]
    if "hopx_local.serve()" not in program.read_text(encoding="utf-8"):
        command = [sys.executable, "-m", "hopx_local", "run", "--", *command]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = "42\n 0\n" if "serve()" in program.read_text(encoding="utf-8") else "tick 2\n"
    assert expected in done.stdout, done.stdout


def test_roles_become_references() -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = hooks.on_page_content(
        "see :class:<code>~hopx_local.LocalServer</code> and :meth:<code>AsyncSandbox.aclose</code>"
        " and :data:<code>NEED_DATA</code>, not :class:<code>ssl.SSLContext</code>"
    )
    assert ":class:" not in page
    assert ":meth:" not in page
    assert '<autoref identifier="hopx_local.LocalServer" optional><code>LocalServer</code>' in page
    assert 'identifier="hopx_proto.aio.AsyncSandbox.aclose"' in page
    assert 'identifier="hopx_proto.NEED_DATA"' in page
    assert 'identifier="ssl.SSLContext" optional><code>ssl.SSLContext</code>' in page


#: Pages whose snippets run against the emulator, each with a fresh ``sandbox`` in scope.
SNIPPET_PAGES = (
    "concepts.md",
    "emulator.md",
    *(f"guides/{p.name}" for p in (DOCS / "guides").glob("*.md")),
)
NOT_RUN = "<!-- not run by the tests:"

SNIPPET_RUNNER = """
import ast, asyncio, os, pathlib, sys
import anyio
import hopx_local
from hopx_asyncio import AsyncSandbox

async def main(snippets):
    failures = []
    async with hopx_local.serve() as local:
        os.environ.update(local.env)
        for where, code in snippets:
            sandbox = await AsyncSandbox.create(template="code-interpreter", timeout_seconds=300)
            await sandbox.files.write("/workspace/model.bin", "model")
            scope = {"sandbox": sandbox, "sandbox_id": sandbox.sandbox_id, "asyncio": asyncio,
                     "anyio": anyio, "hopx_local": hopx_local}
            try:
                flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                result = eval(compile(code, where, "exec", flags=flags), scope)
                if asyncio.iscoroutine(result):
                    with anyio.fail_after(60):
                        await result
            except BaseException as exc:
                failures.append(f"{where}: {type(exc).__name__}: {exc}")
            finally:
                try:
                    await sandbox.kill()
                except Exception:
                    pass
    print("\\n".join(failures), file=sys.stderr)
    return 1 if failures else 0

snippets = [tuple(pair) for pair in __import__("json").loads(sys.argv[1])]
sys.exit(asyncio.run(main(snippets)))
"""


def _runnable_snippets() -> list[tuple[str, str]]:
    found = []
    for name in SNIPPET_PAGES:
        text = (DOCS / name).read_text(encoding="utf-8")
        for block in PYTHON_BLOCK.finditer(text):
            code = block["code"]
            before = text[: block.start()].rstrip().rsplit("\n", 1)[-1]
            skipped = (
                before.startswith(NOT_RUN)
                or "async def main" in code
                or "trio." in code
                or "pytest" in code
            )
            if not skipped:
                line = text[: block.start()].count("\n") + 2
                found.append((f"{name}:{line}", code))
    return found


def test_most_guide_snippets_are_run() -> None:
    assert len(_runnable_snippets()) >= 15


@pytest.mark.slow
def test_guide_snippets_run_against_the_emulator(tmp_path: pathlib.Path) -> None:
    import json

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_bytes(b"a,b\n1,2\n" * 40_000)
    runner = tmp_path / "run_snippets.py"
    runner.write_text(SNIPPET_RUNNER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPX_")}
    done = subprocess.run(
        [sys.executable, str(runner), json.dumps(_runnable_snippets())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
