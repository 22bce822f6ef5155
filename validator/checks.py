"""The nightly checks: the spec's slow `check_transaction` and the real checks that produce findings.

Checks see every transaction in arrival order (files by arrival, rows by line). The real checks carry
state from one run to the next: the running level of every (warehouse, item) pair, the name of every
item, and recently seen transactions for the duplicate check. That state is saved with each checkpoint
as text entries (see `TransactionChecks.changes` and `validator.entries`): only what changed since the
previous checkpoint, in a few append-only chunks, so a checkpoint costs O(transactions since the last
one) and a handful of writes, not O(state). Levels are saved as per-checkpoint deltas and compacted
into a snapshot at the end of each run (or every MAX_DELTAS checkpoints).

Memory stays bounded by the size of the business, not by history: a small cell per pair, a name per item,
and the duplicate keys of the last `dup_window_days` days of files (older days are pruned at each file,
on the assumption that a file re-sent more than a week later is not the usual way duplicates happen;
the window is a parameter).

The hot path (`TransactionChecks.check`) is plain Python on tuples: no model objects per row, no
string formatting unless a finding is made.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from adapters.ports import FileRecord
from services.files.keys import key_date
from services.ingest.parsing import BadRow, Row
from validator.entries import SEP, Log, chunks, join_lines
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
# Another tool stored other content under the key after it arrived: the levels hold the first.
REPLACED_OBJECT = "replaced_object"

# Every finding is counted; at most this many per run are kept in detail (report, CSV), so a file
# with a million bad rows cannot blow up the state store. The ledger keeps every bad row anyway.
MAX_STORED_FINDINGS = 100_000
DEFAULT_DUP_WINDOW_DAYS = 7

# Files are dated by the warehouse's local day, and rows carry only their UTC instant: a row belongs to
# the key's date when some UTC offset (-12:00 to +14:00) puts it on that date.
_EARLIEST_OFFSET = timedelta(hours=-12)
_LATEST_OFFSET = timedelta(hours=14)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXACT = 2.0**32  # seconds: within this, a float timestamp round-trips to the exact microsecond
# Level changes are compacted into a snapshot after this many checkpoints (and at the end of a run).
MAX_DELTAS = 500


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


def _shifted(at: datetime, by: timedelta) -> datetime:
    """`at + by`, or the calendar's first or last instant: a key may be dated 0001/01/01 or 9999/12/31."""
    try:
        return at + by
    except OverflowError:
        return (datetime.min if by < timedelta(0) else datetime.max).replace(tzinfo=UTC)


class FindingRecord(NamedTuple):
    kind: str
    file_key: str
    line: int | None
    message: str


_Pair = tuple[str, str]
_DupKey = tuple[datetime, str, str, int]


