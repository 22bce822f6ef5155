from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.local.database import Database
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
