"""Which languages this machine can run, and how each one is started on a source file."""

from __future__ import annotations

import os
import shutil
import sys

import attrs

from .errors import fault

__all__ = [
    "LANGUAGE_ALIASES",
    "Interpreter",
    "available_languages",
    "interpreter_for",
    "python_executable",
]

#: Names clients send for a language -> the canonical language name.
LANGUAGE_ALIASES: dict[str, str] = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "bash": "bash",
    "shell": "bash",
    "sh": "sh",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "go": "go",
}

#: Canonical language -> (executable names to look for, extra argv, source file suffix).
_LAUNCHERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "bash": (("bash",), (), ".sh"),
    "sh": (("sh", "dash"), (), ".sh"),
    "javascript": (("node", "nodejs"), (), ".js"),
    "go": (("go",), ("run",), ".go"),
}


@attrs.frozen
class Interpreter:
    """How to run source code of one language: ``argv`` + [source file]."""

    language: str
    argv: tuple[str, ...]
    suffix: str


def python_executable() -> str:
    """The running interpreter, with virtualenv links resolved to the real binary.

    Sandboxed code sees the interpreter's own installation (its standard library and
    site-packages) but never the virtualenv the emulator itself runs from.
    """
    return os.path.realpath(sys.executable)


def _interpreters() -> dict[str, Interpreter]:
    found = {"python": Interpreter("python", (python_executable(), "-u"), ".py")}
    for language, (names, extra, suffix) in _LAUNCHERS.items():
        for name in names:
            path = shutil.which(name)
            if path is not None:
                found[language] = Interpreter(language, (path, *extra), suffix)
                break
    return found


def available_languages() -> dict[str, list[str]]:
    """Every accepted language name (aliases included) -> the argv prefix that runs a file."""
    interpreters = _interpreters()
    return {
        alias: list(interpreters[canonical].argv)
        for alias, canonical in LANGUAGE_ALIASES.items()
        if canonical in interpreters
    }


def interpreter_for(language: str) -> Interpreter:
    """The interpreter for a language name or alias; INVALID_REQUEST if it cannot run here."""
    canonical = LANGUAGE_ALIASES.get(language.strip().lower())
    interpreter = _interpreters().get(canonical) if canonical is not None else None
    if interpreter is None:
        supported = sorted(available_languages())
        raise fault(
            "INVALID_REQUEST",
            f"unsupported language {language!r}; supported: {', '.join(supported)}",
            details={"supported_languages": supported},
        )
    return interpreter
