from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.local.database import Database
from adapters.local.stock_table import SqliteStockTable


def test_a_home_from_before_the_rejection_message_opens_and_keeps_its_ledger(tmp_path: Path) -> None:
    # GIVEN a database whose files table predates the message column, with a file in its ledger
    path = tmp_path / "state.db"
    db = Database(path, key=b"k" * 32)
    SqliteStockTable(db).record_arrival("inventory_files/a.csv", "inventory", "e", 1, datetime.now(UTC))
    db.conn.execute("ALTER TABLE files DROP COLUMN message")
    db.close()
    # WHEN it is opened by this version and a file is rejected
    table = SqliteStockTable(Database(path, key=b"k" * 32))
    table.mark_rejected("inventory_files/a.csv", "unreadable", "line 1 is not a header")
    # THEN the old record is there, with the sentence
    record = table.file("inventory_files/a.csv")
    assert record is not None and (record.status, record.message) == ("rejected", "line 1 is not a header")
