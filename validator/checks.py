"""The nightly checks: the spec's slow `check_transaction` and the real checks that produce findings.

Checks see every transaction in arrival order (files by arrival, rows by line). The real checks carry
state from one run to the next: the running level of every (warehouse, item) pair, the name of every
item, and recently seen transactions for the duplicate check. That state is saved with each checkpoint
as small text entries (see `CheckState.changes`), only what changed since the previous checkpoint, so a
checkpoint costs O(transactions since the last one), not O(state).

Memory stays bounded by the size of the business, not by history: one int per pair, one name per item,
and the duplicate keys of the last `dup_window_days` days of files (older days are pruned at each file,
on the assumption that a file re-sent more than a week later is not the usual way duplicates happen;
the window is a parameter).

The hot path (`TransactionChecks.row`) is plain Python on tuples: no model objects per row, no
string formatting unless a finding is made.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from adapters.ports import FileRecord
from services.files.keys import key_date
from services.ingest.parsing import BadRow, Row
from validator.state import Change

# Finding kinds, as they appear in the report, the CSV and the mail.
BAD_ROW = "bad_row"
NEGATIVE_LEVEL = "negative_level"
NAME_CONFLICT = "name_conflict"
DUPLICATE = "duplicate_transaction"
OUTSIDE_FILE_DATE = "timestamp_outside_file_date"
NOT_APPLIED = "not_applied"
RECONCILIATION = "reconciliation_mismatch"
UNREADABLE = "unreadable_file"
MISSING_OBJECT = "missing_object"

# Every finding is counted; at most this many per run are kept in detail (report, CSV), so a file
# with a million bad rows cannot blow up the state store. The ledger keeps every bad row anyway.
MAX_STORED_FINDINGS = 100_000
DEFAULT_DUP_WINDOW_DAYS = 7

_SEP = "\x1f"  # the parser rejects control characters in every field, so this never occurs in one


def check_transaction(*args: object, delay: float = 10.0, **kwargs: object) -> None:
    """Long and complex check for each transaction (the spec's stand-in: it only takes its time)."""
    time.sleep(delay)


class RowCheck(Protocol):
    """A pluggable per-transaction check, called after the built-in checks for every row."""

    def __call__(self, file_key: str, row: Row | BadRow) -> None: ...


class SlowCheck:
    """The spec's check with a configurable delay. Looked up on the module at each call, so a test
    (or a later real implementation) can replace `check_transaction`."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __call__(self, file_key: str, row: Row | BadRow) -> None:
        import validator.checks as module

        module.check_transaction(file_key, row, delay=self.delay)


class FindingRecord(NamedTuple):
    kind: str
    file_key: str
    line: int | None
    message: str

    def to_json(self) -> str:
        return json.dumps(list(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FindingRecord:
        kind, file_key, line, message = json.loads(text)
        return cls(kind, file_key, line, message)


_Pair = tuple[str, str]
_DupKey = tuple[datetime, str, str, int]


class TransactionChecks:
    """The real checks and the state they carry; one instance per run, loaded from the saved entries."""

    def __init__(self, run_id: str, dup_window_days: int = DEFAULT_DUP_WINDOW_DAYS) -> None:
        self.run_id = run_id
        self.dup_window_days = dup_window_days
        # carried between runs
        self.totals: dict[_Pair, int] = {}
        self.names: dict[str, str] = {}
        self.seen: dict[_DupKey, tuple[int, int, int]] = {}  # -> (file sequence, line, day ordinal)
        self.by_day: dict[int, list[_DupKey]] = {}
        self.newest_day = 0
        # this run's findings
        self.findings: list[FindingRecord] = []  # the stored ones, at most MAX_STORED_FINDINGS
        self.counts: dict[str, int] = {}
        # what changed since the last checkpoint: key -> value at that checkpoint
        self._pair_prev: dict[_Pair, int | None] = {}
        self._name_prev: dict[str, str | None] = {}
        self._seen_new: dict[_DupKey, None] = {}
        self._seen_gone: dict[_DupKey, str] = {}
        self._findings_saved = 0
        # the file being checked
        self.file_key = ""
        self.sequence = 0
        self.good = 0
        self.bad = 0
        self.total = 0
        self._day_start: datetime | None = None
        self._day_end: datetime | None = None
        self._day_keys: list[_DupKey] = []
        self._day = 0
        # this run's log of checked files (for the report), saved like the findings
        self.file_log: list[str] = []
        self._file_log_saved = 0

    # ------------------------------------------------------------------ findings

    @property
    def finding_count(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, line: int | None, message: str, file_key: str | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.findings) < MAX_STORED_FINDINGS:
            self.findings.append(FindingRecord(kind, file_key or self.file_key, line, message))

    # ------------------------------------------------------------------ files

    def begin_file(self, record: FileRecord, good: int = 0, bad: int = 0, total: int = 0) -> None:
        """Start (or, with the counts saved in a checkpoint, resume) a file."""
        self.file_key = record.key
        self.sequence = record.sequence
        self.good, self.bad, self.total = good, bad, total
        day = key_date(record.key)
        if day is None:
            self._day_start = self._day_end = None
            ordinal = self.newest_day or datetime.now(UTC).date().toordinal()
        else:
            self._day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            self._day_end = self._day_start + timedelta(days=1)
            ordinal = day.toordinal()
        self.newest_day = max(self.newest_day, ordinal)
        self._prune()
        self._day_keys = self.by_day.setdefault(ordinal, [])
        self._day = ordinal

    def _prune(self) -> None:
        oldest = self.newest_day - self.dup_window_days
        for day in [d for d in self.by_day if d < oldest]:
            for key in self.by_day.pop(day):
                value = self.seen.pop(key, None)
                if value is None:
                    continue
                if key in self._seen_new:
                    del self._seen_new[key]  # never saved: nothing to delete
                else:
                    self._seen_gone[key] = _seen_value(value)

    def row(self, row: Row) -> None:
        line, ts, warehouse, item_id, item_name, change = row
        self.good += 1
        self.total += change
        # A pair going negative, in arrival order: the level before this row and after it.
        pair = (warehouse, item_id)
        old = self.totals.get(pair)
        if pair not in self._pair_prev:
            self._pair_prev[pair] = old
        before = old or 0
        after = before + change
        self.totals[pair] = after
        if after < 0 <= before:
            self.add(NEGATIVE_LEVEL, line, f"{warehouse} / {item_id} goes to {after} (was {before})")
        # The same item under another name (an empty name says nothing about the item).
        if item_name:
            known = self.names.get(item_id)
            if known != item_name:
                if item_id not in self._name_prev:
                    self._name_prev[item_id] = known
                self.names[item_id] = item_name
                if known is not None:
                    self.add(NAME_CONFLICT, line, f"item {item_id} is named {item_name!r}, before {known!r}")
        # A timestamp outside the date of the file's folder (yyyy/mm/dd in its key).
        start = self._day_start
        if start is not None and not (start <= ts < self._day_end):  # type: ignore[operator]
            self.add(OUTSIDE_FILE_DATE, line, f"timestamp {ts.isoformat()} is not on {start.date()}")
        # The same transaction in an earlier file (a file sent twice under two names, say).
        key = (ts, warehouse, item_id, change)
        seen = self.seen.get(key)
        if seen is None:
            self.seen[key] = (self.sequence, line, self._day)
            self._seen_new[key] = None
            self._day_keys.append(key)
        elif seen[0] != self.sequence:
            self.add(
                DUPLICATE,
                line,
                f"same transaction ({ts.isoformat()}, {warehouse}, {item_id}, {change}) as line {seen[1]}"
                f" of file #{seen[0]}",
            )

    def bad_row(self, bad: BadRow) -> None:
        self.bad += 1
        self.add(BAD_ROW, bad.line, bad.reason)

    def end_file(self, record: FileRecord) -> None:
        """Reconciliation: the file was applied once, with the totals its rows add up to."""
        if record.status != "applied":
            self.add(NOT_APPLIED, None, f"ledger status is {record.status!r}, not applied")
            return
        ours = (self.good, self.bad, self.total)
        ledger = (record.good_rows, record.bad_rows, record.applied_total)
        if ours != ledger:
            self.add(
                RECONCILIATION,
                None,
                f"rows/bad rows/total are {ours[0]}/{ours[1]}/{ours[2]} in the file but "
                f"{ledger[0]}/{ledger[1]}/{ledger[2]} in the ledger",
            )

    # ------------------------------------------------------------------ persistence

    def changes(self) -> dict[str, Change]:
        """The entries changed since the last call, with their previous values; resets the tracking."""
        out: dict[str, Change] = {}
        totals, names = self.totals, self.names
        for pair, prev in self._pair_prev.items():
            out[_pair_key(pair)] = Change(str(totals[pair]), None if prev is None else str(prev))
        for item, prev_name in self._name_prev.items():
            out["n" + _SEP + item] = Change(names[item], prev_name)
        gone = self._seen_gone
        for key, value in gone.items():
            out[_dup_key(key)] = Change(None, value)
        for key in self._seen_new:
            # A key pruned and seen again since the last checkpoint is rewritten, not deleted.
            out[_dup_key(key)] = Change(_seen_value(self.seen[key]), gone.get(key))
        for n in range(self._findings_saved, len(self.findings)):
            out[_log_key("f", self.run_id, n)] = Change(self.findings[n].to_json(), None)
        self._findings_saved = len(self.findings)
        for n in range(self._file_log_saved, len(self.file_log)):
            out[_log_key("r", self.run_id, n)] = Change(self.file_log[n], None)
        self._file_log_saved = len(self.file_log)
        self._pair_prev.clear()
        self._name_prev.clear()
        self._seen_new.clear()
        self._seen_gone.clear()
        return out

    def finish_changes(self) -> dict[str, Change]:
        """Changes that also drop this run's stored findings: the report now holds them."""
        out = self.changes()
        logs = [("f", [f.to_json() for f in self.findings]), ("r", self.file_log)]
        for tag, values in logs:
            for n, value in enumerate(values):
                key = _log_key(tag, self.run_id, n)
                # An entry first saved in this same change set was never committed: nothing to undo.
                out[key] = Change(None, None if key in out else value)
        return out

    def restore(self, entries: dict[str, str], counts: dict[str, int], newest_day: int) -> None:
        """Load the carried state and this run's stored findings from saved entries."""
        self.counts = dict(counts)
        self.newest_day = newest_day
        finding_prefix = "f" + _SEP + self.run_id + _SEP
        file_prefix = "r" + _SEP + self.run_id + _SEP
        stored: list[tuple[str, str]] = []
        files: list[tuple[str, str]] = []
        for key, value in entries.items():
            tag = key[0]
            if tag == "t":
                _, warehouse, item_id = key.split(_SEP)
                self.totals[(warehouse, item_id)] = int(value)
            elif tag == "n":
                self.names[key[2:]] = value
            elif tag == "d":
                _, ts, warehouse, item_id, change = key.split(_SEP)
                dup = (datetime.fromisoformat(ts), warehouse, item_id, int(change))
                seq, line, day = (int(p) for p in value.split())
                self.seen[dup] = (seq, line, day)
                self.by_day.setdefault(day, []).append(dup)
            elif key.startswith(finding_prefix):
                stored.append((key, value))
            elif key.startswith(file_prefix):
                files.append((key, value))
        self.findings = [FindingRecord.from_json(v) for _, v in sorted(stored)]
        self._findings_saved = len(self.findings)
        self.file_log = [v for _, v in sorted(files)]
        self._file_log_saved = len(self.file_log)

    def log_file(self, record: dict[str, Any]) -> None:
        self.file_log.append(json.dumps(record, ensure_ascii=False))


def _pair_key(pair: _Pair) -> str:
    return "t" + _SEP + pair[0] + _SEP + pair[1]


def _dup_key(key: _DupKey) -> str:
    ts, warehouse, item_id, change = key
    return _SEP.join(("d", ts.isoformat(), warehouse, item_id, str(change)))


def _seen_value(value: tuple[int, int, int]) -> str:
    return f"{value[0]} {value[1]} {value[2]}"


def _log_key(tag: str, run_id: str, n: int) -> str:
    return f"{tag}{_SEP}{run_id}{_SEP}{n:09d}"


def finding_dict(f: FindingRecord) -> dict[str, Any]:
    return {"kind": f.kind, "file_key": f.file_key, "line": f.line, "message": f.message}
