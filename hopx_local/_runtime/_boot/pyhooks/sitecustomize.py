"""Start-up hooks for sandboxed Python: collect rich outputs for the execution result.

Active only when ``HOPX_RICH_OUTPUT_DIR`` is set. Nothing heavy is imported here: matplotlib
figures are collected through the ``hopx_inline`` backend (selected with ``MPLBACKEND``) and at
exit; IPython's ``display()`` is wrapped when, and only if, the program imports IPython.
Each output becomes one JSON file ``{"type": mime, "data": value}`` in that directory.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

_OUTPUT_DIR = os.environ.get("HOPX_RICH_OUTPUT_DIR")
_counter = [0]

#: (method name, MIME type) pairs probed on displayed objects, richest first.
_REPR_METHODS = (
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
)


def emit(mime: str, data: Any) -> None:
    """Record one rich output (bytes are base64-encoded); in the sandbox's Jupyter kernel it
    is published as display data of the running cell."""
    if isinstance(data, bytes | bytearray):
        data = base64.b64encode(data).decode("ascii")
    if _OUTPUT_DIR is None:
        shell: Any = sys.modules.get("IPython.core.interactiveshell")
        if shell is not None and shell.InteractiveShell.initialized():
            display: Any = importlib.import_module("IPython.display")
            display.publish_display_data({mime: data})
        return
    _counter[0] += 1
    name = os.path.join(_OUTPUT_DIR, f"{_counter[0]:06d}.json")
    try:
        with open(name + ".part", "w", encoding="utf-8") as handle:
            json.dump({"type": mime, "data": data}, handle)
        os.replace(name + ".part", name)
    except (OSError, TypeError, ValueError) as exc:
        sys.stderr.write(f"rich output {mime} not recorded: {exc}\n")


def flush_figures() -> None:
    """Record every open matplotlib figure as PNG and close them."""
    pyplot: Any = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    import io

    for number in pyplot.get_fignums():
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        emit("image/png", buffer.getvalue())
    pyplot.close("all")


def _bundle(obj: Any, include: Any, exclude: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = {}
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(mimebundle):
        found = mimebundle(include=include, exclude=exclude)
        if isinstance(found, tuple):
            found = found[0]
        if isinstance(found, dict):
            bundle.update(found)
    for method, mime in _REPR_METHODS:
        probe = getattr(obj, method, None)
        if mime in bundle or not callable(probe):
            continue
        value = probe()
        if isinstance(value, tuple):
            value = value[0]
        if value is not None:
            bundle[mime] = value
    bundle.setdefault("text/plain", repr(obj))
    return bundle


def _wrap_display(original: Callable[..., Any]) -> Callable[..., Any]:
    def display(*objs: Any, **kwargs: Any) -> Any:
        shell: Any = sys.modules.get("IPython.core.interactiveshell")
        if shell is not None and shell.InteractiveShell.initialized():
            return original(*objs, **kwargs)
        for obj in objs:
            if kwargs.get("raw") and isinstance(obj, dict):
                bundle = dict(obj)
            else:
                bundle = _bundle(obj, kwargs.get("include"), kwargs.get("exclude"))
            rich = {mime: value for mime, value in bundle.items() if mime != "text/plain"}
            if not rich:
                print(bundle["text/plain"])
            for mime, value in rich.items():
                emit(mime, value)
        return None

    display.__doc__ = original.__doc__
    return display


def _patch_display_functions(module: Any) -> None:
    module.display = _wrap_display(module.display)


_PATCHES: dict[str, Callable[[Any], None]] = {
    "IPython.core.display_functions": _patch_display_functions,
}


class _PatchOnImport:
    """Meta path finder that adjusts a few modules right after they are first executed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None and spec.loader is not None:
                original = spec.loader.exec_module

                def exec_module(module: Any, _original: Any = original) -> None:
                    _original(module)
                    patch(module)

                spec.loader.exec_module = exec_module
                return spec
        return None


if _OUTPUT_DIR is not None:
    sys.meta_path.insert(0, _PatchOnImport())
    atexit.register(flush_figures)
