"""ingest: parse an inventory file as a stream and apply its good rows to stock levels exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from adapters.ports import BadRowRecord, FileStats, PairDelta, PairOutcomes, Ports
from events import Envelope, Event, JsonEvent, new_event
from events.batching import chunk_by_size, chunk_counts
from events.envelope import new_json_event
from events.models import FileArrived, FileRejected
from services.files.logic import REPLACED_MESSAGE, stored_upload
from services.ingest.parsing import PairSums, UnusableFile, inventory_bytes, sum_inventory

SOURCE = "inventory.ingest"
# A mail or an event lists at most this many bad rows; all of them stay in the state store.
MAX_LISTED_BAD_ROWS = 1000


class ParsedFile:
    """A file reduced to one change per (warehouse, item), plus its bad rows."""

    def __init__(self, sums: PairSums, bad_rows: list[BadRowRecord]) -> None:
        self.pairs = sums.pairs
        self.bad_rows = bad_rows
        self.good_rows = sums.good_rows
        self.total = sums.total

    def take_pairs(self) -> list[PairDelta]:
        """The pairs, handed over: a big file's are ~70 MB, which the stock table can then free early."""
        pairs, self.pairs = self.pairs, []
        return pairs


def parse_file(key: str, open_stream: Callable[[], Iterable[bytes]]) -> ParsedFile:
    # The fused parser: per-pair sums straight from the text, no Row per good row (sum_inventory gives
    # the same result as folding parse_inventory; tests/unit/test_inventory_parsing.py compares them).
    sums = sum_inventory(inventory_bytes(open_stream))
    return ParsedFile(sums, [BadRowRecord(key, b.line, b.reason, b.raw) for b in sums.bad_rows])


def handle(ports: Ports, event: Event) -> None:
    arrived = FileArrived.model_validate(event.detail)
    key = arrived.key
    record = ports.table.file(key)
    if record is not None and record.status in ("applied", "rejected"):
        return
    # Exactly the upload announced (or the same bytes stored again): another tool may have stored other
    # content under the key since, which the files service refused, and which must not be applied here.
    opener = stored_upload(ports, key, arrived.etag, record.digest if record is not None else "")
    if opener is None:
        reject_file(ports, key, "replaced", REPLACED_MESSAGE, event.id)
        return
    try:
        parsed = parse_file(key, opener)
    except UnusableFile as exc:
        reject_file(ports, key, "unreadable", str(exc), event.id)
        return
    stats = FileStats(good_rows=parsed.good_rows, bad_rows=len(parsed.bad_rows), applied_total=parsed.total)
    with ports.table.transaction():
        if not ports.table.first_delivery("ingest", event.id):
            return
        outcomes = ports.table.apply_file(key, parsed.take_pairs(), parsed.bad_rows, stats)
        if outcomes is None:
            return
        ports.bus.publish(stock_changed_events(key, outcomes, event.time))
        if parsed.bad_rows:
            ports.bus.publish(bad_rows_events(key, parsed.bad_rows, stats, event.time))


def reject_file(ports: Ports, key: str, reason: str, message: str, cause_id: str) -> None:
    with ports.table.transaction():
        if not ports.table.first_delivery("ingest", cause_id):
            return
        ports.table.mark_rejected(key, reason, message)
        detail = FileRejected(key=key, kind="inventory", reason=reason, message=message)
        ports.bus.publish([new_event(detail, source=SOURCE, id_parts=(key, reason))])


def stock_changed_events(key: str, outcomes: PairOutcomes, time: datetime) -> Iterator[JsonEvent]:
    """The file's new levels as StockChanged batches, built one at a time: a file can touch ~250k pairs.

    The pairs come as UTF-8 JSON from the stock table; a batch's detail is their text joined, which the
    local bus stores as it is, instead of a dict and a size estimate built in Python per pair. Each
    batch's pairs fit MAX_DETAIL_LIST_BYTES in the compact UTF-8 JSON the AWS bus sends.
    """
    rows = outcomes.as_json()
    bounds = chunk_counts(map(len, rows))
    head = b'{"file_key":' + json.dumps(key, ensure_ascii=False).encode()
    start = 0
    for n, count in enumerate(bounds, start=1):
        # Tests check these events against the StockChanged model; validating 250k pairs here would cost
        # seconds.
        detail = b'%s,"batch":%d,"batches":%d,"pairs":[%s]}' % (
            head,
            n,
            len(bounds),
            b",".join(rows[start : start + count]),
        )
        yield new_json_event("StockChanged", detail, source=SOURCE, id_parts=(key, n), time=time)
        start += count


def bad_rows_events(key: str, bad_rows: list[BadRowRecord], stats: FileStats, time: datetime) -> list[Envelope]:
    listed = [{"line": b.line, "reason": b.reason, "raw": b.raw[:500]} for b in bad_rows[:MAX_LISTED_BAD_ROWS]]
    chunks = list(chunk_by_size(listed))
    message = f"{stats.bad_rows} bad row(s) kept aside, {stats.good_rows} good row(s) applied" + (
        f"; the first {MAX_LISTED_BAD_ROWS} are listed" if stats.bad_rows > MAX_LISTED_BAD_ROWS else ""
    )
    return [
        new_event(
            FileRejected.model_validate(
                {
                    "key": key,
                    "kind": "inventory",
                    "reason": "bad_rows",
                    "message": message,
                    "good_rows": stats.good_rows,
                    "bad_rows": stats.bad_rows,
                    "rows": chunk,
                    "batch": n,
                    "batches": len(chunks),
                }
            ),
            source=SOURCE,
            id_parts=(key, "bad_rows", n),
            time=time,
        )
        for n, chunk in enumerate(chunks, start=1)
    ]
