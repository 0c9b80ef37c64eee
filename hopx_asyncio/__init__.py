"""The HOPX sandbox client for asyncio programs: ``from hopx_asyncio import AsyncSandbox``.

A drop-in replacement for ``hopx_ai.AsyncSandbox`` (same names, parameters and results),
running on asyncio's own transports. Besides :class:`AsyncSandbox`, :class:`Client` and
:class:`AsyncioBackend`, the package exports the names of :mod:`hopx_proto.aio.api` (errors and
result models).
"""

from __future__ import annotations

from hopx_proto import aio
from hopx_proto.aio import api
from hopx_proto.aio.api import *

from ._backend import AsyncioBackend as AsyncioBackend

__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "AsyncioBackend", "Client"]
__all__ += api.__all__


class Client(aio.Client, backend=AsyncioBackend):
    """Credentials and one connection pool on asyncio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=AsyncioBackend):
    """A HOPX sandbox on asyncio; see :class:`hopx_proto.aio.AsyncSandbox`."""


class Template(aio.Template, backend=AsyncioBackend, sandbox=AsyncSandbox):
    """The template builder; ``Template.build`` runs here. See :class:`hopx_proto.aio.Template`."""


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
