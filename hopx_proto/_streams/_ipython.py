"""``/stream/ipython``: run code in the IPython kernel, receive output and rich outputs.

The service documents no format for this endpoint; ours is the same as ``/stream``: the
``execute`` request up; ``stdout``, ``stderr``, ``display``, ``result``, ``error`` and
``complete`` down.
"""

from __future__ import annotations

from typing import ClassVar

from ._base import StreamMessage, StreamSpec
from ._execute import (
    ExecuteStreamRequest,
    RequestStreamClient,
    RequestStreamServer,
    output_stream_spec,
)
from ._rich import RichEvent, RichOutput

__all__ = ["IPythonStreamClient", "IPythonStreamServer"]

IPYTHON_STREAM = output_stream_spec("/stream/ipython", ExecuteStreamRequest, (RichOutput,))


class IPythonStreamClient(RequestStreamClient[ExecuteStreamRequest, RichEvent]):
    """Client role of ``/stream/ipython``."""

    SPEC: ClassVar[StreamSpec] = IPYTHON_STREAM
    REQUEST: ClassVar[type[StreamMessage]] = ExecuteStreamRequest


class IPythonStreamServer(RequestStreamServer[ExecuteStreamRequest, RichEvent]):
    """Server role of ``/stream/ipython``."""

    SPEC: ClassVar[StreamSpec] = IPYTHON_STREAM
