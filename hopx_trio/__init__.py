"""The HOPX sandbox client for trio programs: ``from hopx_trio import AsyncSandbox``.

The API is ``hopx_ai.AsyncSandbox``'s (same names, parameters and results), running on trio
natively. Besides :class:`AsyncSandbox`, :class:`Client` and :class:`TrioBackend`, the package
exports the names of :mod:`hopx_proto.aio.api` (errors and result models).
"""

from __future__ import annotations

import importlib.util as _importlib_util

if _importlib_util.find_spec("trio") is None:
    raise ModuleNotFoundError(
        "hopx_trio runs on trio, which is not installed: pip install 'hopx-sansio[trio]'",
        name="trio",
    )

from hopx_proto import aio
from hopx_proto.aio import api
from hopx_proto.aio.api import *

from ._backend import TrioBackend as TrioBackend

__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "Client", "TrioBackend"]
__all__ += api.__all__


class Client(aio.Client, backend=TrioBackend):
    """Credentials and one connection pool on trio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=TrioBackend):
    """A HOPX sandbox on trio; see :class:`hopx_proto.aio.AsyncSandbox`."""


class Template(aio.Template, backend=TrioBackend, sandbox=AsyncSandbox):
    """The template builder; ``Template.build`` runs here. See :class:`hopx_proto.aio.Template`."""


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
