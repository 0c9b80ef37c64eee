"""``python -m hopx_local``: the ``hopx-local`` command."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
