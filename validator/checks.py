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
from collections.abc import Iterator, Sequence
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

_SEP = "\x1f"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# NamedTuple's generated __new__ is a Python function; tuple.__new__ skips it (one per changed pair).
_new_change = (
    tuple.__new__
)  # the parser rejects control characters in every field, so this never occurs in one


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
    """The real checks and the state they carry; one instance per run, loaded from the saved entries.

    Saved entries: `t<SEP>warehouse<SEP>item` -> level, `n<SEP>item` -> name, and the duplicate keys in
    append-only segments `d<SEP>day<SEP>n` -> JSON rows (one entry per checkpoint, not per transaction,
    so a checkpoint stays one write per changed pair plus a handful).
    """

    def __init__(self, run_id: str, dup_window_days: int = DEFAULT_DUP_WINDOW_DAYS) -> None:
        self.run_id = run_id
        self.dup_window_days = dup_window_days
        # carried between runs
        # pair -> [level, level at the last checkpoint (None: no level then), changed since then]
        self.totals: dict[_Pair, list[Any]] = {}
        self.names: dict[str, str] = {}
        self.seen: dict[_DupKey, tuple[int, int]] = {}  # -> (file sequence, line) of its first sighting
        self.by_day: dict[int, list[_DupKey]] = {}  # day ordinal of the file -> its keys, in order
        self.newest_day = 0
        # this run's findings
        self.findings: list[FindingRecord] = []  # the stored ones, at most MAX_STORED_FINDINGS
        self.counts: dict[str, int] = {}
        # what changed since the last checkpoint: key -> value at that checkpoint
        self._pairs_changed: list[_Pair] = []
        self._name_prev: dict[str, str | None] = {}
        self._segments: dict[int, list[tuple[int, int, int]]] = {}  # day -> saved (n, start, end)
        self._gone: dict[str, Change] = {}  # segments of pruned days, to delete
        self._findings_saved = 0
        # this run's log of checked files (for the report), saved like the findings
        self.file_log: list[str] = []
        self._file_log_saved = 0
        # the file being checked
        self.file_key = ""
        self.sequence = 0
        self.line = 0
        self.good = 0
        self.bad = 0
        self.total = 0
        self._day_start: datetime | None = None
        self._day_end: datetime | None = None
        self._day_keys: list[_DupKey] = []

    # ------------------------------------------------------------------ findings

    @property
    def finding_count(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, line: int | None, message: str, file_key: str | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.findings) < MAX_STORED_FINDINGS:
            self.findings.append(FindingRecord(kind, file_key or self.file_key, line, message))

    # ------------------------------------------------------------------ files

    def begin_file(
        self, record: FileRecord, good: int = 0, bad: int = 0, total: int = 0, line: int = 0
    ) -> None:
        """Start (or, with the counts saved in a checkpoint, resume) a file."""
        self.file_key = record.key
        self.sequence = record.sequence
        self.good, self.bad, self.total, self.line = good, bad, total, line
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

    def _prune(self) -> None:
        oldest = self.newest_day - self.dup_window_days
        for day in [d for d in self.by_day if d < oldest]:
            keys = self.by_day[day]
            for n, start, end in self._segments.pop(day, []):
                self._gone[_segment_key(day, n)] = Change(None, self._segment_text(keys, start, end))
            del self.by_day[day]
            for key in keys:
                self.seen.pop(key, None)

    def check(self, items: Iterator[Row | BadRow], limit: int, extra: Sequence[RowCheck] = ()) -> int:
        """Check up to `limit` transactions from `items` (then call `extra` on each); returns how many.

        The hot loop: state in local variables, one pass per row, strings built only for findings.
        """
        totals, changed, names, seen = self.totals, self._pairs_changed, self.names, self.seen
        day_keys, sequence, start, end = self._day_keys, self.sequence, self._day_start, self._day_end
        good, bad, total, line = self.good, self.bad, self.total, self.line
        add, file_key = self.add, self.file_key
        seen_setdefault = seen.setdefault
        done = 0
        try:
            for item in items:
                if type(item) is BadRow:
                    bad += 1
                    line = item.line
                    add(BAD_ROW, line, item.reason)
                else:
                    line, ts, warehouse, item_id, item_name, change = item  # type: ignore[misc]
                    good += 1
                    total += change
                    # A pair going negative, in arrival order: its level before this row and after.
                    # One dict lookup per row: the level lives in a mutable cell that also remembers
                    # its value at the last checkpoint.
                    pair = (warehouse, item_id)
                    cell = totals.get(pair)
                    if cell is None:
                        cell = totals[pair] = [0, None, True]
                        changed.append(pair)
                    elif not cell[2]:
                        cell[1] = cell[0]
                        cell[2] = True
                        changed.append(pair)
                    before = cell[0]
                    after = cell[0] = before + change
                    if after < 0 <= before:
                        add(NEGATIVE_LEVEL, line, f"{warehouse} / {item_id} goes to {after} (was {before})")
                    # The same item under another name (an empty name says nothing about the item).
                    if item_name and names.get(item_id) != item_name:
                        self._rename(item_id, item_name, line)
                    # A timestamp outside the date of the file's folder (yyyy/mm/dd in its key).
                    if start is not None and not (start <= ts < end):  # type: ignore[operator]
                        add(OUTSIDE_FILE_DATE, line, f"timestamp {ts.isoformat()} is not on {start.date()}")
                    # The same transaction in an earlier file (a file sent twice under two names, say).
                    key = (ts, warehouse, item_id, change)
                    here = (sequence, line)
                    first = seen_setdefault(key, here)  # one hash lookup whether new or not
                    if first is here:
                        day_keys.append(key)
                    elif first[0] != sequence:
                        add(
                            DUPLICATE,
                            line,
                            f"same transaction ({ts.isoformat()}, {warehouse}, {item_id}, {change})"
                            f" as line {first[1]} of file #{first[0]}",
                        )
                for check in extra:
                    check(file_key, item)
                done += 1
                if done >= limit:
                    break
        finally:
            self.good, self.bad, self.total, self.line = good, bad, total, line
        return done

    def _rename(self, item_id: str, name: str, line: int) -> None:
        known = self.names.get(item_id)
        if item_id not in self._name_prev:
            self._name_prev[item_id] = known
        self.names[item_id] = name
        if known is not None:
            self.add(NAME_CONFLICT, line, f"item {item_id} is named {name!r}, before {known!r}")

    def row(self, row: Row | BadRow) -> None:
        """One transaction (tests, and callers that check rows one by one)."""
        self.check(iter((row,)), 1)

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

    def log_file(self, record: dict[str, Any]) -> None:
        self.file_log.append(json.dumps(record, ensure_ascii=False))

    # ------------------------------------------------------------------ persistence

    def _segment_text(self, keys: list[_DupKey], start: int, end: int) -> str:
        # Times as exact integer microseconds since the epoch: isoformat() of an aware datetime costs
        # several times more, and a checkpoint may hold a segment of thousands of rows.
        seen = self.seen
        rows = []
        for key in keys[start:end]:
            ts, warehouse, item_id, change = key
            sequence, line = seen[key]
            delta = ts - _EPOCH
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            rows.append((micros, warehouse, item_id, change, sequence, line))
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))

    def changes(self) -> dict[str, Change]:
        """The entries changed since the last call, with their previous values; resets the tracking."""
        out: dict[str, Change] = dict(self._gone)
        self._gone.clear()
        totals, names, new = self.totals, self.names, _new_change
        for pair in self._pairs_changed:
            cell = totals[pair]
            prev = cell[1]
            out["t" + _SEP + pair[0] + _SEP + pair[1]] = new(
                Change, (str(cell[0]), None if prev is None else str(prev))
            )
            cell[2] = False
        for item, prev_name in self._name_prev.items():
            out["n" + _SEP + item] = Change(names[item], prev_name)
        for day, keys in self.by_day.items():
            segments = self._segments.setdefault(day, [])
            saved = segments[-1][2] if segments else 0
            if len(keys) > saved:
                n = segments[-1][0] + 1 if segments else 0
                segments.append((n, saved, len(keys)))
                key = _segment_key(day, n)
                # A segment of a day pruned and seen again (a late file) replaces the deleted one.
                previous = out[key].previous if key in out else None
                out[key] = Change(self._segment_text(keys, saved, len(keys)), previous)
        for n in range(self._findings_saved, len(self.findings)):
            out[_log_key("f", self.run_id, n)] = Change(self.findings[n].to_json(), None)
        self._findings_saved = len(self.findings)
        for n in range(self._file_log_saved, len(self.file_log)):
            out[_log_key("r", self.run_id, n)] = Change(self.file_log[n], None)
        self._file_log_saved = len(self.file_log)
        self._pairs_changed.clear()
        self._name_prev.clear()
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
        segments: list[tuple[int, int, str]] = []
        for key, value in entries.items():
            tag = key[0]
            if tag == "t":
                _, warehouse, item_id = key.split(_SEP)
                level = int(value)
                self.totals[(warehouse, item_id)] = [level, level, False]
            elif tag == "n":
                self.names[key[2:]] = value
            elif tag == "d":
                _, day_text, n_text = key.split(_SEP)
                segments.append((int(day_text), int(n_text), value))
            elif key.startswith(finding_prefix):
                stored.append((key, value))
            elif key.startswith(file_prefix):
                files.append((key, value))
        for day, n, value in sorted(segments):
            keys = self.by_day.setdefault(day, [])
            start = len(keys)
            for micros, warehouse, item_id, change, sequence, line in json.loads(value):
                dup = (_EPOCH + timedelta(microseconds=micros), warehouse, item_id, change)
                self.seen[dup] = (sequence, line)
                keys.append(dup)
            self._segments.setdefault(day, []).append((n, start, len(keys)))
        self.findings = [FindingRecord.from_json(v) for _, v in sorted(stored)]
        self._findings_saved = len(self.findings)
        self.file_log = [v for _, v in sorted(files)]
        self._file_log_saved = len(self.file_log)


def _segment_key(day: int, n: int) -> str:
    return f"d{_SEP}{day:07d}{_SEP}{n:07d}"


def _log_key(tag: str, run_id: str, n: int) -> str:
    return f"{tag}{_SEP}{run_id}{_SEP}{n:09d}"


def finding_dict(f: FindingRecord) -> dict[str, Any]:
    return {"kind": f.kind, "file_key": f.file_key, "line": f.line, "message": f.message}
