"""The client's public API documents itself: every public method and function of the client
packages has a docstring naming each of its parameters."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: The packages whose own classes and functions are checked (re-exported core names are not).
PACKAGES = ["hopx_proto.aio", "hopx_io", "hopx_trio", "hopx_asyncio", "hopx_sync"]
OWN = ("hopx_proto.aio", "hopx_io", "hopx_trio", "hopx_asyncio", "hopx_sync")
SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _function(member: Any) -> Callable[..., Any] | None:
    if isinstance(member, property):
        member = member.fget
    member = getattr(member, "__func__", member)
    return member if inspect.isfunction(member) else None


def _documented(package: str) -> Iterator[tuple[str, Callable[..., Any], str]]:
    """``(label, function, the docstring that must describe its parameters)``."""
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isfunction(value) and value.__module__.startswith(OWN):
            yield name, value, value.__doc__ or ""
        if not inspect.isclass(value) or not value.__module__.startswith(OWN):
            continue
        members: dict[str, tuple[type, Any]] = {}
        for klass in reversed(value.__mro__):
            if klass.__module__.startswith(
                ("hopx_proto", "hopx_io", "hopx_trio", "hopx_asyncio", "hopx_sync")
            ):
                members.update({attr: (klass, m) for attr, m in vars(klass).items()})
        for attr, (owner, member) in members.items():
            function = _function(member)
            if function is None or (attr.startswith("_") and attr != "__init__"):
                continue
            # A constructor is described by the docstring of the class that defines it.
            doc = owner.__doc__ if attr == "__init__" else function.__doc__
            yield f"{name}.{attr}", function, doc or ""


@pytest.mark.parametrize("package", PACKAGES)
def test_every_parameter_is_described(package: str) -> None:
    bad = []
    for label, function, doc in _documented(package):
        if not doc.strip():
            bad.append(f"{label}: no docstring")
            continue
        parameters = inspect.signature(function).parameters.values()
        missing = [
            p.name
            for p in parameters
            if p.name not in ("self", "cls") and p.kind not in SKIPPED_KINDS and p.name not in doc
        ]
        if missing:
            bad.append(f"{label}: {missing}")
    assert not bad, "\n".join(bad)
