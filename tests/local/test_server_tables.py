"""The emulator's handlers are found by operation object, every operation of both planes is
either served or refused on purpose (template builds are served), and the operation table is
the one place an endpoint path is spelled."""

from __future__ import annotations

import ast
import pathlib
from typing import Any

import hopx_local
from hopx_local._server import agent, agent_info, control, websocket
from hopx_proto._ops import OPERATIONS, Operation, Plane

PACKAGE = pathlib.Path(hopx_local.__file__).parent


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_the_emulator_spells_no_endpoint_path() -> None:
    paths = {op.path for op in OPERATIONS.values()} - {"/"}
    spelled = []
    for source in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            text = node.value
            if id(node) in docs:
                continue
            if text in paths or text.startswith("/v1"):
                spelled.append(f"{source.relative_to(PACKAGE)}:{node.lineno} {text!r}")
    assert spelled == []


def _control_handlers() -> dict[Operation[Any, Any], Any]:
    class NoFleet:
        def __getattr__(self, name: str) -> Any:
            return name

    plane = control.ControlPlane(NoFleet(), "key")  # type: ignore[arg-type]
    return plane._handlers


def test_handlers_are_keyed_by_operation_objects() -> None:
    handlers, raw = agent._tables()
    tables: list[dict[Any, Any]] = [handlers, raw, websocket.SESSIONS, _control_handlers()]
    for table in tables:
        assert table
        assert all(isinstance(key, Operation) for key in table), list(table)
        assert all(OPERATIONS[key.name] is key for key in table)


def test_every_operation_is_served_or_refused_on_purpose() -> None:
    served = agent.served_operations()
    agent_ops = {op for op in OPERATIONS.values() if op.plane is Plane.AGENT}
    refused = agent_ops - served
    desktop = {op for op in agent_ops if op.name.startswith("desktop.")}
    assert refused == desktop | agent_info.SELF_UPDATE
    for op in refused:
        problem = agent_info.unavailable(op)
        expected = "NOT_SUPPORTED" if op in agent_info.SELF_UPDATE else "DESKTOP_NOT_AVAILABLE"
        assert problem.code == expected, op.name
    control_ops = {op for op in OPERATIONS.values() if op.plane is Plane.CONTROL}
    assert control_ops == set(_control_handlers())
    builds = {op for op in control_ops if op.name.startswith("templates.b")}
    assert {*builds, OPERATIONS["templates.upload_link"]} == control.BUILDS
