"""SQL over the raw inventory files: an in-memory DuckDB holding every good row of every inventory file.

"Good" means exactly what ingest applied: only files the ledger marks `applied` (with the content it
applied) are read, and their rows come from `services.ingest.parsing.parse_inventory`, the same parser
ingest uses, never from a second reading of the TSV. A file stored but not yet processed is left out
(and counted, so the caller can say so): the stock levels do not include it either. The columns match the Glue table on
AWS (year/month/day come from the key's folders, as Athena's partition projection derives them), so one
query runs in both places.

The parsed rows reach DuckDB through a temporary JSON file per batch (one list per column): without
pyarrow or numpy that is by far the fastest route (executemany costs ~180 µs a row, this ~2.5 µs). JSON
rather than CSV because DuckDB's CSV reader silently drops a CR inside a quoted field, and a rejected
row's raw text may hold any character; JSON escapes them all. After
loading, file system access is switched off and the configuration locked, so a query can change the
in-memory database but nothing outside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from adapters.ports import FileRecord, ObjectChanged, ObjectInfo, ObjectStore, StockTable
from events.rules import INVENTORY_PREFIX
from services.files.keys import is_data_key, key_date
from services.files.logic import holds_recorded
from services.ingest.parsing import BadRow, UnusableFile, inventory_bytes, parse_inventory

BATCH_ROWS = 100_000

_TRANSACTIONS_DDL = """
CREATE TABLE _transactions (
    ts TIMESTAMP WITH TIME ZONE NOT NULL, warehouse VARCHAR NOT NULL, item_id VARCHAR NOT NULL,
    item_name VARCHAR NOT NULL, change INTEGER NOT NULL, file_key VARCHAR NOT NULL,
    year INTEGER, month INTEGER, day INTEGER, line INTEGER NOT NULL
)
"""
_REJECTED_DDL = "CREATE TABLE _rejected (file_key VARCHAR NOT NULL, line INTEGER, reason VARCHAR, raw VARCHAR)"
_VIEWS = """
CREATE VIEW transactions AS
    SELECT ts, warehouse, item_id, item_name, change, file_key, year, month, day FROM _transactions;
