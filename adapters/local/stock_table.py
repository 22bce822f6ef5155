"""The stock table on SQLite: levels, thresholds, the file ledger and consumer markers."""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

from adapters.local.database import Database, iso, parse_iso
from adapters.ports import (
    AlertState,
    Arrival,
    ArrivalStatus,
    BadRowRecord,
    DefaultChange,
    FileRecord,
    FileStats,
    ItemTotal,
    PairDelta,
    PairOutcome,
    StockRow,
)

_ROW_SELECT = """
SELECT s.warehouse, s.item_id, s.item_name, s.level, COALESCE(t.threshold, :default)
FROM stock s LEFT JOIN thresholds t ON t.item_id = s.item_id
"""


class SqliteStockTable:
    def __init__(self, db: Database, default_threshold: int = 10) -> None:
        self.db = db
        self.default_threshold = default_threshold

    def record_default_threshold(self) -> DefaultChange | None:
        with self.db.transaction() as conn:
            stored = dict(
                conn.execute("SELECT key, value FROM meta WHERE key IN ('default_threshold', 'default_generation')")
            )
            if "default_threshold" in stored and int(stored["default_threshold"]) == self.default_threshold:
                return None
            generation = int(stored.get("default_generation", 0)) + ("default_threshold" in stored)
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("default_threshold", str(self.default_threshold)), ("default_generation", str(generation))],
            )
            if "default_threshold" not in stored:
                return None
            return DefaultChange(int(stored["default_threshold"]), self.default_threshold, generation)

    def recorded_default_threshold(self) -> int | None:
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = 'default_threshold'").fetchone()
        return int(row[0]) if row else None

    def unlisted_items(self) -> list[str]:
        sql = (
            "SELECT DISTINCT item_id FROM stock WHERE item_id NOT IN (SELECT item_id FROM thresholds) ORDER BY item_id"
        )
        return [item_id for (item_id,) in self.db.conn.execute(sql)]

    def transaction(self) -> AbstractContextManager[None]:
        @contextmanager
        def block() -> Iterator[None]:
            with self.db.transaction():
                yield

        return block()

    def first_delivery(self, consumer: str, event_id: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO consumed (consumer, event_id) VALUES (?, ?)", (consumer, event_id)
            )
            return cur.rowcount == 1

    # ------------------------------------------------------------------ ledger

    def record_arrival(
        self, key: str, kind: str, etag: str, size: int, arrived_at: datetime, *, digest: str
    ) -> Arrival:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT etag, sequence, arrived_at, kind, digest FROM files WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                same = row[0] == etag or (row[4] != "" and row[4] == digest)
                status: ArrivalStatus = "duplicate" if same else "conflict"
                return Arrival(status, key, row[0], row[1], parse_iso(row[2]), row[3])
            (sequence,) = conn.execute("SELECT COALESCE(MAX(sequence), 0) + 1 FROM files").fetchone()
            conn.execute(
                "INSERT INTO files (key, kind, etag, size, arrived_at, sequence, status, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, 'arrived', ?)",
                (key, kind, etag, size, iso(arrived_at), sequence, digest),
            )
            return Arrival("new", key, etag, sequence, arrived_at, kind)

    def file(self, key: str) -> FileRecord | None:
        row = self.db.conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE key = ?", (key,)).fetchone()
        return _file_record(row) if row else None

    def files_since(self, sequence: int) -> Iterator[FileRecord]:
        cur = self.db.conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE sequence > ? ORDER BY sequence", (sequence,)
        )
        for row in cur:
            yield _file_record(row)

    def mark_rejected(self, key: str, reason: str, message: str = "") -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE files SET status = 'rejected', reason = ?, message = ? WHERE key = ?", (reason, message, key)
            )

    def bad_rows(self, key: str) -> list[BadRowRecord]:
        cur = self.db.conn.execute(
            "SELECT file_key, line, reason, raw FROM bad_rows WHERE file_key = ? ORDER BY line", (key,)
        )
        return [BadRowRecord(*row) for row in cur]

    # ------------------------------------------------------------------ stock

    def apply_file(
        self, key: str, deltas: Iterable[PairDelta], bad_rows: Sequence[BadRowRecord], stats: FileStats
    ) -> JsonOutcomes | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status FROM files WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == "applied":
                return None
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS delta_rows (warehouse TEXT, item_id TEXT, item_name TEXT, "
                "name_time INTEGER, change INTEGER)"
            )
            conn.execute("DELETE FROM delta_rows")
            # PairDelta's fields are the columns, name_time already in microseconds. Ingest hands them over
            # in key order (the parser sorts them): then the rows are read back in the order they went in,
            # and the upsert below fills the stock B-trees in order; any other order is sorted here.
            pairs = deltas if isinstance(deltas, list) else list(deltas)
            conn.executemany("INSERT INTO delta_rows VALUES (?, ?, ?, ?, ?)", pairs)
            order = "d.rowid" if _in_key_order(pairs) else "d.warehouse, d.item_id"
            del pairs, deltas  # the caller handed them over (ingest's take_pairs): free them now
            params = {"default": self.default_threshold}
            # Read the state before the change once, set-based, then apply the whole file in one upsert.
            # A name replaces the stored one if it is newer, or if none is stored; an empty name never
            # does (a file whose rows for a pair all lack a name must not blank it). Both statements
            # below apply that rule, and the DynamoDB adapter's `_newer_name` too.
            # Rendered as JSON by SQLite, and fetched as the UTF-8 bytes it is (a BLOB is not decoded into a
            # str): no Python object per pair on the way to the StockChanged events.
            cur = conn.execute(
                """
                SELECT CAST(json_object(
                    'warehouse', d.warehouse, 'item_id', d.item_id,
                    'item_name', CASE WHEN s.name_time IS NULL
                                        OR d.item_name <> '' AND (s.item_name = '' OR d.name_time >= s.name_time)
                                      THEN d.item_name ELSE s.item_name END,
                    'change', d.change, 'level', COALESCE(s.level, 0) + d.change,
                    'threshold', COALESCE(t.threshold, :default),
                    'was_below', json(CASE WHEN s.below = 1 THEN 'true' ELSE 'false' END)) AS BLOB)
                FROM delta_rows d
                LEFT JOIN stock s ON s.warehouse = d.warehouse AND s.item_id = d.item_id
                LEFT JOIN thresholds t ON t.item_id = d.item_id
                ORDER BY """
                + order,
                params,
            )
            outcomes = JsonOutcomes([text for (text,) in cur])
            conn.execute(
                """
                INSERT INTO stock (warehouse, item_id, item_name, name_time, level, below)
                SELECT d.warehouse, d.item_id, d.item_name, d.name_time, d.change,
                       d.change < COALESCE(t.threshold, :default)
                FROM delta_rows d LEFT JOIN thresholds t ON t.item_id = d.item_id WHERE true
                ON CONFLICT (warehouse, item_id) DO UPDATE SET
                    level = stock.level + excluded.level,
                    below = (stock.level + excluded.level) < COALESCE(
                        (SELECT threshold FROM thresholds WHERE item_id = excluded.item_id), :default),
                    item_name = CASE WHEN excluded.item_name <> ''
                                          AND (stock.item_name = '' OR excluded.name_time >= stock.name_time)
                                     THEN excluded.item_name ELSE stock.item_name END,
                    name_time = CASE WHEN excluded.item_name <> ''
                                          AND (stock.item_name = '' OR excluded.name_time >= stock.name_time)
                                     THEN excluded.name_time ELSE stock.name_time END
                """,
                params,
            )
            conn.execute("DELETE FROM delta_rows")
            conn.executemany(
                "INSERT OR REPLACE INTO bad_rows (file_key, line, reason, raw) VALUES (?, ?, ?, ?)",
                ((key, b.line, b.reason, b.raw) for b in bad_rows),
            )
            conn.execute(
                "UPDATE files SET status = 'applied', good_rows = ?, bad_rows = ?, applied_total = ? WHERE key = ?",
                (stats.good_rows, stats.bad_rows, stats.applied_total, key),
            )
            return outcomes

    def set_thresholds(self, key: str, thresholds: dict[str, int]) -> list[tuple[str, int, int]] | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status FROM files WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == "applied":
                return None
            changes: list[tuple[str, int, int]] = []
            for item_id, new in thresholds.items():
                old_row = conn.execute("SELECT threshold FROM thresholds WHERE item_id = ?", (item_id,)).fetchone()
                old = old_row[0] if old_row else self.default_threshold
                conn.execute(
                    "INSERT OR REPLACE INTO thresholds (item_id, threshold, file_key) VALUES (?, ?, ?)",
                    (item_id, new, key),
                )
                if old != new:
                    changes.append((item_id, old, new))
            conn.execute("UPDATE files SET status = 'applied', good_rows = ? WHERE key = ?", (len(thresholds), key))
            return changes

    def threshold(self, item_id: str) -> int:
        row = self.db.conn.execute("SELECT threshold FROM thresholds WHERE item_id = ?", (item_id,)).fetchone()
        return int(row[0]) if row else self.default_threshold

    def recheck_item(self, item_id: str) -> list[AlertState]:
        with self.db.transaction() as conn:
            threshold = self.threshold(item_id)
            rows = conn.execute(
                "SELECT warehouse, item_id, item_name, level, below FROM stock WHERE item_id = ? ORDER BY warehouse",
                (item_id,),
            ).fetchall()
            conn.execute("UPDATE stock SET below = (level < ?) WHERE item_id = ?", (threshold, item_id))
            return [AlertState(w, i, n, lv, bool(b)) for (w, i, n, lv, b) in rows]

    # ------------------------------------------------------------------ reports

    def warehouse_items(
        self,
        warehouse: str,
        min_level: int | None = None,
        after_item: str | None = None,
        limit: int | None = None,
    ) -> list[StockRow]:
        sql = _ROW_SELECT + " WHERE s.warehouse = :warehouse"
        params: dict[str, object] = {"default": self.default_threshold, "warehouse": warehouse}
        if min_level is not None:
            sql += " AND s.level > :min_level"
            params["min_level"] = min_level
        if after_item is not None:
            sql += " AND s.item_id > :after"
            params["after"] = after_item
        sql += " ORDER BY s.item_id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return list(map(StockRow._make, self.db.conn.execute(sql, params)))

    def warehouse_exists(self, warehouse: str) -> bool:
        row = self.db.conn.execute("SELECT 1 FROM stock WHERE warehouse = ? LIMIT 1", (warehouse,)).fetchone()
        return row is not None

    def warehouses(self) -> list[str]:
        # A skip-scan over the primary key: one seek per warehouse, not a scan of every pair.
        out: list[str] = []
        row = self.db.conn.execute("SELECT MIN(warehouse) FROM stock").fetchone()
        while row is not None and row[0] is not None:
            out.append(row[0])
            row = self.db.conn.execute("SELECT MIN(warehouse) FROM stock WHERE warehouse > ?", (row[0],)).fetchone()
        return out

    def item_total(self, item_id: str) -> ItemTotal | None:
        rows = self.db.conn.execute(
            "SELECT warehouse, level, name_time FROM stock WHERE item_id = ? ORDER BY warehouse", (item_id,)
        ).fetchall()
        if not rows:
            return None
        newest = max(rows, key=lambda r: r[2])[0]
        (newest_name,) = self.db.conn.execute(
            "SELECT item_name FROM stock WHERE warehouse = ? AND item_id = ?", (newest, item_id)
        ).fetchone()
        return ItemTotal(item_id, newest_name, sum(r[1] for r in rows), [(r[0], r[1]) for r in rows])

    def restock_list(self, after: tuple[str, str] | None = None, limit: int | None = None) -> list[StockRow]:
        params: dict[str, object] = {"default": self.default_threshold, "limit": -1 if limit is None else limit}
        sql = _ROW_SELECT + " WHERE s.below = 1"
        if after is not None:
            sql += " AND (s.warehouse, s.item_id) > (:after_warehouse, :after_item)"
            params["after_warehouse"], params["after_item"] = after
        sql += " ORDER BY s.warehouse, s.item_id LIMIT :limit"
        return list(map(StockRow._make, self.db.conn.execute(sql, params)))


def _in_key_order(pairs: list[PairDelta]) -> bool:
    # Python compares str by code point, SQLite's BINARY collation by UTF-8 bytes: the same order. Whole
    # tuples compare as their keys do: a file's pairs are unique, so the key decides every comparison.
    return all(map(operator.lt, pairs, itertools.islice(pairs, 1, None)))


class JsonOutcomes:
    """PairOutcomes kept as the JSON SQLite rendered; PairOutcome tuples only when iterated (tests, tools)."""

    def __init__(self, rows: list[bytes]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[PairOutcome]:
        for text in self._rows:
            yield PairOutcome(**json.loads(text))

    def as_json(self) -> list[bytes]:
        return self._rows


_FILE_COLUMNS = (
    "key, kind, etag, sequence, arrived_at, status, good_rows, bad_rows, applied_total, reason, message, digest"
)


def _file_record(row: tuple[Any, ...]) -> FileRecord:
    key, kind, etag, sequence, arrived_at, status, good, bad, total, reason, message, digest = row
    return FileRecord(
        key, kind, etag, sequence, parse_iso(arrived_at), status, good, bad, total, reason, message, digest
    )
