"""The report queries of the local stock table stay index-only where the bench showed it matters.

An item spans every warehouse (~1,000 in a 1M-pair table): a seek into the table per warehouse took
~5 ms, the covering index ~1 ms. A schema change that loses the covering index must fail here, not only
in `make bench`.
"""

from __future__ import annotations

from pathlib import Path

from adapters.local.database import Database


def _plan(db: Database, sql: str, *params: object) -> str:
    return " ".join(row[-1] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_GIVEN_item_report_query_WHEN_planned_THEN_covering_index_only(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    plan = _plan(db, "SELECT warehouse, level, name_time FROM stock WHERE item_id = ? ORDER BY warehouse", "i1")
    assert "COVERING INDEX stock_by_item_level" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # already in warehouse order: no sort


def test_GIVEN_database_with_the_old_item_index_WHEN_opened_THEN_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Database(path).close()
    old = Database(path)
    old.conn.execute("DROP INDEX stock_by_item_level")
    old.conn.execute("CREATE INDEX stock_by_item ON stock (item_id)")
    old.close()
    names = {r[0] for r in Database(path).conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "stock_by_item_level" in names and "stock_by_item" not in names
