"""``hopx``: manage sandboxes from a shell, with this library's client underneath.

``hopx ls``, ``hopx create``, ``hopx kill ID``, ``hopx exec ID -- CMD``, ``hopx shell ID`` and
``hopx cp`` talk to whatever ``HOPX_BASE_URL`` and ``HOPX_API_KEY`` point at: the service, or
``hopx-local``. ``--json`` prints results for scripts; ``python -m hopx_cli`` is the same
command.
"""

from __future__ import annotations

from ._main import main as main

__all__ = ["main"]
