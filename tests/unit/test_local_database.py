from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlcipher3

from adapters.local.database import CIPHER_SETTINGS, Database, WrongDatabaseKey, is_plain_sqlite
from adapters.local.stock_table import SqliteStockTable


def test_a_home_from_before_the_rejection_message_opens_and_keeps_its_ledger(tmp_path: Path) -> None:
    # GIVEN a database whose files table predates the message column, with a file in its ledger
    path = tmp_path / "state.db"
    db = Database(path, key=b"k" * 32)
    SqliteStockTable(db).record_arrival("inventory_files/a.csv", "inventory", "e", 1, datetime.now(UTC), digest="e")
    db.conn.execute("ALTER TABLE files DROP COLUMN message")
    db.close()
    # WHEN it is opened by this version and a file is rejected
    table = SqliteStockTable(Database(path, key=b"k" * 32))
    table.mark_rejected("inventory_files/a.csv", "unreadable", "line 1 is not a header")
    # THEN the old record is there, with the sentence
    record = table.file("inventory_files/a.csv")
    assert record is not None and (record.status, record.message) == ("rejected", "line 1 is not a header")


def test_a_home_from_before_content_digests_opens_and_its_files_know_their_digest(tmp_path: Path) -> None:
    # GIVEN a database whose files table predates the digest column (the folder store's etag is a SHA-256)
    path = tmp_path / "state.db"
    db = Database(path, key=b"k" * 32)
    SqliteStockTable(db).record_arrival("inventory_files/a.csv", "inventory", "sha", 1, datetime.now(UTC), digest="sha")
    db.conn.execute("ALTER TABLE files DROP COLUMN digest")
    db.close()
    # WHEN it is opened by this version
    table = SqliteStockTable(Database(path, key=b"k" * 32))
    # THEN the old record's digest is its etag, so the same content uploaded again is a duplicate
    record = table.file("inventory_files/a.csv")
    assert record is not None and record.digest == "sha"
    again = table.record_arrival("inventory_files/a.csv", "inventory", "other", 1, datetime.now(UTC), digest="sha")
    assert again.status == "duplicate"


def _open_with(path: Path, key: bytes, *pragmas: str) -> sqlcipher3.Connection:
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    for pragma in pragmas:
        conn.execute(pragma)
    return conn


def test_a_home_encrypted_with_sqlciphers_defaults_still_opens(tmp_path: Path) -> None:
    # GIVEN a database written with SQLCipher 4's default settings (every home made before ours changed)
    path, key = tmp_path / "state.db", b"k" * 32
    old = _open_with(path, key)
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    old.execute("INSERT INTO meta VALUES ('default_threshold', '7')")
    old.close()
    # WHEN this version opens it, THEN its data is there and it takes new writes
    table = SqliteStockTable(Database(path, key=key), default_threshold=7)
    assert table.recorded_default_threshold() == 7
    table.record_arrival("inventory_files/a.csv", "inventory", "e", 1, datetime.now(UTC), digest="e")
    table.db.close()
    # AND it keeps its settings: SQLCipher's defaults still read it
    assert _open_with(path, key).execute("SELECT count(*) FROM files").fetchone() == (1,)


def test_a_new_home_uses_our_cipher_settings_and_refuses_a_wrong_key(tmp_path: Path) -> None:
    path, key = tmp_path / "state.db", b"k" * 32
    Database(path, key=key).close()
    # Our settings read it; SQLCipher's defaults do not (the settings are what the file was written with)
    assert _open_with(path, key, *CIPHER_SETTINGS).execute("SELECT count(*) FROM stock").fetchone() == (0,)
    with pytest.raises(sqlcipher3.DatabaseError):
        _open_with(path, key).execute("SELECT count(*) FROM stock").fetchone()
    with pytest.raises(WrongDatabaseKey, match="wrong key"):
        Database(path, key=b"x" * 32)


def test_a_home_without_encryption_is_a_plain_sqlite_file_any_tool_reads(tmp_path: Path) -> None:
    # GIVEN a database made without a key (INVENTORY_ENCRYPT=false), with a file in its ledger
    path = tmp_path / "state.db"
    table = SqliteStockTable(Database(path))
    table.record_arrival("inventory_files/a.csv", "inventory", "e", 1, datetime.now(UTC), digest="e")
    table.db.close()
    # THEN Python's own sqlite3 (another SQLite than the one the home is written with) reads it
    assert is_plain_sqlite(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT key FROM files").fetchall() == [("inventory_files/a.csv",)]
