"""Control-plane operations (``/v1/sandboxes``, ``/v1/templates``, ``/health``)."""

from __future__ import annotations

import attrs

from .._checks import non_empty
from .._models.control import SandboxInfo
from ._base import Model, Operation, Plane, path_param

__all__ = ["SANDBOXES_GET", "SandboxId"]


@attrs.frozen
class SandboxId:
    """Arguments of every operation that names one sandbox."""

    id: str = path_param(validator=non_empty)


SANDBOXES_GET = Operation(
    name="sandboxes.get",
    plane=Plane.CONTROL,
    method="GET",
    path="/v1/sandboxes/{id}",
    args=SandboxId,
    result=Model(SandboxInfo),
    summary="Describe one sandbox.",
)
