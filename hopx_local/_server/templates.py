"""The built-in templates: what this machine can actually run, described honestly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from hopx_local._runtime.kernel import sandbox_packages

__all__ = ["BuiltinTemplate", "builtin_templates", "find_template", "missing_template_message"]

_CREATED_AT = "2025-01-01T00:00:00Z"

#: Templates offered only when their toolchain is installed -> what they need.
OPTIONAL_TEMPLATES = {"nodejs": "Node.js (node)", "go": "Go (go)"}


@attrs.frozen
class BuiltinTemplate:
    """One template the emulator offers."""

    id: str
    name: str
    display_name: str
    description: str
    category: str
    language: str
    languages: tuple[str, ...]
    vcpu: int = 2
    memory_mb: int = 2048
    disk_gb: int = 10
    #: Extra features (``ipython_kernel``, ``rich_output``) and the Python packages of the
    #: data stack code can import, as found on this host.
    extra_features: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The template as ``GET /v1/templates/{name}`` returns it."""
        resources = {"vcpu": self.vcpu, "memory_mb": self.memory_mb, "disk_gb": self.disk_gb}
        return {
            "object": "template",
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "category": self.category,
            "language": self.language,
            "default_resources": resources,
            "min_resources": {"vcpu": 1, "memory_mb": 512, "disk_gb": 1},
            "max_resources": resources,
            "features": [
                "code_execution",
                "file_operations",
                "terminal_access",
                "websocket_streaming",
                "background_jobs",
                *self.extra_features,
            ],
            "tags": ["local", *self.languages, *self.packages],
            "popularity_score": 0,
            "is_active": True,
            "is_public": True,
            "status": "active",
            "created_at": _CREATED_AT,
            "updated_at": _CREATED_AT,
        }


#: The data stack of the service's code-interpreter template, as distribution names.
DATA_PACKAGES = ("numpy", "pandas", "matplotlib", "plotly")


def _with(packages: Mapping[str, str]) -> str:
    return f", with {', '.join(f'{n} {v}' for n, v in packages.items())}" if packages else ""


def builtin_templates(
    languages: Mapping[str, object], *, kernel: bool = False
) -> list[BuiltinTemplate]:
    """The templates available given the languages found on this machine; ``kernel``: the
    sandboxes run Python in a Jupyter kernel.

    Every template's sandboxes run the same Python, so each one says how (``ipython_kernel``
    and ``rich_output`` in its features when in the kernel) and lists the packages of the
    data stack that sandboxed code can import on this host (in its tags, with their versions
    in its description). Blocking: it may run the interpreter once.
    """
    core = tuple(lang for lang in ("python", "bash") if lang in languages)
    packages = sandbox_packages(DATA_PACKAGES, kernel=kernel) if "python" in core else {}
    how = "in a Jupyter kernel" if kernel else "in a fresh interpreter per run"
    features = ("ipython_kernel", "rich_output") if kernel else ()
    names = tuple(packages)
    found: list[BuiltinTemplate] = [
        BuiltinTemplate(
            id="1",
            name="code-interpreter",
            display_name="Code Interpreter",
            description=f"Python ({how}) and bash in a local sandbox{_with(packages)}",
            category="development",
            language="python",
            languages=core,
            extra_features=features,
            packages=names,
        ),
        BuiltinTemplate(
            id="2",
            name="base",
            display_name="Base",
            description=f"A plain local sandbox with python ({how}) and bash{_with(packages)}",
            category="operating-system",
            language="python",
            languages=core,
            extra_features=features,
            packages=names,
        ),
    ]
    if "javascript" in languages:
        found.append(
            BuiltinTemplate(
                id="3",
                name="nodejs",
                display_name="Node.js",
                description=f"Node.js (plus python {how} and bash) in a local sandbox"
                + _with(packages),
                category="development",
                language="javascript",
                languages=(*core, "javascript"),
                extra_features=features,
                packages=names,
            )
        )
    if "go" in languages:
        found.append(
            BuiltinTemplate(
                id="4",
                name="go",
                display_name="Go",
                description=f"Go (plus python {how} and bash) in a local sandbox" + _with(packages),
                category="development",
                language="go",
                languages=(*core, "go"),
                extra_features=features,
                packages=names,
            )
        )
    return found


def find_template(templates: list[BuiltinTemplate], key: str) -> BuiltinTemplate | None:
    """A template by name or by id."""
    for template in templates:
        if key in (template.name, template.id):
            return template
    return None


def missing_template_message(templates: list[BuiltinTemplate], key: str) -> str:
    """Why there is no template ``key`` here, and which templates there are."""
    names = ", ".join(t.name for t in templates)
    needs = OPTIONAL_TEMPLATES.get(key)
    if needs is not None:
        return (
            f"Template {key!r} needs {needs}, which is not installed on this machine; "
            f"available templates: {names}"
        )
    return f"Template {key!r} not found; available templates: {names}"
