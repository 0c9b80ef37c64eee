"""The HOPX sandbox client for asyncio programs: ``from hopx_asyncio import AsyncSandbox``.

A drop-in replacement for ``hopx_ai.AsyncSandbox`` (same names, parameters and results),
running on asyncio's own transports. Besides :class:`AsyncSandbox`, :class:`Client` and
:class:`AsyncioBackend`, the package exports the names of :mod:`hopx_proto.aio.api` (errors and
result models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hopx_proto import aio
from hopx_proto.aio import api

if TYPE_CHECKING:
    from hopx_proto.aio.api import *

    from ._backend import AsyncioBackend as AsyncioBackend
    from ._template import (
        Template as Template,
        create_template as create_template,
        get_logs as get_logs,
    )


def __getattr__(name: str) -> object:
    """The names of :mod:`hopx_proto.aio.api`, read from it; ``AsyncioBackend`` from the backend
    submodule, and ``Template``, ``create_template`` and ``get_logs`` from the template
    submodule, each loaded on first use (PEP 562)."""
    if name in api.__all__:
        value = getattr(api, name)
    elif name == "AsyncioBackend":
        from ._backend import AsyncioBackend as value
    elif name in __all__:
        from . import _template

        value = getattr(_template, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _new_backend(environ: Mapping[str, str] | None = None) -> AsyncioBackend:
    """A new :class:`AsyncioBackend`, the backend factory of the classes here: the backend
    submodule, and asyncio with it, load with the first client made, not with this package."""
    from ._backend import AsyncioBackend

    return AsyncioBackend(environ)


__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "AsyncioBackend", "Client"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on asyncio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on asyncio; see :class:`hopx_proto.aio.AsyncSandbox`."""
