"""Results convert like the official client's: model_dump(), model_dump_json() and dict() give
what hopx-ai 0.5.0's pydantic models give for the same wire JSON."""

from __future__ import annotations

import datetime as _dt
import json
import math
import warnings
from typing import Any

import pytest

from hopx_proto import (
    ExecutionResult,
    ExpiryInfo,
    FileInfo,
    HopxError,
    RichOutput,
    SandboxInfo,
    Template,
)
from hopx_proto.wire import from_wire

hopx_ai = pytest.importorskip("hopx_ai")
official_models = pytest.importorskip("hopx_ai.models")
official_parsers = pytest.importorskip("hopx_ai._parsers")

SANDBOX = {
    "id": "sb_7f3a",
    "status": "running",
    "public_host": "https://7777-sb_7f3a.eu-1.vms.hopx.dev/",
    "direct_url": "http://10.0.0.7:7777",
    "template_id": "282",
    "template_name": "code-interpreter",
    "organization_id": 41,
    "node_id": "node-3",
    "region": "eu-1",
    "resources": {"vcpu": 2, "memory_mb": 2048, "disk_mb": 10240},
    "internet_access": True,
    "live_mode": False,
    "timeout_seconds": 600,
    "created_at": "2025-01-15T10:30:00.123456Z",
    "expires_at": "2025-01-15T12:40:00+02:00",
    "auth_token": "eyJ.secret.jwt",
    "token_expires_at": "2025-01-15T11:30:00Z",
    "request_id": "req-1",
    "undocumented": {"kept": "in extra"},
}

TEMPLATE = {
    "id": "282",
    "name": "code-interpreter",
    "display_name": "Code Interpreter",
    "description": "Python with the usual libraries",
    "category": "general",
    "language": "python",
    "default_resources": {"vcpu": 2, "memory_mb": 2048, "disk_gb": 10},
    "features": ["jupyter", "desktop"],
    "tags": ["python"],
    "popularity_score": 9,
    "is_active": True,
    "is_public": True,
    "created_at": "2024-11-02T08:00:00Z",
    "updated_at": "2025-01-01T00:00:00.5Z",
    "object": "template",
}

FILE = {
    "name": "notes é.txt",
    "path": "/workspace/notes é.txt",
    "size": 12,
    "is_directory": False,
    "modified_time": "2025-01-15T10:31:02Z",
    "permissions": "-rw-r--r--",
}

EXECUTION = {
    "stdout": "42\n",
    "stderr": "",
    "exit_code": 0,
    "execution_time": 0.25,
    "success": True,
    "language": "python",
    "timestamp": "2025-01-15T10:32:00Z",
    "png": "iVBORw0KGgo=",
    "html": "<table></table>",
    "json": {"a": [1, 2]},
}


def _official_execution(wire: dict[str, Any]) -> Any:
    """The official model holding the wire reply's values (its own rich-output parser)."""
    values = {k: v for k, v in wire.items() if k != "json"}
    return official_models.ExecutionResult(
        **values,
        json_output=wire.get("json"),
        rich_outputs=official_parsers._parse_rich_outputs(wire),
    )


#: Keys only ours have, each for a reason: the agent token is never dumped, but these are.
OURS_ONLY = {
    "SandboxInfo": {"token_expires_at", "request_id"},
    "Template": {"fluent_api_config"},
    "ExecutionResult": {"timed_out", "error"},
    "FileInfo": set(),
    "ExpiryInfo": set(),
}


def _pairs() -> list[tuple[str, Any, Any]]:
    expires = _dt.datetime(2025, 1, 15, 12, 0, tzinfo=_dt.UTC)
    return [
        (
            "SandboxInfo",
            from_wire(SandboxInfo, SANDBOX),
            official_parsers._parse_sandbox_info_response(SANDBOX),
        ),
        (
            "Template",
            from_wire(Template, TEMPLATE),
            official_parsers._parse_template_response(TEMPLATE),
        ),
        ("FileInfo", from_wire(FileInfo, FILE), official_models.FileInfo(**FILE)),
        (
            "ExpiryInfo",
            ExpiryInfo.at(expires, expires - _dt.timedelta(seconds=100)),
            official_models.ExpiryInfo(
                expires_at=expires,
                time_to_expiry=100,
                is_expired=False,
                is_expiring_soon=True,
                has_timeout=True,
            ),
        ),
    ]


