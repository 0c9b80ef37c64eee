"""hopx_proto: the HOPX wire protocol, both planes, without I/O.

Bytes in, events out. This package holds what a user of the core reaches for first: the errors,
the HTTP machine and its events, the result models and the table of operations. The rest lives
in public submodules, one concern each, loaded when imported:

* :mod:`hopx_proto.ops`: every operation and the argument classes they take;
* :mod:`hopx_proto.streams`: the WebSocket machine and one machine per stream endpoint;
* :mod:`hopx_proto.wire`: JSON, URLs, multipart bodies and argument checks;
* :mod:`hopx_proto.policy`: retry decisions and token freshness;
* :mod:`hopx_proto.aio`: the asynchronous client written on top of it, bound to an event loop
  by ``hopx_trio`` and ``hopx_asyncio``.
"""

from __future__ import annotations

from . import _errors, _http, _ops
from ._errors import *
from ._http import *
from ._models import (
    agent as _agent_models,
    control as _control_models,
    desktop as _desktop_models,
    files as _file_models,
)
from ._models.agent import *
from ._models.control import *
from ._models.desktop import *
from ._models.files import *
from ._ops import *

__version__ = "0.1.0"

__all__: list[str] = []
__all__ += _errors.__all__
__all__ += _http.__all__
__all__ += _agent_models.__all__
__all__ += _control_models.__all__
__all__ += _desktop_models.__all__
__all__ += _file_models.__all__
__all__ += _ops.__all__