class TransactionChecks:
    """The real checks and the state they carry; one instance per run, loaded from the saved entries."""

    def __init__(self, run_id: str, dup_window_days: int = DEFAULT_DUP_WINDOW_DAYS) -> None:
        self.run_id = run_id
        self.dup_window_days = dup_window_days
        # carried between runs
        # pair -> [level, level at the last checkpoint (None: none then), changed since then, pair]
        self.totals: dict[_Pair, list[Any]] = {}
        self.names: dict[str, str] = {}
        self.seen: dict[_DupKey, tuple[int, int]] = {}  # -> (file sequence, line) of its first sighting
        self.by_day: dict[int, Log] = {}  # day ordinal of the file -> the keys first seen in it
        self.newest_day = 0
        # this run's findings and checked files
        self._findings = Log(
            f"f{SEP}{run_id}{SEP}", lambda items: [list(f) for f in items], lambda row: FindingRecord(*row)
        )
        self._files = Log(f"r{SEP}{run_id}{SEP}")
        self.counts: dict[str, int] = {}
        # what changed since the last checkpoint
        self._pairs_changed: list[list[Any]] = []  # their cells
        self._name_prev: dict[str, str | None] = {}
        self._gone: dict[str, Change] = {}  # duplicate keys of pruned days, to delete
        # level deltas and snapshot (see changes)
        self._delta_n = 0  # number of the next delta
        self._delta_keys: list[str] = []  # live deltas, since the snapshot
        self._snapshot = -1
        self._snapshot_keys: list[str] = []
        self._garbage: list[str] = []  # entries no committed checkpoint refers to any more
        # the file being checked
        self.file_key = ""
        self.sequence = 0
        self.line = 0
        self.good = 0
        self.bad = 0
        self.total = 0
        self._day: date | None = None
        self._day_start: datetime | None = None
        self._day_end: datetime | None = None
        self._day_keys: list[tuple[_DupKey, tuple[int, int]]] = []

    # ------------------------------------------------------------------ findings

    @property
    def findings(self) -> list[FindingRecord]:
        return self._findings.items

    @property
    def file_log(self) -> list[dict[str, Any]]:
        return self._files.items

    @property
    def finding_count(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, line: int | None, message: str, file_key: str | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self._findings.items) < MAX_STORED_FINDINGS:
            self._findings.items.append(FindingRecord(kind, file_key or self.file_key, line, message))

    def log_file(self, record: dict[str, Any]) -> None:
        self._files.items.append(record)

    # ------------------------------------------------------------------ files

    def begin_file(self, record: FileRecord, good: int = 0, bad: int = 0, total: int = 0, line: int = 0) -> None:
        """Start (or, with the counts saved in a checkpoint, resume) a file."""
        self.file_key = record.key
        self.sequence = record.sequence
        self.good, self.bad, self.total, self.line = good, bad, total, line
        day = key_date(record.key)
        self._day = day
        if day is None:
            self._day_start = self._day_end = None
            ordinal = self.newest_day or datetime.now(UTC).date().toordinal()
        else:
            # The instants that are on `day` in some offset: its start at +14:00 up to its end at -12:00.
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            self._day_start = _shifted(midnight, -_LATEST_OFFSET)
            self._day_end = _shifted(midnight, timedelta(days=1) - _EARLIEST_OFFSET)
            ordinal = day.toordinal()
        self.newest_day = max(self.newest_day, ordinal)
        self._prune()
        log = self.by_day.get(ordinal)
        if log is None:
            log = self.by_day[ordinal] = self._dup_log(ordinal)
        self._day_keys = log.items

    def _dup_log(self, day: int) -> Log:
        seen = self.seen

        def encode(keys: list[tuple[_DupKey, tuple[int, int]]]) -> list[str]:
            # Times as integer microseconds since the epoch: from timestamp() that is exact within
            # 2^32 s of 1970 (to 2106) and far cheaper than isoformat(); beyond that, ISO text.
            lines: list[str] = []
            append = lines.append
            for (ts, warehouse, item_id, change), (sequence, line) in keys:
                stamp = ts.timestamp()
                when = round(stamp * 1e6) if -_EXACT < stamp < _EXACT else ts.isoformat()
                append(f"{when}{SEP}{warehouse}{SEP}{item_id}{SEP}{change}{SEP}{sequence}{SEP}{line}")
            return lines

        def decode(text: str) -> tuple[_DupKey, tuple[int, int]]:
            when, warehouse, item_id, change, sequence, line = text.split(SEP)
            ts = datetime.fromisoformat(when) if "T" in when else _EPOCH + timedelta(microseconds=int(when))
            key = (ts, warehouse, item_id, int(change))
            first = seen[key] = (int(sequence), int(line))
            return key, first

        return Log(f"d{SEP}{day:07d}{SEP}", encode, decode, lines=True)

    def _prune(self) -> None:
        oldest = self.newest_day - self.dup_window_days
        for day in [d for d in self.by_day if d < oldest]:
            log = self.by_day.pop(day)
            log.delete_all(self._gone)  # before the keys leave `seen`: their text is rebuilt from it
            for key, _ in log.items:
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
                    # A pair going negative, in arrival order. One dict lookup per row: the level lives
                    # in a mutable cell that also remembers its value at the last checkpoint.
                    pair = (warehouse, item_id)
                    cell = totals.get(pair)
                    if cell is None:
                        cell = totals[pair] = [0, None, True, pair]
                        changed.append(cell)
                    elif not cell[2]:
                        cell[1] = cell[0]
                        cell[2] = True
                        changed.append(cell)
                    before = cell[0]
                    after = cell[0] = before + change
                    if after < 0 <= before:
                        add(NEGATIVE_LEVEL, line, f"{warehouse} / {item_id} goes to {after} (was {before})")
                    # The same item under another name (an empty name says nothing about the item).
                    if item_name and names.get(item_id) != item_name:
                        self._rename(item_id, item_name, line)
                    # A timestamp outside the date of the file's folder (yyyy/mm/dd in its key).
                    if start is not None and not (start <= ts < end):  # type: ignore[operator]
                        add(
                            OUTSIDE_FILE_DATE,
                            line,
                            f"timestamp {ts.isoformat()} is not on {self._day} in any UTC offset (-12:00 to +14:00)",
                        )
                    # The same transaction in an earlier file (a file sent twice under two names, say).
                    key = (ts, warehouse, item_id, change)
                    here = (sequence, line)
                    first = seen_setdefault(key, here)  # one hash lookup whether new or not
                    if first is here:
                        day_keys.append((key, here))  # with its value: encoding needs no lookup
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

    # ------------------------------------------------------------------ persistence

    def meta(self) -> dict[str, int]:
        """What `restore` needs besides the entries; saved in the checkpoint with them."""
        return {"newest_day": self.newest_day, "snapshot": self._snapshot, "delta_n": self._delta_n}

    def changes(self, compact: bool = False) -> dict[str, Change]:
        """The entries changed since the last call, with their previous values; resets the tracking.

        Entries in `_garbage` belong to no committed checkpoint once the previous save succeeded, so
        they are deleted with no previous value (a rollback may lose them: nothing refers to them).
        """
        out: dict[str, Change] = {key: Change(None, None) for key in self._garbage}
        self._garbage.clear()
        out.update(self._gone)
        self._gone.clear()
        if compact or len(self._delta_keys) >= MAX_DELTAS:
            self._compact(out)
        elif self._pairs_changed:
            rows = []
            for cell in self._pairs_changed:
                warehouse, item_id = cell[3]
                rows.append(f"{warehouse}{SEP}{item_id}{SEP}{cell[0] - (cell[1] or 0)}")
                cell[2] = False
            for c, text in enumerate(chunks(rows, join_lines)):
                key = f"p{SEP}{self._delta_n:09d}{SEP}{c:05d}"
                out[key] = Change(text, None)
                self._delta_keys.append(key)
            self._delta_n += 1
        self._pairs_changed.clear()
        for item, prev_name in self._name_prev.items():
            out["n" + SEP + item] = Change(self.names[item], prev_name)
        self._name_prev.clear()
        for log in self.by_day.values():
            log.save_new(out)
        self._findings.save_new(out)
        self._files.save_new(out)
        return out

    def _compact(self, out: dict[str, Change]) -> None:
        """All levels as a new snapshot; the old snapshot and the deltas become garbage."""
        for cell in self.totals.values():
            cell[2] = False
        rows = [f"{w}{SEP}{i}{SEP}{cell[0]}" for (w, i), cell in self.totals.items()]
        snapshot = self._delta_n
        keys = []
        for c, text in enumerate(chunks(rows, join_lines)):
            key = f"P{SEP}{snapshot:09d}{SEP}{c:05d}"
            out[key] = Change(text, None)
            keys.append(key)
        self._garbage.extend(self._delta_keys)
        self._garbage.extend(self._snapshot_keys)
        self._delta_keys, self._snapshot_keys = [], keys
        self._snapshot = snapshot
        self._delta_n = snapshot + 1

    def finish_changes(self) -> dict[str, Change]:
        """The run's last changes: levels compacted, and the findings dropped (the report holds them)."""
        out = self.changes(compact=True)
        self._findings.delete_all(out)
        self._files.delete_all(out)
        return out

    def restore(self, entries: dict[str, str], counts: dict[str, int], meta: dict[str, int]) -> None:
        """Load the carried state and this run's findings from saved entries."""
        self.counts = dict(counts)
        self.newest_day = meta.get("newest_day", 0)
        self._snapshot = meta.get("snapshot", -1)
        self._delta_n = meta.get("delta_n", 0)
        logs: dict[str, list[tuple[str, str]]] = {}
        deltas: list[str] = []
        snapshot: list[str] = []
        for key, value in entries.items():
            tag = key[0]
            if tag == "n":
                self.names[key[2:]] = value
            elif tag in "pP":
                _, n, _chunk = key.split(SEP)
                if tag == "P" and int(n) == self._snapshot:
                    snapshot.append(value)
                    self._snapshot_keys.append(key)
                elif tag == "p" and self._snapshot < int(n) < self._delta_n:
                    deltas.append(value)
                    self._delta_keys.append(key)
                else:
                    self._garbage.append(key)
            elif tag in "dfr":
                head, n_text, chunk_text = key.rsplit(SEP, 2)
                logs.setdefault(head + SEP, []).append((n_text + SEP + chunk_text, value))
            else:
                self._garbage.append(key)
        totals = self.totals
        for text in snapshot:
            for line in text.split("\n"):
                warehouse, item_id, level_text = line.split(SEP)
                level = int(level_text)
                pair = (warehouse, item_id)
                totals[pair] = [level, level, False, pair]
        for text in deltas:
            for line in text.split("\n"):
                warehouse, item_id, change_text = line.split(SEP)
                change = int(change_text)
                pair = (warehouse, item_id)
                cell = totals.get(pair)
                if cell is None:
                    totals[pair] = [change, change, False, pair]
                else:
                    cell[0] = cell[1] = cell[0] + change
        for prefix, parts in logs.items():
            if prefix == self._findings.prefix:
                self._findings.restore(parts)
            elif prefix == self._files.prefix:
                self._files.restore(parts)
            elif prefix[0] == "d":
                day = int(prefix.split(SEP)[1])
                log = self.by_day[day] = self._dup_log(day)
                log.restore(parts)
            else:  # findings of another run that never finished
                self._garbage.extend(prefix + rest for rest, _ in parts)


def finding_dict(f: FindingRecord) -> dict[str, Any]:
    return {"kind": f.kind, "file_key": f.file_key, "line": f.line, "message": f.message}
