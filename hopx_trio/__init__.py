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


def _load(name: str) -> object:
    """The loading point of what few programs use: ``TrioBackend`` (and trio with
    it) or a name of the template builder, each from its submodule, on first use."""
    if name == "TrioBackend":
        from ._backend import TrioBackend

        return TrioBackend
    from . import _template

    return getattr(_template, name)


__getattr__, __dir__, _new_backend = aio.adapter_package(__name__, "TrioBackend", _load, api)

__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "Client", "TrioBackend"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on trio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on trio; see :class:`hopx_proto.aio.AsyncSandbox`."""
