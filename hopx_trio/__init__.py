"""The HOPX sandbox client for trio programs: ``from hopx_trio import AsyncSandbox``.

The API is ``hopx_ai.AsyncSandbox``'s (same names, parameters and results), running on trio
natively. Besides :class:`AsyncSandbox`, :class:`Client` and :class:`TrioBackend`, the package
exports the names of :mod:`hopx_proto.aio.api` (errors and result models).
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
from hopx_proto.aio.api import *

if TYPE_CHECKING:
    from ._backend import TrioBackend as TrioBackend


def __getattr__(name: str) -> object:
    """``TrioBackend``: its submodule, and trio with it, load on first use (PEP 562)."""
    if name == "TrioBackend":
        from ._backend import TrioBackend

        globals()[name] = TrioBackend
        return TrioBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _new_backend(environ: Mapping[str, str] | None = None) -> TrioBackend:
    """A new :class:`TrioBackend`, the backend factory of the classes below: the backend submodule,
    and trio with it, load with the first client made, not with this package."""
    from ._backend import TrioBackend

    return TrioBackend(environ)


__all__ = ["AsyncSandbox", "Template", "create_template", "get_logs", "Client", "TrioBackend"]
__all__ += api.__all__


class Client(aio.Client, backend=_new_backend):
    """Credentials and one connection pool on trio; see :class:`hopx_proto.aio.Client`."""


class AsyncSandbox(aio.AsyncSandbox, backend=_new_backend):
    """A HOPX sandbox on trio; see :class:`hopx_proto.aio.AsyncSandbox`."""


class Template(aio.Template, backend=_new_backend, sandbox=AsyncSandbox):
    """The template builder; ``Template.build`` runs here. See :class:`hopx_proto.aio.Template`."""


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
