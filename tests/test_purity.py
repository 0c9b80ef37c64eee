"""hopx_proto stays pure: no module of it imports I/O, clocks, randomness or event loops."""

from __future__ import annotations

import ast
import pathlib

BANNED = {
    "socket",
    "ssl",
    "asyncio",
    "trio",
    "anyio",
    "selectors",
    "threading",
    "time",
    "random",
    "secrets",
    "httpx",
    "aiohttp",
    "websockets",
    "subprocess",
    "os",
}
ROOT = pathlib.Path(__file__).parent.parent / "hopx_proto"


def test_hopx_proto_imports_nothing_impure() -> None:
    bad = []
    files = sorted(ROOT.rglob("*.py"))
    assert files, "hopx_proto has no modules"
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            bad += [
                f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {n}"
                for n in names
                if n in BANNED
            ]
    assert not bad, "\n".join(bad)
