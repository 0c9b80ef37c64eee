"""The SQLite sandbox registry: CRUD, cursor pagination, transactions, restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hopx_local._runtime.registry import Registry, SandboxRecord


def record(sandbox_id: str, created_at: float, status: str = "running") -> SandboxRecord:
    return SandboxRecord(
        id=sandbox_id,
        template="code-interpreter",
        status=status,
        created_at=created_at,
        expires_at=created_at + 600,
        timeout_seconds=600,
        internet_access=False,
        env_vars={"A": "1"},
        agent_port=None,
        region="local",
        resources={"vcpu": 2},
    )


def test_create_get_update_delete(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite3")
    registry.create(record("a", 100.0))
    assert registry.get("a") == record("a", 100.0)
    assert registry.get("missing") is None
    with pytest.raises(ValueError, match="already exists"):
        registry.create(record("a", 200.0))
    updated = registry.update("a", status="paused", agent_port=4321)
    assert (updated.status, updated.agent_port, updated.env_vars) == ("paused", 4321, {"A": "1"})
    assert registry.get("a") == updated
    with pytest.raises(KeyError):
        registry.update("missing", status="paused")
    with pytest.raises(ValueError, match="cannot update"):
        registry.update("a", colour="blue")
    assert registry.delete("a") is True
    assert registry.delete("a") is False
    assert registry.get("a") is None


def test_pagination_by_creation_time_then_id(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite3")
    ids = []
    for index in range(7):
        sandbox_id = f"s{6 - index}"
        registry.create(record(sandbox_id, 1000.0 + index // 2))
        ids.append(sandbox_id)
    expected = sorted(ids, key=lambda i: (1000.0 + (6 - int(i[1:])) // 2, i))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = registry.list(limit=3, cursor=cursor)
        seen += [item.id for item in page]
        pages += 1
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3
    registry.update("s3", status="stopped")
    stopped, more = registry.list(status="stopped", limit=10)
    assert [item.id for item in stopped] == ["s3"]
    assert more is None
    with pytest.raises(ValueError, match="cursor"):
        registry.list(cursor="not-a-cursor!")
    with pytest.raises(ValueError, match="limit"):
        registry.list(limit=0)


def test_records_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "registry.sqlite3"
    first = Registry(path)
    first.create(record("keep", 1.0))
    first.update("keep", status="stopped")
    first.close()
    second = Registry(path)
    assert second.get("keep") == record("keep", 1.0, status="stopped")
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_failed_write_changes_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite3")
    registry.create(record("x", 5.0))
    with pytest.raises(TypeError):
        registry.update("x", status="paused", env_vars={object(): 1})
    assert registry.get("x") == record("x", 5.0)
