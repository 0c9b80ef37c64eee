"""The wire vectors pass in a second language: tests/vectors/node/run.mjs (Node.js, no
dependencies), and its hand-written tables agree with the operation table and the models."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import pathlib
import re
import shutil
import subprocess
import types
import typing
from typing import Any

import attrs
import pytest

from hopx_proto._codec import to_wire
from hopx_proto._ops import OPERATIONS
from hopx_proto._ops._base import Binary, Model, NoContent, RawJSON, Text, _arg_plan

VECTORS = pathlib.Path(__file__).parent / "vectors"
RUNNER = VECTORS / "node" / "run.mjs"
NODE = shutil.which("node")
#: The runner covers every operation but the multipart uploads.
FLOOR = 340

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(RUNNER), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _summary(out: str) -> tuple[int, int]:
    last = out.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert match, f"last line is not the summary: {last!r}"
    return int(match[1]), int(match[2])


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    done = _node("--table")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_vector_of_the_covered_operations_passes(table: dict[str, Any]) -> None:
    done = _node()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    passed, failed = _summary(done.stdout)
    assert failed == 0
    assert passed >= FLOOR
    covered = set(table["operations"])
    expected = sum(
        1
        for path in VECTORS.glob("*.json")
        if path.name != "SCHEMA.json"
        for case in json.loads(path.read_text())["vectors"]
        if case["operation"] in covered and not case.get("parse_error")
    )
    assert passed == expected
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("ok ")]) == passed
    assert all(line.startswith(("ok ", "skipped: ")) for line in lines[:-1])


def test_a_wrong_vector_fails(tmp_path: pathlib.Path) -> None:
    control = json.loads((VECTORS / "control.json").read_text())["vectors"]
    case = next(c for c in control if c["operation"] == "sandboxes.get" and "request" in c)
    case["request"]["target"] = "/v1/sandboxes/not-what-encode-builds"
    wrong_error = next(c for c in control if c.get("error", {}).get("type") == "NotFoundError")
    wrong_error["error"]["type"] = "ServerError"
    (tmp_path / "broken.json").write_text(json.dumps({"vectors": [case, wrong_error]}))
    done = _node("--dir", str(tmp_path))
    assert done.returncode == 1
    assert _summary(done.stdout) == (0, 2)
    assert "target /v1/sandboxes/" in done.stdout
    assert "error NotFoundError != ServerError" in done.stdout


def test_the_table_covers_every_operation_but_multipart_uploads(table: dict[str, Any]) -> None:
    wanted = {name for name, op in OPERATIONS.items() if not op.multipart}
    assert {"sandboxes.create", "execute.run", "execute.stream"} <= wanted
    assert sorted(wanted - set(table["operations"])) == []


def _result_kind(op: Any) -> str:
    codec = op.result
    if isinstance(codec, Model):
        return str(codec.cls.__name__)
    kinds = {RawJSON: "raw", Text: "text", Binary: "binary", NoContent: "none"}
    return kinds[type(codec)]


def _default(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    if isinstance(default, bytes):  # a raw body: base64 in the runner's JSON notation
        return base64.b64encode(default).decode()
    return to_wire(default)


def test_operations_agree_with_the_python_table(table: dict[str, Any]) -> None:
    for name, entry in table["operations"].items():
        op = OPERATIONS[name]
        fields = {f.name: f for f in attrs.fields(op.args)}
        seen = {
            "plane": op.plane.value,
            "method": op.method,
            "path": op.path,
            "websocket": op.websocket,
            "auth": op.credential.value,
            "result": _result_kind(op),
            "args": [
                {"arg": f.attr, "loc": f.loc.value, "key": f.key}
                | ({} if f.required else {"default": _default(fields[f.attr])})
                for f in _arg_plan(op.args)
            ],
        }
        assert entry == seen, name


def _type_text(tp: Any) -> tuple[str, bool]:
    """The runner's type notation for a field type, and whether ``None`` is allowed."""
    simple = {str: "str", int: "int", float: "float", bool: "bool", _dt.datetime: "datetime"}
    if tp in simple:
        return simple[tp], False
    if tp is Any:
        return "any", True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return (_type_text(inner[0])[0] if len(inner) == 1 else "any"), True
    if origin is list:
        return f"[{_type_text(args[0])[0]}]", False
    if origin is dict:
        return "{" + _type_text(args[1])[0] + "}", False
    assert attrs.has(tp), tp
    return str(tp.__name__), False


def _python_model(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = []
    for f in attrs.fields(cls):
        if f.name == "extra":
            continue
        type_text, _nullable = _type_text(hints[f.name])
        required = f.default is attrs.NOTHING
        default = None if required else _default(f)
        fields.append(
            {
                "keys": [
                    f.metadata.get("hopx_wire") or f.name,
                    *f.metadata.get("hopx_aliases", ()),
                ],
                "type": type_text,
                "required": required,
                "optional": not required and default is None,
                "default": default,
            }
        )
    closed = "extra" not in attrs.fields_dict(cls)
    return {"closed": closed, "fields": fields}


def _models_of(codec: Any) -> list[type]:
    return [codec.cls] if isinstance(codec, Model) else []


def test_models_agree_with_the_python_models(table: dict[str, Any]) -> None:
    pending = [cls for name in table["operations"] for cls in _models_of(OPERATIONS[name].result)]
    pending.append(OPERATIONS["templates.build"].args)  # for RegistryCredentials
    checked: set[str] = set()
    while pending:
        cls = pending.pop()
        hints = typing.get_type_hints(cls)
        for tp in hints.values():
            stack = [tp]
            while stack:
                item = stack.pop()
                stack.extend(typing.get_args(item))
                if attrs.has(item) and item.__name__ not in checked:
                    pending.append(item)
        if cls is OPERATIONS["templates.build"].args or cls.__name__ in checked:
            continue
        checked.add(cls.__name__)
        assert table["models"].get(cls.__name__) == _python_model(cls), cls.__name__
    assert checked == set(table["models"])
