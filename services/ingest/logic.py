"""ingest: parse an inventory file as a stream and apply its good rows to stock levels exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.ports import BadRowRecord, FileStats, PairDelta, PairOutcome, Ports
from events import Envelope, new_event
from events.batching import chunk_by_size
from events.envelope import new_raw_event
from events.models import FileArrived, FileRejected
from services.ingest.parsing import BadRow, UnusableFile, parse_inventory

SOURCE = "inventory.ingest"
# A mail or an event lists at most this many bad rows; all of them stay in the state store.
MAX_LISTED_BAD_ROWS = 1000


class ParsedFile:
    """A file reduced to one change per (warehouse, item), plus its bad rows."""

    def __init__(self) -> None:
        # (warehouse, item) -> [change, newest name, time of newest name]
        self.pairs: dict[tuple[str, str], list[Any]] = {}
        self.bad_rows: list[BadRowRecord] = []
        self.good_rows = 0
        self.total = 0


def parse_file(key: str, chunks: Any) -> ParsedFile:
    parsed = ParsedFile()
    pairs = parsed.pairs
    good = total = 0
    for row in parse_inventory(chunks):
        if isinstance(row, BadRow):
            parsed.bad_rows.append(BadRowRecord(key, row.line, row.reason, row.raw))
            continue
        _, ts, warehouse, item_id, item_name, change = row
        good += 1
        total += change
        entry = pairs.get((warehouse, item_id))
        if entry is None:
            pairs[(warehouse, item_id)] = [change, item_name, ts]
        else:
            entry[0] += change
            if ts >= entry[2]:
                entry[1] = item_name
                entry[2] = ts
    parsed.good_rows = good
    parsed.total = total
    return parsed


def handle(ports: Ports, event: Envelope) -> None:
    arrived = FileArrived.model_validate(event.detail)
    key = arrived.key
    record = ports.table.file(key)
    if record is not None and record.status in ("applied", "rejected"):
        return
    try:
        parsed = parse_file(key, ports.objects.stream(key))
    except UnusableFile as exc:
        reject_file(ports, key, "unreadable", str(exc), event.id)
        return
    deltas = [
        PairDelta(warehouse, item_id, name, name_time, change)
        for (warehouse, item_id), (change, name, name_time) in parsed.pairs.items()
    ]
    stats = FileStats(good_rows=parsed.good_rows, bad_rows=len(parsed.bad_rows), applied_total=parsed.total)
    with ports.table.transaction():
        if not ports.table.first_delivery("ingest", event.id):
            return
        outcomes = ports.table.apply_file(key, deltas, parsed.bad_rows, stats)
        if outcomes is None:
            return
        ports.bus.publish(stock_changed_events(key, outcomes, event.time))
        if parsed.bad_rows:
            ports.bus.publish(bad_rows_events(key, parsed.bad_rows, stats, event.time))


def reject_file(ports: Ports, key: str, reason: str, message: str, cause_id: str) -> None:
    with ports.table.transaction():
        if not ports.table.first_delivery("ingest", cause_id):
            return
        ports.table.mark_rejected(key, reason)
        detail = FileRejected(key=key, kind="inventory", reason=reason, message=message)
        ports.bus.publish([new_event(detail, source=SOURCE, id_parts=(key, reason))])


def stock_changed_events(key: str, outcomes: list[PairOutcome], time: datetime) -> list[Envelope]:
    pairs = [
        {
            "warehouse": o.warehouse,
            "item_id": o.item_id,
            "item_name": o.item_name,
            "change": o.change,
            "level": o.level,
            "threshold": o.threshold,
            "was_below": o.was_below,
        }
        for o in outcomes
    ]
    chunks = list(chunk_by_size(pairs))
    return [
        # Plain data, not models: the pairs come straight from the table and validating 250k of them
        # would cost seconds; tests check these events against the StockChanged model.
        new_raw_event(
            "StockChanged",
            {"file_key": key, "batch": n, "batches": len(chunks), "pairs": chunk},
            source=SOURCE,
            id_parts=(key, n),
            time=time,
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


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
