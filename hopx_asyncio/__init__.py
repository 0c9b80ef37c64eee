"""The HOPX sandbox client for asyncio programs: ``from hopx_asyncio import AsyncSandbox``.

A drop-in replacement for ``hopx_ai.AsyncSandbox`` (same names, parameters and results),
running on asyncio's own transports. Besides :class:`AsyncSandbox`, :class:`Client` and
:class:`AsyncioBackend`, the package exports the names of :mod:`hopx_proto.aio.api` (errors and
result models).
"""

from __future__ import annotations

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


def _load(name: str) -> object:
    """The loading point of what few programs use: ``AsyncioBackend`` (and asyncio with
    it) or a name of the template builder, each from its submodule, on first use."""
    if name == "AsyncioBackend":
        from ._backend import AsyncioBackend

        return AsyncioBackend
    from . import _template

    return getattr(_template, name)


__getattr__, __dir__, _new_backend = aio.adapter_package(__name__, "AsyncioBackend", _load, api)

__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "AsyncioBackend", "Client"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on asyncio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on asyncio; see :class:`hopx_proto.aio.AsyncSandbox`."""
