"""Policy without I/O: which failures to retry, after how long, and when a token is stale.

Every decision takes ``now`` and randomness as arguments, so a test replays it exactly.
"""

from __future__ import annotations

from . import _policy
from ._policy import *

__all__: list[str] = []
__all__ += _policy.__all__
