"""The synchronous surface matches the official ``hopx_ai.Sandbox`` and its resources: names,
parameters (name, kind, default, order) and which members are class methods or properties.
Additions are keyword-only parameters with defaults, so code written for the official client
runs unchanged after the import swap."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import hopx_sync

hopx_ai = pytest.importorskip("hopx_ai")
official_files = pytest.importorskip("hopx_ai.files")
official_commands = pytest.importorskip("hopx_ai.commands")
official_env = pytest.importorskip("hopx_ai.env_vars")
official_cache = pytest.importorskip("hopx_ai.cache")
official_terminal = pytest.importorskip("hopx_ai.terminal")
official_desktop = pytest.importorskip("hopx_ai.desktop")

PAIRS = [
    (hopx_ai.Sandbox, hopx_sync.Sandbox),
    (official_files.Files, hopx_sync.Files),
    (official_commands.Commands, hopx_sync.Commands),
    (official_env.EnvironmentVariables, hopx_sync.EnvironmentVariables),
    (official_cache.Cache, hopx_sync.Cache),
    (official_terminal.Terminal, hopx_sync.Terminal),
    (official_desktop.Desktop, hopx_sync.Desktop),
]


def _members(cls: type) -> list[str]:
    return [
        name
        for name in dir(cls)
        if (not name.startswith("_") or name == "__init__")
        and (
            callable(member := inspect.getattr_static(cls, name))
            or isinstance(member, classmethod | staticmethod | property)
        )
    ]


def _params(fn: Any) -> list[inspect.Parameter]:
    if isinstance(fn, classmethod | staticmethod):
        fn = fn.__func__
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]


CASES = [(official, ours, name) for official, ours in PAIRS for name in _members(official)]


@pytest.mark.parametrize(
    ("official", "ours", "name"), CASES, ids=lambda v: getattr(v, "__name__", v)
)
def test_same_methods_and_parameters(official: type, ours: type, name: str) -> None:
    theirs = inspect.getattr_static(official, name)
    mine = inspect.getattr_static(ours, name, None)
    assert mine is not None, f"{ours.__name__}.{name} is missing"
    if isinstance(theirs, property):
        assert isinstance(mine, property), f"{name} must be a property"
        return
    if name == "__init__" and ours is not hopx_sync.Sandbox:
        return  # resource objects are made by the sandbox, not by users
    assert isinstance(theirs, classmethod) == isinstance(mine, classmethod), name
    expected = _params(theirs)
    actual = _params(mine)
    assert [(p.name, p.kind, p.default) for p in actual[: len(expected)]] == [
        (p.name, p.kind, p.default) for p in expected
    ], f"{ours.__name__}.{name}"
    for extra in actual[len(expected) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: {extra.name}"
        assert extra.default is not inspect.Parameter.empty, f"{name}: {extra.name}"


@pytest.mark.parametrize(
    ("official", "ours", "name"), CASES, ids=lambda v: getattr(v, "__name__", v)
)
def test_blocking_where_the_official_is_blocking(official: type, ours: type, name: str) -> None:
    """No method of the synchronous API is a coroutine function (the official sync client
    has a few: its streams and terminal; ours block and iterate instead)."""
    mine = inspect.getattr_static(ours, name)
    function = getattr(mine, "__func__", mine)
    if isinstance(mine, property):
        function = mine.fget
    assert not inspect.iscoroutinefunction(function), f"{ours.__name__}.{name}"
    assert not inspect.isasyncgenfunction(function), f"{ours.__name__}.{name}"


def test_errors_and_models_are_exported() -> None:
    names = {
        "Sandbox", "SandboxInfo", "SandboxTemplate", "TemplateResources", "ExecutionResult",
        "CommandResult", "FileInfo", "RichOutput", "ExpiryInfo", "VNCInfo", "WindowInfo",
        "RecordingInfo", "DisplayInfo", "HopxError", "APIError", "AuthenticationError",
        "TokenExpiredError", "NotFoundError", "TemplateNotFoundError", "ValidationError",
        "RateLimitError", "ResourceLimitError", "ServerError", "NetworkError", "TimeoutError",
        "AgentError", "FileNotFoundError", "FileOperationError", "CodeExecutionError",
        "CommandExecutionError", "DesktopNotAvailableError", "SandboxExpiredError",
        "TemplateBuildError",
    }  # fmt: skip
    missing = names - set(hopx_sync.__all__)
    assert not missing, sorted(missing)
    for name in hopx_sync.__all__:
        assert getattr(hopx_sync, name) is not None
    assert set(hopx_ai.__all__) & {"Sandbox"} <= set(hopx_sync.__all__)
