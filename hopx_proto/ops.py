"""Every operation of both planes, and the argument classes they take.

Each operation is an :class:`~hopx_proto.Operation`: ``encode(args, auth=...) -> Request`` and
``decode(Response) -> result`` for a client, ``parse(Request) -> args`` and
``render(result) -> Response`` for a server. :data:`OPERATIONS` maps names to operations and
:func:`route` finds the one serving a request. The modules ``control``, ``agent``, ``files``
and ``desktop`` of the table are also reachable as attributes (``ops.agent.EXECUTE``).
"""

from __future__ import annotations

from ._ops import (
    OPERATIONS,
    _base,
    agent,
    allowed_methods,
    control,
    desktop,
    files,
    operations_for,
    route,
)
from ._ops._base import *
from ._ops.agent import *
from ._ops.control import *
from ._ops.desktop import *
from ._ops.files import *

__all__ = ["OPERATIONS", "allowed_methods", "operations_for", "route"]
__all__ += _base.__all__
__all__ += control.__all__
__all__ += agent.__all__
__all__ += files.__all__
__all__ += desktop.__all__
