"""The sandbox registry: one SQLite table that survives restarts of the emulator."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Registry", "SandboxRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sandboxes_by_creation ON sandboxes (created_at, id);
"""


@attrs.frozen
class SandboxRecord:
    """What the control plane remembers about a sandbox (times are epoch seconds).

    ``token_generation`` counts the times the sandbox stopped: its tokens carry the
    generation they were issued in, and only the current one opens the sandbox.
    """

    id: str
    template: str
    status: str
    created_at: float
    expires_at: float | None = None
    timeout_seconds: int | None = None
    internet_access: bool = True
    env_vars: dict[str, str] = attrs.Factory(dict)
    agent_port: int | None = None
    region: str | None = None
    resources: dict[str, Any] = attrs.Factory(dict)
    token_generation: int = 0

    def to_json(self) -> str:
        """The record as a JSON document."""
        return json.dumps(attrs.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SandboxRecord:
        """A record from :meth:`to_json` output (unknown keys ignored)."""
        data = json.loads(text)
        known = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


_FIELDS = frozenset(field.name for field in attrs.fields(SandboxRecord))


def _encode_cursor(created_at: float, sandbox_id: str) -> str:
    raw = json.dumps([created_at, sandbox_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, sandbox_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError(f"malformed cursor {cursor!r}") from None
    if not isinstance(created_at, int | float) or not isinstance(sandbox_id, str):
        raise ValueError(f"malformed cursor {cursor!r}")
    return float(created_at), sandbox_id


class Registry:
    """Sandbox records in SQLite (WAL mode); every write is one transaction.

    Listing pages through records oldest first, keyed by (created_at, id); the cursor is an
    opaque string (``ValueError`` if it is not one this registry produced).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def create(self, record: SandboxRecord) -> None:
        """Store a new record (``ValueError`` if the id exists)."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO sandboxes (id, created_at, status, record) VALUES (?, ?, ?, ?)",
                    (record.id, record.created_at, record.status, record.to_json()),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"sandbox {record.id!r} already exists") from None

    def get(self, sandbox_id: str) -> SandboxRecord | None:
        """The record with this id, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM sandboxes WHERE id = ?", (sandbox_id,)
            ).fetchone()
        return SandboxRecord.from_json(row[0]) if row else None

    def list(
        self, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[SandboxRecord], str | None]:
        """A page of records oldest first and the cursor of the next page (``None`` at the end)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if cursor:
            created_at, sandbox_id = _decode_cursor(cursor)
            where.append("(created_at > ? OR (created_at = ? AND id > ?))")
            params += [created_at, created_at, sandbox_id]
        query = "SELECT record FROM sandboxes"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY created_at, id LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        records = [SandboxRecord.from_json(row[0]) for row in rows[:limit]]
        more = len(rows) > limit
        next_cursor = _encode_cursor(records[-1].created_at, records[-1].id) if more else None
        return records, next_cursor

    def update(self, sandbox_id: str, **fields: Any) -> SandboxRecord:
        """Change some fields of a record; the new record (``KeyError`` if unknown id)."""
        unknown = set(fields) - _FIELDS - {"id"} if "id" not in fields else {"id"}
        if unknown:
            raise ValueError(f"cannot update fields {sorted(unknown)}")
        with self._transaction() as db:
            row = db.execute("SELECT record FROM sandboxes WHERE id = ?", (sandbox_id,)).fetchone()
            if row is None:
                raise KeyError(sandbox_id)
            record = attrs.evolve(SandboxRecord.from_json(row[0]), **fields)
            db.execute(
                "UPDATE sandboxes SET created_at = ?, status = ?, record = ? WHERE id = ?",
                (record.created_at, record.status, record.to_json(), sandbox_id),
            )
        return record

    def delete(self, sandbox_id: str) -> bool:
        """Forget a record; whether it existed."""
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,)).rowcount
        return bool(deleted)
