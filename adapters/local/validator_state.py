"""The validator's checkpoint, carried state and run lease in the home's SQLite database.

One SQLite transaction holds a save whole, so `Change.previous` is not needed here (the DynamoDB
adapter uses it to roll back an interrupted save).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from adapters.local.database import Database
from validator.state import Change, Lease, LeaseLost, Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS validator_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    expires REAL NOT NULL  -- epoch seconds
);
CREATE TABLE IF NOT EXISTS validator_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validator_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


class SqliteValidatorState:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as conn:
            # executescript would commit the open transaction; the statements are run one by one.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def lease(self) -> Lease | None:
        row = self.db.conn.execute("SELECT owner, expires FROM validator_lease WHERE id = 1").fetchone()
        return Lease(row[0], datetime.fromtimestamp(row[1], UTC)) if row else None

    def acquire(self, owner: str, now: datetime, ttl: timedelta, replace: str | None = None) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT owner, expires FROM validator_lease WHERE id = 1").fetchone()
            free = row is None or row[1] <= now.timestamp() or row[0] in (owner, replace)
            if free:
                conn.execute(
                    "INSERT OR REPLACE INTO validator_lease (id, owner, expires) VALUES (1, ?, ?)",
                    (owner, (now + ttl).timestamp()),
                )
            return free

    def release(self, owner: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM validator_lease WHERE id = 1 AND owner = ?", (owner,))

    def load(self) -> Snapshot:
        row = self.db.conn.execute("SELECT body FROM validator_checkpoint WHERE id = 1").fetchone()
        entries = dict(self.db.conn.execute("SELECT key, value FROM validator_state"))
        return Snapshot(row[0] if row else None, entries)

    def save(self, owner: str, checkpoint: str, changes: Mapping[str, Change], now: datetime, ttl: timedelta) -> None:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE validator_lease SET expires = ? WHERE id = 1 AND owner = ? AND expires > ?",
                ((now + ttl).timestamp(), owner, now.timestamp()),
            )
            if cur.rowcount != 1:
                raise LeaseLost(f"{owner} no longer holds the validator lease")
            conn.executemany(
                "INSERT OR REPLACE INTO validator_state (key, value) VALUES (?, ?)",
                ((k, c.value) for k, c in changes.items() if c.value is not None),
            )
            conn.executemany(
                "DELETE FROM validator_state WHERE key = ?",
                ((k,) for k, c in changes.items() if c.value is None),
            )
            conn.execute("INSERT OR REPLACE INTO validator_checkpoint (id, body) VALUES (1, ?)", (checkpoint,))
