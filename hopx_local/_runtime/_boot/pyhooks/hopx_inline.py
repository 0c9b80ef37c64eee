"""A matplotlib backend that turns shown figures into rich outputs of the execution.

Selected with ``MPLBACKEND=module://hopx_inline``; drawing uses Agg, ``show()`` records every
open figure as PNG (see ``sitecustomize.flush_figures``).
"""

from __future__ import annotations

import importlib
from typing import Any

FigureCanvas: Any = importlib.import_module("matplotlib.backends.backend_agg").FigureCanvasAgg
FigureManager: Any = importlib.import_module("matplotlib.backend_bases").FigureManagerBase


def show(*_args: Any, **_kwargs: Any) -> None:
    """Record the open figures instead of opening a window."""
    importlib.import_module("sitecustomize").flush_figures()
