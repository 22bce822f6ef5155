"""One SQLite database (WAL) per home: state, ledger, outbox and archive share it, so a state change
and the events it causes commit together."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlcipher3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS stock (
    warehouse TEXT NOT NULL,
    item_id TEXT NOT NULL,
    item_name TEXT NOT NULL,
    name_time INTEGER NOT NULL,  -- microseconds since the epoch of the row that named the item
    level INTEGER NOT NULL,
    below INTEGER NOT NULL DEFAULT 0,  -- alert state: 1 once an alert fired, until the pair recovers
    PRIMARY KEY (warehouse, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stock_by_level ON stock (warehouse, level);
-- Covering for an item's total and split: a 1M-pair table has ~1,000 warehouses per item, and a seek
-- into the table per warehouse cost ~5 ms; the name is then fetched once, for the newest name_time.
DROP INDEX IF EXISTS stock_by_item;
CREATE INDEX IF NOT EXISTS stock_by_item_level ON stock (item_id, warehouse, level, name_time);
CREATE INDEX IF NOT EXISTS stock_below ON stock (below, warehouse, item_id) WHERE below = 1;

CREATE TABLE IF NOT EXISTS thresholds (
    item_id TEXT PRIMARY KEY,
    threshold INTEGER NOT NULL,
    file_key TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    arrived_at TEXT NOT NULL,
    sequence INTEGER NOT NULL UNIQUE,
    status TEXT NOT NULL,
    good_rows INTEGER NOT NULL DEFAULT 0,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    applied_total INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT ''  -- SHA-256 of the content; locally the etag is that SHA-256 too
);

CREATE TABLE IF NOT EXISTS bad_rows (
    file_key TEXT NOT NULL,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (file_key, line)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS consumed (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    bus TEXT NOT NULL,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);

CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq INTEGER NOT NULL REFERENCES events (seq),
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,  -- pending | done | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    replay_name TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (status, next_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (status) WHERE status = 'dead';
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_seq);
"""


def iso(ts: datetime) -> str:
    """Fixed-width UTC text, so timestamps sort and compare as strings."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Every plain SQLite file starts with this; a SQLCipher file starts with its random salt instead.
SQLITE_HEADER = b"SQLite format 3\x00"


def is_plain_sqlite(path: Path) -> bool:
    """Whether `path` is an unencrypted SQLite database (False when it is absent or encrypted)."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except FileNotFoundError:
        return False


# SQLCipher 4's defaults but for two: pages authenticated with HMAC-SHA256 (as strong a MAC as SHA-512
# here, and computed by the CPU's SHA extensions) and 8 KB pages (half the HMACs and IVs per byte).
# Together they took ~0.25 s off ingesting a 1M-row file (docs/performance.md).
CIPHER_SETTINGS = ("PRAGMA cipher_hmac_algorithm = HMAC_SHA256", "PRAGMA cipher_page_size = 8192")


def _connect(path: Path) -> sqlite3.Connection:
    # sqlcipher3 speaks the sqlite3 DB-API exactly; typed as sqlite3 for the checker
    return cast(
        sqlite3.Connection,
        sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30),
    )


class WrongDatabaseKey(Exception):
    pass


class Database:
    """A connection with re-entrant transactions: only the outermost block commits.

    With a key the database is SQLCipher (AES-256, pages and WAL encrypted); the key is a data key
    wrapped by the master key (see local.wiring), never stored in clear.
    """

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # SQLCipher's SQLite for a plain database too (without a key it writes the plain format): newer
        # than the one Python was built with here, and a home without encryption should not be slower.
        self.errors: Any = sqlcipher3
        if key is None:
            self.conn = _connect(path)
        else:
            # A new database gets CIPHER_SETTINGS; one made before them has SQLCipher 4's defaults, which
            # only a failed first read can tell (the file is random bytes either way).
            for settings in (CIPHER_SETTINGS, ()):
                self.conn = _connect(path)
                self.conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
                for pragma in settings:
                    self.conn.execute(pragma)
                try:
                    self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    break
                except sqlcipher3.DatabaseError:
                    self.conn.close()
            else:
                raise WrongDatabaseKey(f"cannot open {path}: wrong key, or not an encrypted database")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("PRAGMA cache_size=-16384")
        self.conn.executescript(SCHEMA)
        self._migrate()
        self._depth = 0
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        """Columns added since a home was created (CREATE TABLE IF NOT EXISTS leaves old tables as they are)."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(files)")}
        if "message" not in columns:
            self.conn.execute("ALTER TABLE files ADD COLUMN message TEXT NOT NULL DEFAULT ''")
        if "digest" not in columns:
            self.conn.execute("ALTER TABLE files ADD COLUMN digest TEXT NOT NULL DEFAULT ''")
            # The folder store's etag has always been the content's SHA-256: older rows know their digest.
            self.conn.execute("UPDATE files SET digest = etag")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._lock:
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        self.conn.close()
