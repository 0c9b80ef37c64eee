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
from hopx_proto.aio.api import *

if TYPE_CHECKING:
    from ._backend import AsyncioBackend as AsyncioBackend


def __getattr__(name: str) -> object:
    """``AsyncioBackend``: its submodule, and asyncio with it, load on first use (PEP 562)."""
    if name == "AsyncioBackend":
        from ._backend import AsyncioBackend

        globals()[name] = AsyncioBackend
        return AsyncioBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _new_backend(environ: Mapping[str, str] | None = None) -> AsyncioBackend:
    """A new :class:`AsyncioBackend`, the backend factory of the classes below: the backend
    submodule, and asyncio with it, load with the first client made, not with this package."""
    from ._backend import AsyncioBackend

    return AsyncioBackend(environ)


__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "AsyncioBackend", "Client"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on asyncio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on asyncio; see :class:`hopx_proto.aio.AsyncSandbox`."""


class Template(aio.Template, backend=_new_backend, sandbox=AsyncSandbox):
    """The template builder; ``Template.build`` runs here. See :class:`hopx_proto.aio.Template`."""


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
