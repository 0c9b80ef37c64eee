"""The public surface matches the official ``hopx_ai`` async client: names, parameters, defaults.

Every public method of the official classes exists here with the same parameters (name, kind,
default, order). Additions are allowed only as keyword-only parameters with defaults, so code
written against the official client keeps working.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import hopx_asyncio
import hopx_trio
from hopx_proto import aio

hopx_ai = pytest.importorskip("hopx_ai")
official_files = pytest.importorskip("hopx_ai._async_files")
official_commands = pytest.importorskip("hopx_ai._async_commands")
official_env = pytest.importorskip("hopx_ai._async_env_vars")
official_cache = pytest.importorskip("hopx_ai._async_cache")
official_terminal = pytest.importorskip("hopx_ai._async_terminal")
official_desktop = pytest.importorskip("hopx_ai.desktop")

PAIRS = [
    (hopx_ai.AsyncSandbox, aio.AsyncSandbox),
    (official_files.AsyncFiles, aio.AsyncFiles),
    (official_commands.AsyncCommands, aio.AsyncCommands),
    (official_env.AsyncEnvironmentVariables, aio.AsyncEnvironmentVariables),
    (official_cache.AsyncCache, aio.AsyncCache),
    (official_terminal.AsyncTerminal, aio.AsyncTerminal),
    (official_desktop.Desktop, aio.AsyncDesktop),
]


def public_members(cls: type) -> dict[str, Any]:
    return {
        name: inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") or name == "__init__"
    }


def params(fn: Any) -> list[inspect.Parameter]:
    if isinstance(fn, classmethod | staticmethod):
        fn = fn.__func__
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]


def _pairs() -> list[tuple[type, type, str]]:
    out = []
    for official, ours in PAIRS:
        for name, member in public_members(official).items():
            if callable(member) or isinstance(member, classmethod | staticmethod | property):
                out.append((official, ours, name))
    return out


@pytest.mark.parametrize(
    ("official", "ours", "name"), _pairs(), ids=lambda v: getattr(v, "__name__", v)
)
def test_same_methods_and_parameters(official: type, ours: type, name: str) -> None:
    theirs = inspect.getattr_static(official, name)
    mine = inspect.getattr_static(ours, name, None)
    assert mine is not None, f"{ours.__name__}.{name} is missing"
    if isinstance(theirs, property):
        assert isinstance(mine, property), f"{name} must be a property"
        return
    if name == "__init__" and ours is not aio.AsyncSandbox:
        return  # resource objects are made by the sandbox, not by users
    assert isinstance(theirs, classmethod) == isinstance(mine, classmethod), name
    expected = params(theirs)
    actual = params(mine)
    assert [(p.name, p.kind, p.default) for p in actual[: len(expected)]] == [
        (p.name, p.kind, p.default) for p in expected
    ], f"{ours.__name__}.{name}"
    for extra in actual[len(expected) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: {extra.name}"
        assert extra.default is not inspect.Parameter.empty, f"{name}: {extra.name}"


def test_errors_and_models_are_exported_by_both_adapters() -> None:
    official_names = {
        "AsyncSandbox",
        "SandboxInfo",
        "SandboxTemplate",
        "TemplateResources",
        "ExecutionResult",
        "CommandResult",
        "FileInfo",
        "RichOutput",
        "ExpiryInfo",
        "VNCInfo",
        "WindowInfo",
        "RecordingInfo",
        "DisplayInfo",
        "HopxError",
        "APIError",
        "AuthenticationError",
        "TokenExpiredError",
        "NotFoundError",
        "TemplateNotFoundError",
        "ValidationError",
        "RateLimitError",
        "ResourceLimitError",
        "ServerError",
        "NetworkError",
        "TimeoutError",
        "AgentError",
        "FileNotFoundError",
        "FileOperationError",
        "CodeExecutionError",
        "CommandExecutionError",
        "DesktopNotAvailableError",
        "SandboxExpiredError",
        "TemplateBuildError",
    }
    for module in (hopx_trio, hopx_asyncio):
        missing = official_names - set(module.__all__)
        assert not missing, f"{module.__name__} lacks {sorted(missing)}"
        for name in module.__all__:
            assert getattr(module, name) is not None
    assert issubclass(hopx_trio.AsyncSandbox, aio.AsyncSandbox)
    assert issubclass(hopx_asyncio.AsyncSandbox, aio.AsyncSandbox)
    assert issubclass(hopx_trio.TimeoutError, TimeoutError)