def _rich_json(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The official parser leaves format and metadata unset; ours says the format.
    return [{k: v for k, v in o.items() if k not in ("format", "metadata")} for o in outputs]


@pytest.mark.parametrize(("name", "ours", "theirs"), _pairs(), ids=lambda v: str(v)[:12])
def test_dumps_match_the_official_models(name: str, ours: Any, theirs: Any) -> None:
    mine, official = ours.model_dump(), theirs.model_dump()
    assert set(mine) - set(official) == OURS_ONLY[name]
    assert set(official) <= set(mine)
    assert {k: mine[k] for k in official} == official
    mine_json = json.loads(ours.model_dump_json())
    official_json = json.loads(theirs.model_dump_json())
    assert {k: mine_json[k] for k in official_json} == official_json
    assert ours.model_dump(mode="json") == mine_json
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = theirs.dict()
    assert {k: ours.dict()[k] for k in legacy} == legacy


def test_execution_result_dumps_match_the_official_model() -> None:
    ours = from_wire(ExecutionResult, EXECUTION)
    theirs = _official_execution(EXECUTION)
    mine = json.loads(ours.model_dump_json())
    official = json.loads(theirs.model_dump_json())
    assert set(mine) - set(official) == OURS_ONLY["ExecutionResult"]
    assert _rich_json(mine.pop("rich_outputs")) == _rich_json(official.pop("rich_outputs"))
    assert {k: mine[k] for k in official} == official
    assert mine["json_output"] == {"a": [1, 2]}
    python = ours.model_dump()
    assert python["timestamp"] == _dt.datetime(2025, 1, 15, 10, 32, tzinfo=_dt.UTC)
    assert python["rich_outputs"][0] == {
        "type": "image/png",
        "data": {"image/png": "iVBORw0KGgo="},
        "format": "base64",
        "metadata": {},
    }


def test_datetimes_are_iso_text_in_json_mode() -> None:
    dumped = from_wire(SandboxInfo, SANDBOX).model_dump(mode="json")
    assert dumped["created_at"] == "2025-01-15T10:30:00.123456Z"
    assert dumped["expires_at"] == "2025-01-15T12:40:00+02:00"
    assert dumped["end_at"] == dumped["expires_at"]
    assert dumped["started_at"] is None
    json.dumps(dumped, allow_nan=False)  # JSON-safe all the way down
    official = official_parsers._parse_sandbox_info_response(SANDBOX).model_dump(mode="json")
    assert dumped["created_at"] == official["created_at"]
    assert dumped["expires_at"] == official["expires_at"]


def test_secrets_and_undocumented_keys_are_not_dumped() -> None:
    info = from_wire(SandboxInfo, SANDBOX)
    assert info.auth_token == "eyJ.secret.jwt"
    assert info.extra == {"undocumented": {"kept": "in extra"}}
    text = info.model_dump_json()
    assert "eyJ.secret.jwt" not in text
    assert "undocumented" not in text
    assert "auth_token" not in info.model_dump()
    assert "extra" not in info.model_dump()


def test_dump_options() -> None:
    info = from_wire(SandboxInfo, SANDBOX)
    assert info.model_dump(include={"sandbox_id", "status"}) == {
        "sandbox_id": "sb_7f3a",
        "status": "running",
    }
    assert "resources" not in info.model_dump(exclude={"resources"})
    sparse = from_wire(SandboxInfo, {"id": "sb_1", "status": "paused"}).model_dump(
        exclude_none=True
    )
    assert sparse == {"sandbox_id": "sb_1", "status": "paused", "public_host": ""}
    assert info.dict(include=["region"]) == {"region": "eu-1"}
    indented = info.model_dump_json(indent=2, include={"resources"})
    assert indented == json.dumps({"resources": SANDBOX["resources"]}, indent=2)
    assert json.loads(FileInfo(name="é").model_dump_json())["name"] == "é"
    assert "é" in FileInfo(name="é").model_dump_json()  # UTF-8, not escaped, as pydantic
    nan = ExecutionResult(exit_code=0, execution_time=math.nan)
    assert json.loads(nan.model_dump_json())["execution_time"] is None
    with pytest.raises(ValueError, match="mode"):
        info.model_dump(mode="yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="field names"):
        info.model_dump(include="status")


def test_nested_values_and_lists() -> None:
    rich = RichOutput(type="text/html", data={"text/html": "<b>x</b>"}, format="html")
    assert rich.model_dump() == {
        "type": "text/html",
        "data": {"text/html": "<b>x</b>"},
        "format": "html",
        "metadata": {},
    }
    template = from_wire(Template, TEMPLATE)
    assert template.model_dump()["default_resources"] == {
        "vcpu": 2,
        "memory_mb": 2048,
        "disk_gb": 10,
    }
    assert isinstance(HopxError("x"), Exception)  # the errors are not values: nothing added
    assert not hasattr(HopxError("x"), "model_dump")
