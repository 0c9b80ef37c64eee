"""The template builder on asyncio: ``Template.build`` runs here.

A submodule few programs use: the package loads it with the first read of one of its names.
"""

from __future__ import annotations

from hopx_proto import aio

from . import AsyncSandbox, _new_backend

__all__ = ["Template", "create_template", "get_logs"]


class Template(aio.Template, backend=_new_backend, sandbox=AsyncSandbox):
    """The template builder; ``Template.build`` runs here. See :class:`hopx_proto.aio.Template`."""


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
