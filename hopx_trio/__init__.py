"""The HOPX sandbox client for trio programs: ``from hopx_trio import AsyncSandbox``.

The API is ``hopx_ai.AsyncSandbox``'s (same names, parameters and results), running on trio
natively. Besides :class:`AsyncSandbox`, :class:`Client` and :class:`TrioBackend`, the package
exports the names of :mod:`hopx_proto.aio.api` (errors and result models).

Parts few programs use load as submodules on first use: trio with the first client made
(or the first read of ``TrioBackend``), the template builder with the first read of one of
its names.
"""

from __future__ import annotations

import importlib.util as _importlib_util
from collections.abc import Mapping
from typing import TYPE_CHECKING

if _importlib_util.find_spec("trio") is None:
    raise ModuleNotFoundError(
        "hopx_trio runs on trio, which is not installed: pip install 'hopx-sansio[trio]'",
        name="trio",
    )

from hopx_proto import aio
from hopx_proto.aio import api

if TYPE_CHECKING:
    from hopx_proto.aio.api import *

    from ._backend import TrioBackend as TrioBackend
    from ._template import (
        Template as Template,
        create_template as create_template,
        get_logs as get_logs,
    )


def __getattr__(name: str) -> object:
    """The names of :mod:`hopx_proto.aio.api`, read from it; ``TrioBackend`` from the backend
    submodule, and ``Template``, ``create_template`` and ``get_logs`` from the template
    submodule, each loaded on first use (PEP 562)."""
    if name in api.__all__:
        value = getattr(api, name)
    elif name == "TrioBackend":
        from ._backend import TrioBackend as value
    elif name in __all__:
        from . import _template

        value = getattr(_template, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _new_backend(environ: Mapping[str, str] | None = None) -> TrioBackend:
    """A new :class:`TrioBackend`, the backend factory of the classes here: the backend
    submodule, and trio with it, load with the first client made, not with this package."""
    from ._backend import TrioBackend

    return TrioBackend(environ)


__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "Client", "TrioBackend"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on trio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on trio; see :class:`hopx_proto.aio.AsyncSandbox`."""
