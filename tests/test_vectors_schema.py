"""Every vector file matches tests/vectors/SCHEMA.json.

The check uses a small validator of the JSON Schema keywords SCHEMA.json uses (the project
does not depend on a JSON Schema library); a keyword it does not know is an error, so the
schema cannot rely on one that would be silently skipped. When ``jsonschema`` happens to be
installed, the files are checked with it too.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HERE = pathlib.Path(__file__).parent / "vectors"
SCHEMA: dict[str, Any] = json.loads((HERE / "SCHEMA.json").read_text())
FILES = sorted(p for p in HERE.glob("*.json") if p.name != "SCHEMA.json")

#: Keywords that only describe; they never make a document invalid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "vectors"}
)
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class SchemaValidator:
    """Errors of a JSON document against a schema (a subset of draft 2020-12)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def errors(self, value: Any, schema: Any = None, where: str = "$") -> Iterator[str]:
        """Every place where ``value`` breaks ``schema`` (the root schema by default)."""
        schema = self.root if schema is None else schema
        if schema is True or schema == {}:
            return
        if schema is False:
            yield f"{where}: no value is allowed here"
            return
        for keyword, rule in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            check = getattr(self, "_" + keyword.lstrip("$"), None)
            if check is None:
                raise ValueError(f"SCHEMA.json uses {keyword!r}, which this validator lacks")
            yield from check(value, rule, where, schema)

    def _valid(self, value: Any, schema: Any, where: str) -> bool:
        return next(self.errors(value, schema, where), None) is None

    def _ref(self, value: Any, ref: str, where: str, _s: Any) -> Iterator[str]:
        assert ref.startswith("#/"), ref
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target[part]
        yield from self.errors(value, target, where)

    def _type(self, value: Any, name: str, where: str, _s: Any) -> Iterator[str]:
        if not _TYPES[name](value):
            yield f"{where}: expected {name}, got {type(value).__name__}"

    def _enum(self, value: Any, allowed: list[Any], where: str, _s: Any) -> Iterator[str]:
        if value not in allowed:
            yield f"{where}: {value!r} is not one of {allowed}"

    def _const(self, value: Any, const: Any, where: str, _s: Any) -> Iterator[str]:
        if value != const or type(value) is not type(const):
            yield f"{where}: must be {const!r}"

    def _required(self, value: Any, names: list[str], where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, dict):
            yield from (f"{where}: {n!r} is missing" for n in names if n not in value)

    def _properties(self, value: Any, props: dict[str, Any], where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for name, sub in props.items():
                if name in value:
                    yield from self.errors(value[name], sub, f"{where}.{name}")

    def _additionalProperties(
        self, value: Any, sub: Any, where: str, schema: dict[str, Any]
    ) -> Iterator[str]:
        if isinstance(value, dict):
            for name in sorted(set(value) - set(schema.get("properties", {}))):
                if sub is False:
                    yield f"{where}: unexpected key {name!r}"
                else:
                    yield from self.errors(value[name], sub, f"{where}.{name}")

    def _propertyNames(self, value: Any, sub: Any, where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for name in value:
                yield from self.errors(name, sub, f"{where} key {name!r}")

    def _items(self, value: Any, sub: Any, where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from self.errors(item, sub, f"{where}[{i}]")

    def _minItems(self, value: Any, n: int, where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, list) and len(value) < n:
            yield f"{where}: fewer than {n} items"

    def _minLength(self, value: Any, n: int, where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, str) and len(value) < n:
            yield f"{where}: shorter than {n} characters"

    def _pattern(self, value: Any, pattern: str, where: str, _s: Any) -> Iterator[str]:
        if isinstance(value, str) and re.search(pattern, value) is None:
            yield f"{where}: {value[:60]!r} does not match {pattern}"

    def _minimum(self, value: Any, low: float, where: str, _s: Any) -> Iterator[str]:
        if _TYPES["number"](value) and value < low:
            yield f"{where}: {value} < {low}"

    def _maximum(self, value: Any, high: float, where: str, _s: Any) -> Iterator[str]:
        if _TYPES["number"](value) and value > high:
            yield f"{where}: {value} > {high}"

    def _allOf(self, value: Any, subs: list[Any], where: str, _s: Any) -> Iterator[str]:
        for sub in subs:
            yield from self.errors(value, sub, where)

    def _anyOf(self, value: Any, subs: list[Any], where: str, _s: Any) -> Iterator[str]:
        if not any(self._valid(value, sub, where) for sub in subs):
            yield f"{where}: matches none of the anyOf schemas"

    def _oneOf(self, value: Any, subs: list[Any], where: str, _s: Any) -> Iterator[str]:
        matched = sum(self._valid(value, sub, where) for sub in subs)
        if matched != 1:
            yield f"{where}: matches {matched} of the oneOf schemas, not exactly one"

    def _not(self, value: Any, sub: Any, where: str, _s: Any) -> Iterator[str]:
        if self._valid(value, sub, where):
            yield f"{where}: matches a schema it must not match ({json.dumps(sub)[:80]})"


VALIDATOR = SchemaValidator(SCHEMA)


def test_there_are_vector_files() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_vector_file_matches_the_schema(path: pathlib.Path) -> None:
    errors = list(VALIDATOR.errors(json.loads(path.read_text())))
    assert not errors, "\n".join(errors[:20])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_vector_file_matches_the_schema_per_jsonschema(path: pathlib.Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(path.read_text()))


def _one(case: dict[str, Any]) -> dict[str, Any]:
    return {"vectors": [case]}


_REQUEST = {
    "operation": "sandboxes.get",
    "name": "n",
    "args": {"id": "x"},
    "auth": "k",
    "request": {"method": "GET", "target": "/v1/sandboxes/x", "headers": {"x-api-key": "k"}},
}
_RESPONSE = {
    "operation": "sandboxes.get",
    "name": "n",
    "response": {"status": 404, "headers": {}, "json": {"error": "x"}},
    "error": {"type": "NotFoundError", "status": 404},
}


def _broken(base: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    case = copy.deepcopy(base)
    change(case)
    return case


BROKEN = {
    "no operation": _broken(_REQUEST, lambda c: c.pop("operation")),
    "request and response": _broken(_REQUEST, lambda c: c.update(response={"status": 200})),
    "neither request nor response": _broken(_REQUEST, lambda c: c.pop("request")),
    "response without an outcome": _broken(_RESPONSE, lambda c: c.pop("error")),
    "result and error": _broken(_RESPONSE, lambda c: c.update(result={})),
    "result on a request case": _broken(_REQUEST, lambda c: c.update(result={})),
    "args on a response case": _broken(_RESPONSE, lambda c: c.update(args={})),
    "args on a parse case": _broken(_REQUEST, lambda c: c.update(parse_error=True)),
    "parse_error false": _broken(_REQUEST, lambda c: c.update(parse_error=False)),
    "two body forms": _broken(_REQUEST, lambda c: c["request"].update(json={}, text="")),
    "lower-case method": _broken(_REQUEST, lambda c: c["request"].update(method="get")),
    "target without a slash": _broken(_REQUEST, lambda c: c["request"].update(target="v1")),
    "raw space in target": _broken(_REQUEST, lambda c: c["request"].update(target="/a b")),
    "upper-case header name": _broken(_REQUEST, lambda c: c["request"]["headers"].update(A="1")),
    "header value not a string": _broken(_REQUEST, lambda c: c["request"]["headers"].update(a=1)),
    "status as a string": _broken(_RESPONSE, lambda c: c["response"].update(status="404")),
    "status out of range": _broken(_RESPONSE, lambda c: c["response"].update(status=99)),
    "error type not a class name": _broken(_RESPONSE, lambda c: c["error"].update(type="404")),
    "unknown error key": _broken(_RESPONSE, lambda c: c["error"].update(message="x")),
    "unknown case key": _broken(_RESPONSE, lambda c: c.update(comment="x")),
    "bad base64": _broken(_RESPONSE, lambda c: c.update(result_base64="abc") or c.pop("error")),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=list(BROKEN))
def test_the_schema_refuses_a_broken_case(case: dict[str, Any]) -> None:
    assert list(VALIDATOR.errors(_one(case)))


_BASE64 = _broken(_RESPONSE, lambda c: c.update(result_base64="YWJj") or c.pop("error"))


@pytest.mark.parametrize(
    "case", [_REQUEST, _RESPONSE, _BASE64], ids=["request", "response", "base64"]
)
def test_the_schema_accepts_the_minimal_cases(case: dict[str, Any]) -> None:
    assert list(VALIDATOR.errors(_one(case))) == []


def test_the_validator_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="uniqueItems"):
        list(SchemaValidator({"uniqueItems": True}).errors([1]))
