"""Results of real calls convert to plain data, under asyncio and trio: model_dump(mode="json")
and model_dump_json() agree and are JSON-safe; model_dump() and dict() keep datetimes."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import pytest

import hopx_local

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _converts(value: Any) -> dict[str, Any]:
    as_json = value.model_dump(mode="json")
    assert json.loads(value.model_dump_json()) == as_json
    json.dumps(as_json, allow_nan=False)
    assert value.dict() == value.model_dump()
    return dict(value.model_dump())


async def test_results_convert(adapter: Any, local: hopx_local.LocalServer) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        info = _converts(await sb.get_info())
        assert info["sandbox_id"] == sb.sandbox_id
        assert isinstance(info["created_at"], _dt.datetime)
        assert "auth_token" not in info
        ran = _converts(await sb.run_code("print(6 * 7)"))
        assert ran["stdout"] == "42\n"
        assert ran["rich_outputs"] == []
        await sb.files.write("/workspace/a.txt", "a")
        listed = [_converts(f) for f in await sb.files.list("/workspace")]
        assert "a.txt" in {f["name"] for f in listed}
        expiry = _converts(await sb.get_expiry_info())
        assert set(expiry) == {
            "expires_at",
            "time_to_expiry",
            "is_expired",
            "is_expiring_soon",
            "has_timeout",
        }
        for template in await adapter.AsyncSandbox.list_templates():
            assert _converts(template)["name"] == template.name
