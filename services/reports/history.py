"""A pair's level over time, from the transactions (the good rows of the inventory files).

The stock table keeps only the current level, so the history comes from the raw files. Locally that is
DuckDB over the applied files of the bucket (services.reports.sql), so a history ends at the level the
reports show; the connection is cached and rebuilt only when the set of applied files changes. The
reports Lambda has no such source (a DuckDB load of the whole bucket per request would not be cheap), so
there the API answers 501 and points to Athena.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from adapters.ports import ObjectStore, StockTable

if TYPE_CHECKING:
    # duckdb only when history is asked for: the reports Lambda imports this module on every cold start.
    import duckdb


class HistoryUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Point:
    ts: str  # ISO 8601 in UTC
    change: int
    level: int

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "change": self.change, "level": self.level}


class HistorySource(Protocol):
    def pair_history(self, warehouse: str, item_id: str) -> list[Point]:
        """Every good row of the pair in time order with the running level; [] for an unknown pair."""
        ...


_HISTORY_SQL = """
SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, change,
       sum(change) OVER (ORDER BY ts, file_key, line ROWS UNBOUNDED PRECEDING)::BIGINT AS level
FROM _transactions WHERE warehouse = ? AND item_id = ?
ORDER BY ts, file_key, line
"""


class DuckDbHistory:
    """History over the local bucket; safe to share between the HTTP server's threads."""

    def __init__(self, objects: ObjectStore, table: StockTable) -> None:
        self.objects = objects
        self.table = table
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._signature: tuple[tuple[str, str], ...] | None = None

    def _current(self) -> duckdb.DuckDBPyConnection:
        from services.reports.sql import load, select_files

        selection = select_files(self.objects, self.table)
        if self._con is None or selection.signature != self._signature:
            con, _stats = load(self.objects, selection)
            if self._con is not None:
                self._con.close()
            self._con, self._signature = con, selection.signature
        return self._con

    def warm(self) -> None:
        """Load the files now rather than on the first request; a failure here is retried then."""
        # Whatever goes wrong here happens again on the first request, which reports it properly.
        with contextlib.suppress(Exception), self._lock:
            self._current()

    def pair_history(self, warehouse: str, item_id: str) -> list[Point]:
        with self._lock:
            rows = self._current().execute(_HISTORY_SQL, [warehouse, item_id]).fetchall()
        return [Point(ts, change, level) for ts, change, level in rows]
