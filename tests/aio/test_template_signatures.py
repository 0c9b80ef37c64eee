"""The template API matches ``hopx_ai.template`` 0.5.0: every public function, class and method
has the same parameters (name, kind, default, order), in each adapter package. Additions are
only keyword-only parameters with defaults. Dataclass fields match too (same names, order and
defaults), so results read the same."""

from __future__ import annotations

import dataclasses
import enum
import inspect
from typing import Any

import pytest

import hopx_asyncio
import hopx_sync
import hopx_trio

official = pytest.importorskip("hopx_ai.template")
official_types = pytest.importorskip("hopx_ai.template.types")
official_errors = pytest.importorskip("hopx_ai.errors")

ADAPTERS = [hopx_asyncio, hopx_trio, hopx_sync]
FUNCTIONS = [
    "create_template",
    "get_logs",
    "wait_for_port",
    "wait_for_url",
    "wait_for_file",
    "wait_for_process",
    "wait_for_command",
]
CLASSES = [
    "Template",
    "StepType",
    "Step",
    "ReadyCheck",
    "ReadyCheckType",
    "BuildOptions",
    "BuildResult",
    "CreateVMOptions",
    "VM",
    "LogsResponse",
]
TYPES = [
    "RegistryAuth",
    "GCPRegistryAuth",
    "AWSRegistryAuth",
    "CopyOptions",
    "LogEntry",
    "StatusUpdate",
]


def _params(fn: Any) -> list[inspect.Parameter]:
    if isinstance(fn, classmethod | staticmethod):
        fn = fn.__func__
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]


def _check(theirs: Any, mine: Any, label: str) -> None:
    expected, actual = _params(theirs), _params(mine)
    assert [(p.name, p.kind, p.default) for p in actual[: len(expected)]] == [
        (p.name, p.kind, p.default) for p in expected
    ], label
    for extra in actual[len(expected) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, f"{label}: {extra.name}"
        assert extra.default is not inspect.Parameter.empty, f"{label}: {extra.name}"


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_take_the_same_parameters(adapter: Any, name: str) -> None:
    _check(getattr(official, name), getattr(adapter, name), f"{adapter.__name__}.{name}")


def _members(cls: type) -> list[str]:
    return [
        name
        for name in dir(cls)
        if (not name.startswith("_") or name == "__init__")
        and (
            inspect.isfunction(inspect.getattr_static(cls, name))
            or isinstance(inspect.getattr_static(cls, name), classmethod | staticmethod)
        )
    ]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("name", CLASSES + TYPES)
def test_classes_have_the_same_methods_and_parameters(adapter: Any, name: str) -> None:
    theirs = getattr(official, name, None) or getattr(official_types, name)
    mine = getattr(adapter, name)
    if issubclass(theirs, enum.Enum):
        assert {m.name: m.value for m in theirs} == {m.name: m.value for m in mine}
        assert str(mine(next(iter(theirs)).value)) == str(next(iter(theirs)))
        return
    for member in _members(theirs):
        found = inspect.getattr_static(mine, member, None)
        assert found is not None, f"{name}.{member} is missing"
        original = inspect.getattr_static(theirs, member)
        assert isinstance(original, staticmethod) == isinstance(found, staticmethod), member
        assert isinstance(original, classmethod) == isinstance(found, classmethod), member
        _check(original, found, f"{adapter.__name__}.{name}.{member}")
    if dataclasses.is_dataclass(theirs):
        want = [(f.name, f.default) for f in dataclasses.fields(theirs)]
        have = [(f.name, f.default) for f in dataclasses.fields(mine)]
        assert have[: len(want)] == want, name


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda m: m.__name__)
def test_template_build_error_and_its_metadata(adapter: Any) -> None:
    theirs = _params(official_errors.TemplateBuildError.__init__)
    mine = _params(adapter.TemplateBuildError.__init__)
    named = [(p.name, p.kind, p.default) for p in theirs if p.kind is not p.VAR_KEYWORD]
    assert [(p.name, p.kind, p.default) for p in mine[: len(named)]] == named
    assert mine[-1].kind is inspect.Parameter.VAR_KEYWORD
    want = [
        (f.name, f.default) for f in dataclasses.fields(official_errors.TemplateBuildErrorMetadata)
    ]
    have = [(f.name, f.default) for f in dataclasses.fields(adapter.TemplateBuildErrorMetadata)]
    assert have == want
    meta = adapter.TemplateBuildErrorMetadata(build_id="b1", template_id="7", logs_url="u")
    err = adapter.TemplateBuildError("boom", metadata=meta, logs=["a", "b"])
    assert (err.build_id, err.template_id, err.logs_url, err.logs) == ("b1", "7", "u", ["a", "b"])
    assert err.code == "template_build_failed"
    assert "(build_id: b1)" in str(err)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda m: m.__name__)
def test_builder_chains_and_encodes_as_the_official_one(adapter: Any) -> None:
    from hopx_proto._template import build_request, step_to_wire, validate_template

    def chain(t: Any, ready: Any) -> Any:
        return (
            t.from_python_image("3.11")
            .apt_install("curl", ["git"])
            .pip_install("flask")
            .npm_install()
            .set_envs({"A": "1"})
            .set_workdir("/app")
            .set_user("user")
            .run_cmd("make")
            .skip_cache()
            .git_clone("https://example.invalid/r.git", "/src")
            .set_start_cmd("python app.py", ready)
            .add_metadata("agent_version", "9")
        )

    theirs = chain(official.Template(), official.wait_for_port(8000, timeout=5000))
    mine = chain(adapter.Template(), adapter.wait_for_port(8000, timeout=5000))
    assert type(mine) is adapter.Template
    assert [(s.type.value, s.args, s.skip_cache) for s in theirs.steps] == [
        (s.type.value, s.args, s.skip_cache) for s in mine.steps
    ]
    assert [step_to_wire(s) for s in mine.steps][6] == {
        "type": "RUN",
        "args": ["make"],
        "skipCache": True,
    }
    options = adapter.BuildOptions(name="n", api_key="k")
    body = build_request(mine, mine.steps, options)
    assert body.ready_cmd == {"type": "port", "timeout": 5000, "interval": 2000, "port": 8000}
    assert body.start_cmd == "python app.py"
    assert body.agent_version == "9"
    with pytest.raises(ValueError, match="base image"):
        validate_template(adapter.Template().run_cmd("x"))

    with pytest.raises(ValueError, match="besides ENV"):
        validate_template(adapter.Template("python:3.11").set_env("A", "1"))
    with pytest.raises(ValueError):
        adapter.Template().apt_install()
