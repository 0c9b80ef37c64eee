"""How results look: sandbox records for ``--json``, and tables for people."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

from hopx_asyncio import SandboxInfo

__all__ = ["dumps", "sandbox_record", "sandbox_table"]

#: (column heading, record key) of ``hopx ls``, in order.
_COLUMNS = (
    ("ID", "sandbox_id"),
    ("STATUS", "status"),
    ("TEMPLATE", "template_name"),
    ("CREATED", "created_at"),
    ("EXPIRES", "expires_at"),
    ("AGENT", "public_host"),
)


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def sandbox_record(info: SandboxInfo) -> dict[str, Any]:
    """The JSON-safe fields of ``info`` a script needs (no token)."""
    return {
        "sandbox_id": info.sandbox_id,
        "status": info.status,
        "template_name": info.template_name,
        "template_id": info.template_id,
        "region": info.region,
        "public_host": info.public_host,
        "internet_access": info.internet_access,
        "timeout_seconds": info.timeout_seconds,
        "created_at": _iso(info.created_at),
        "expires_at": _iso(info.expires_at),
    }


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("created_at", "expires_at"):
        # Minutes are enough to read; --json has the full timestamp.
        return str(value)[:16].replace("T", " ")
    return str(value)


def sandbox_table(records: Sequence[dict[str, Any]]) -> str:
    """Records as aligned columns under a heading line (the heading alone when empty)."""
    rows = [[heading for heading, _ in _COLUMNS]]
    rows += [[_cell(key, record.get(key)) for _, key in _COLUMNS] for record in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def dumps(value: Any) -> str:
    """``value`` as one line of JSON."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