CREATE VIEW rejected_rows AS SELECT file_key, line, reason, raw FROM _rejected;
"""
_COLUMNS = {
    "_transactions": {
        "ts": "TIMESTAMP WITH TIME ZONE", "warehouse": "VARCHAR", "item_id": "VARCHAR",
        "item_name": "VARCHAR", "change": "INTEGER", "file_key": "VARCHAR", "year": "INTEGER",
        "month": "INTEGER", "day": "INTEGER", "line": "INTEGER",
    },
    "_rejected": {"file_key": "VARCHAR", "line": "INTEGER", "reason": "VARCHAR", "raw": "VARCHAR"},
}  # fmt: skip


class SqlError(ValueError):
    """A query DuckDB refused; str(exc) is one line."""


@dataclass
class LoadStats:
    files: int = 0
    good_rows: int = 0
    bad_rows: int = 0
    unusable_files: int = 0
    not_applied: int = 0  # stored, but not (yet) applied by ingest: left out
    changed: int = 0  # the stored content is not what ingest applied under the key: left out


@dataclass
class Selection:
    """The inventory files to load, chosen by the ledger; what was left out is counted."""

    applied: list[ObjectInfo] = field(default_factory=list)
    rejected: list[FileRecord] = field(default_factory=list)  # unusable files: one rejected row each
    not_applied: int = 0
    changed: int = 0

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """Changes whenever what a load would hold changes."""
        return tuple((i.key, i.etag) for i in self.applied) + tuple((r.key, "rejected") for r in self.rejected)


def select_files(
    objects: ObjectStore, table: StockTable, *, first_day: date | None = None, last_day: date | None = None
) -> Selection:
    """The stored inventory files whose ledger status is `applied` (or `rejected`), within the dates."""
    # The ledger is read before the bucket is listed: a file applied in between is then merely left out
    # (as if listed a moment earlier), never loaded without the ledger knowing it.
    ledger = {r.key: r for r in table.files_since(0) if r.kind == "inventory"}
    selection = Selection()
    for info in objects.list(INVENTORY_PREFIX):
        if first_day or last_day:
            day = key_date(info.key)
            if day is None or (first_day and day < first_day) or (last_day and day > last_day):
                continue
        record = ledger.get(info.key)
        if record is None and not is_data_key(info.key):
            continue  # the files service refuses such a key (bad_key): it is never applied, nor waiting
        if record is None or record.status not in ("applied", "rejected"):
            selection.not_applied += 1
        elif not holds_recorded(objects, info, record.etag, record.digest):
            # On S3 an object can be overwritten after it was applied; ingest refuses the new content
            # (a conflict), so its rows are not in the levels and must not be in the transactions.
            selection.changed += 1
        elif record.status == "applied":
            selection.applied.append(info)
        else:
            selection.rejected.append(record)
    return selection


def connect(
    objects: ObjectStore,
    table: StockTable,
    *,
    batch_rows: int = BATCH_ROWS,
    first_day: date | None = None,
    last_day: date | None = None,
) -> tuple[duckdb.DuckDBPyConnection, LoadStats]:
    """A read-only-to-the-outside DuckDB with the views `transactions` and `rejected_rows` loaded.

    Only files the ledger (`table`) marks applied are read. With first_day/last_day only the files whose
    key is dated within them (inclusive) are: loading parses every file, so a range is what keeps a
    query over months of uploads quick.
    """
    selection = select_files(objects, table, first_day=first_day, last_day=last_day)
    return load(objects, selection, batch_rows=batch_rows)


def load(
    objects: ObjectStore, selection: Selection, *, batch_rows: int = BATCH_ROWS
) -> tuple[duckdb.DuckDBPyConnection, LoadStats]:
    """The DuckDB of `connect`, holding the files of a selection."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_TRANSACTIONS_DDL)
    con.execute(_REJECTED_DDL)
    stats = LoadStats(not_applied=selection.not_applied, changed=selection.changed)
    loader = _Loader(con, batch_rows)
    for info in selection.applied:
        stats.files += 1
        loader.load_file(info, objects, stats)
    for record in selection.rejected:
        # Ingest could not read the file at all and applied nothing: one rejected "row" without a line
        # number, with ingest's own sentence, so it is not silently missing. Not parsed again.
        stats.files += 1
        stats.unusable_files += 1
        loader.bad.append((record.key, None, record.message or record.reason, ""))
    loader.flush()
    con.execute(_VIEWS)
    # From here on a query may touch the in-memory database only: no files, no extensions, no re-enabling.
    con.execute("SET enable_external_access = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con, stats


class _Loader:
    def __init__(self, con: duckdb.DuckDBPyConnection, batch_rows: int) -> None:
        self.con = con
        self.batch_rows = batch_rows
        self.good: list[tuple[Any, ...]] = []
        self.bad: list[tuple[Any, ...]] = []

    def load_file(self, info: ObjectInfo, objects: ObjectStore, stats: LoadStats) -> None:
        key = info.key
        day = key_date(key)
        year, month, dom = (day.year, day.month, day.day) if day else (None, None, None)
        good, bad = self.good, self.bad
        try:
            # The upload selected, not one that replaced it since: ObjectChanged comes before any row.
            for row in parse_inventory(inventory_bytes(lambda: objects.stream(key, etag=info.etag))):
                if isinstance(row, BadRow):
                    bad.append((key, row.line, row.reason, row.raw))
                    stats.bad_rows += 1
                    continue
                line, ts, warehouse, item_id, item_name, change = row
                good.append((ts.isoformat(sep=" ", timespec="microseconds"), warehouse, item_id, item_name,
                             change, key, year, month, dom, line))  # fmt: skip
                stats.good_rows += 1
                if len(good) >= self.batch_rows:
                    self._copy(self.good, "_transactions")
        except ObjectChanged:
            stats.changed += 1  # replaced between the listing and the read: left out, as select_files would
        except UnusableFile as exc:
            # Raised before any row is yielded, so nothing of the file was loaded (ingest applied nothing).
            # It shows as one rejected "row" without a line number, so it is not silently missing.
            bad.append((key, None, str(exc), ""))
            stats.unusable_files += 1
        if len(bad) >= self.batch_rows:
            self._copy(bad, "_rejected")

    def flush(self) -> None:
        self._copy(self.good, "_transactions")
        self._copy(self.bad, "_rejected")

    def _copy(self, rows: list[tuple[Any, ...]], table: str) -> None:
        if not rows:
            return
        columns = _COLUMNS[table]
        names = list(columns)
        # Columnar: one JSON object of one list per column, made by a single json.dumps call (C speed),
        # handed to DuckDB as a query parameter and unnested side by side. The decrypted rows stay in
        # memory: nothing is written to a temporary file.
        document = json.dumps(dict(zip(names, zip(*rows, strict=True), strict=True)))
        shape = json.dumps({name: [kind] for name, kind in columns.items()})
        self.con.execute(
            f"INSERT INTO {table} SELECT {', '.join(f'unnest(doc.{name})' for name in names)} "
            f"FROM (SELECT from_json(?, '{shape}') AS doc)",
            [document],
        )
        rows.clear()


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(con: duckdb.DuckDBPyConnection, query: str) -> QueryResult:
    """Run one query; DuckDB's complaint becomes a one-line SqlError."""
    try:
        cur = con.execute(query)
        if cur.description is None:
            return QueryResult([], [])
        columns = [d[0] for d in cur.description]
        return QueryResult(columns, cur.fetchall())
    except duckdb.Error as exc:
        raise SqlError(_one_line(str(exc))) from None


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.strip().splitlines()[:1]) or "query failed"


def iter_dicts(result: QueryResult) -> Iterator[dict[str, Any]]:
    for row in result.rows:
        yield dict(zip(result.columns, row, strict=True))
