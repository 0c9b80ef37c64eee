"""``python -m hopx_cli``: the ``hopx`` command."""

from __future__ import annotations

import sys

from ._main import main

sys.exit(main())
