"""The stock table on DynamoDB: one table (single-table design) for levels, thresholds, the file ledger,
the arrival order, bad rows and idempotency markers.

Key design (every key is a string; a key has at most one variable part, always last, after a fixed
prefix, so a '#', a space or any unicode in a warehouse name or item id cannot make two keys collide):

| item | PK | SK | other attributes |
|---|---|---|---|
| stock of a pair | WH#<warehouse> | ITEM#<item> | warehouse, item_id, item_name, name_time, level (N), |
|  |  |  | below (BOOL), GSI1PK, GSI2PK, GSI2SK; GSI3PK/GSI3SK only while below |
| warehouse registry | WAREHOUSES | WH#<warehouse> | warehouse |
| threshold | THRESHOLD#<item> | THRESHOLD | item_id, threshold (N), file_key |
| file ledger | FILE#<key> | FILE | key, kind, etag, digest, size, arrived_at, sequence (N), GSI4PK, |
|  |  |  | status, counts, reason, message, pending (until its unit of work commits) |
| arrival counter | COUNTER | FILES | value (N) |
| default threshold in force | SETTINGS | DEFAULT_THRESHOLD | default_threshold (N), generation (N) |
| bad row | BADROWS#<key> | LINE#<line, 10 digits> | line, reason, raw |
| chunk marker | APPLIED#<key> | CHUNK#<n, 6 digits> or THRESHOLDS#<n> | outcomes (JSON) |
| consumer marker | CONSUMED#<consumer>#<event id> | CONSUMED | expires_at (TTL) |

Indexes (names and attributes in `adapters.aws.names.TABLE_INDEXES`, projection ALL):
- by_level: GSI1PK = WH#<warehouse>, sort key `level` (N) -> "items of warehouse x with level > y"
  is one Query with `level > :y`;
- by_item: GSI2PK = ITEM#<item>, GSI2SK = WH#<warehouse> -> an item's total and its per-warehouse split;
- restock: sparse, GSI3PK = BELOW only while a pair is below its threshold, GSI3SK =
  warehouse, U+0001, item (see restock_sort_key) -> the restock list, in pages;
- arrivals: GSI4PK = FILES, sort key `sequence` (N) -> files in arrival order (the validator's input).
"All items of warehouse x" is a Query on the base table (PK = WH#<x>), in item order.

Exactly once: a file's pairs are applied in chunks (sorted, so a retry forms the same chunks); each
chunk is one TransactWriteItems (at most 100 items): an update per pair (ADD level, conditioned on the
level read just before, so a concurrent writer makes it retry) plus a marker item conditioned on
attribute_not_exists. The marker stores the chunk's outcomes (was_below, level, threshold), so a retry
after a crash rebuilds exactly the outcomes of the first attempt and never adds a change twice.

`transaction()` is a unit of work: events published inside it (by the AWS bus), the file's final
status, the alert states of a re-check and the consumer markers are held back until the block ends
without error; then the events are sent, then the status/states, then the markers. A crash before the
end makes the retry redo only idempotent work and republish the same deterministic event ids.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.aws.clients import AwsClients, error_code
from adapters.aws.names import TTL_ATTRIBUTE
from adapters.ports import (
    AlertState,
    Arrival,
    ArrivalStatus,
    BadRowRecord,
    DefaultChange,
    FileRecord,
    FileStats,
    ItemTotal,
    OutcomeList,
    PairDelta,
    PairOutcome,
    StockRow,
    from_micros,
)
from events import Event

MAX_TRANSACTION_ITEMS = 100
# A chunk's marker holds its outcomes; keep it well under DynamoDB's 400 KB item limit.
MAX_CHUNK_TEXT_BYTES = 150_000
CONSUMED_TTL_SECONDS = 90 * 24 * 3600
_ATTEMPTS = 8


def iso(ts: datetime) -> str:
    """Fixed-width UTC text (as the SQLite adapter stores it), so timestamps sort as strings."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"PK": _s(pk), "SK": _s(sk)}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain Python values (numbers become int)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "N":
            out[name] = int(Decimal(raw))
        elif kind == "BOOL":
            out[name] = bool(raw)
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = raw
    return out


def pair_key(warehouse: str, item_id: str) -> dict[str, dict[str, str]]:
    return _key(f"WH#{warehouse}", f"ITEM#{item_id}")


def file_key(key: str) -> dict[str, dict[str, str]]:
    return _key(f"FILE#{key}", "FILE")


def restock_sort_key(warehouse: str, item_id: str) -> str:
    """GSI3SK: ordered exactly as (warehouse, item id), so the restock list pages like the local one.

    The separator sorts below every character a name can hold (ingest refuses control characters), so
    "A" comes before "A B" as in the tuple order; "WH#A#ITEM#" would put it after ('#' > ' ').
    """
    return f"{warehouse}\x01{item_id}"


# The default threshold the stored alert states were derived with, and how often it changed.
DEFAULT_KEY = {"PK": {"S": "SETTINGS"}, "SK": {"S": "DEFAULT_THRESHOLD"}}


def threshold_key(item_id: str) -> dict[str, dict[str, str]]:
    return _key(f"THRESHOLD#{item_id}", "THRESHOLD")


def consumed_key(consumer: str, event_id: str) -> dict[str, dict[str, str]]:
    return _key(f"CONSUMED#{consumer}#{event_id}", "CONSUMED")


@dataclass
class UnitOfWork:
    events: list[Event] = field(default_factory=list)
    consumed: set[tuple[str, str]] = field(default_factory=set)
    after_publish: list[Callable[[], None]] = field(default_factory=list)
    # Files recorded by this unit: their "pending" flag is cleared on commit.
    recorded: list[str] = field(default_factory=list)


class DynamoStockTable:
    def __init__(self, clients: AwsClients, table_name: str, default_threshold: int = 10) -> None:
        self.clients = clients
        self.table_name = table_name
        self.default_threshold = default_threshold
        # Set by the wiring to the bus's immediate send: what a committed unit of work publishes with.
        self.publisher: Callable[[list[Event]], None] | None = None
        self._local = threading.local()

    @property
    def db(self) -> Any:
        return self.clients("dynamodb")

    # ------------------------------------------------------------------ unit of work

    @property
    def unit_of_work(self) -> UnitOfWork | None:
        uow: UnitOfWork | None = getattr(self._local, "uow", None)
        return uow

    def transaction(self) -> AbstractContextManager[None]:
        @contextmanager
        def block() -> Iterator[None]:
            if self.unit_of_work is not None:  # nested: the outermost block commits
                yield
                return
            uow = UnitOfWork()
            self._local.uow = uow
            try:
                yield
            finally:
                self._local.uow = None
            self._commit(uow)

        return block()

    def defer_events(self, events: list[Event]) -> bool:
        """Hold events until the unit of work commits; False when there is none (send now)."""
        uow = self.unit_of_work
        if uow is None:
            return False
        uow.events.extend(events)
        return True

    def _commit(self, uow: UnitOfWork) -> None:
        if uow.events:
            if self.publisher is None:
                raise RuntimeError("events were published in a transaction but no publisher is wired")
            self.publisher(uow.events)
        for write in uow.after_publish:
            write()
        for key in uow.recorded:
            self.db.update_item(TableName=self.table_name, Key=file_key(key), UpdateExpression="REMOVE pending")
        self._put_markers(uow.consumed)

    def _put_markers(self, consumed: set[tuple[str, str]]) -> None:
        expires = _n(int(time.time()) + CONSUMED_TTL_SECONDS)
        requests = [
            {"PutRequest": {"Item": {**consumed_key(c, e), TTL_ATTRIBUTE: expires}}} for c, e in sorted(consumed)
        ]
        self._batch_write(requests)

    def _later(self, write: Callable[[], None]) -> None:
        uow = self.unit_of_work
        if uow is None:
            write()
        else:
            uow.after_publish.append(write)

    def first_delivery(self, consumer: str, event_id: str) -> bool:
        uow = self.unit_of_work
        if uow is None:
            try:
                self.db.put_item(
                    TableName=self.table_name,
                    Item={
                        **consumed_key(consumer, event_id),
                        TTL_ATTRIBUTE: _n(int(time.time()) + CONSUMED_TTL_SECONDS),
                    },
                    ConditionExpression="attribute_not_exists(PK)",
                )
                return True
            except Exception as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        if (consumer, event_id) in uow.consumed:
            return False
        if self._get(consumed_key(consumer, event_id)) is not None:
            return False
        uow.consumed.add((consumer, event_id))
        return True

    # ------------------------------------------------------------------ low-level helpers

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.db.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return _plain(item) if item else None

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            attempt = 0
            while pending:
                response = self.db.batch_get_item(RequestItems=pending)
                out.extend(_plain(i) for i in response.get("Responses", {}).get(self.table_name, []))
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    attempt += 1
                    time.sleep(min(0.05 * 2**attempt, 2.0))
        return out

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            attempt = 0
            while pending:
                response = self.db.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if pending:
                    attempt += 1
                    time.sleep(min(0.05 * 2**attempt, 2.0))

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.db.get_paginator("query")
        for page in paginator.paginate(TableName=self.table_name, **kwargs):
            for item in page.get("Items", []):
                yield _plain(item)

    def _thresholds(self, item_ids: set[str]) -> dict[str, int]:
        found = self._batch_get([threshold_key(i) for i in sorted(item_ids)])
        values = {t["item_id"]: int(t["threshold"]) for t in found}
        return {i: values.get(i, self.default_threshold) for i in item_ids}

    # ------------------------------------------------------------------ ledger

    def record_arrival(
        self, key: str, kind: str, etag: str, size: int, arrived_at: datetime, *, digest: str
    ) -> Arrival:
        uow = self.unit_of_work
        for _ in range(_ATTEMPTS):
            existing = self._get(file_key(key))
            if existing is not None:
                record = _file_record(existing)
                if existing.get("pending") and record.etag == etag and uow is not None:
                    # An earlier attempt recorded it but never committed its announcement: redo it.
                    uow.recorded.append(key)
                    return Arrival("new", key, etag, record.sequence, record.arrived_at, record.kind)
                # Under SSE-KMS the same bytes uploaded again get a new etag: the digest tells them apart.
                # Items recorded before digests were kept have none, and compare by etag only.
                same = record.etag == etag or (record.digest != "" and record.digest == digest)
                status: ArrivalStatus = "duplicate" if same else "conflict"
                return Arrival(status, key, record.etag, record.sequence, record.arrived_at, record.kind)
            counter = self.db.update_item(
                TableName=self.table_name,
                Key=_key("COUNTER", "FILES"),
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":one": _n(1)},
                ReturnValues="UPDATED_NEW",
            )
            sequence = int(counter["Attributes"]["value"]["N"])
            item: dict[str, Any] = {
                **file_key(key),
                "key": _s(key),
                "kind": _s(kind),
                "etag": _s(etag),
                "digest": _s(digest),
                "size": _n(size),
                "arrived_at": _s(iso(arrived_at)),
                "sequence": _n(sequence),
                "GSI4PK": _s("FILES"),
                "status": _s("arrived"),
                "good_rows": _n(0),
                "bad_rows": _n(0),
                "applied_total": _n(0),
                "reason": _s(""),
            }
            if uow is not None:
                item["pending"] = {"BOOL": True}
            try:
                self.db.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(PK)")
            except Exception as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue  # recorded concurrently: read it back as a duplicate or a conflict
                raise
            if uow is not None:
                uow.recorded.append(key)
            return Arrival("new", key, etag, sequence, arrived_at, kind)
        raise RuntimeError(f"could not record the arrival of {key}")

    def file(self, key: str) -> FileRecord | None:
        item = self._get(file_key(key))
        return _file_record(item) if item else None

    def files_since(self, sequence: int) -> Iterator[FileRecord]:
        for item in self._query(
            IndexName="arrivals",
            KeyConditionExpression="GSI4PK = :files AND #seq > :seq",
            ExpressionAttributeNames={"#seq": "sequence"},
            ExpressionAttributeValues={":files": _s("FILES"), ":seq": _n(sequence)},
        ):
            yield _file_record(item)

    def mark_rejected(self, key: str, reason: str, message: str = "") -> None:
        self._later(
            lambda: self._update_file(
                key,
                "SET #st = :rejected, reason = :reason, #msg = :message",
                {"#st": "status", "#msg": "message"},
                {":rejected": _s("rejected"), ":reason": _s(reason), ":message": _s(message)},
            )
        )

    def _update_file(self, key: str, expression: str, names: dict[str, str], values: dict[str, Any]) -> None:
        try:
            self.db.update_item(
                TableName=self.table_name,
                Key=file_key(key),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            # As the SQLite UPDATE: a file that was never recorded is left alone.
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def bad_rows(self, key: str) -> list[BadRowRecord]:
        return [
            BadRowRecord(key, int(i["line"]), i["reason"], i["raw"])
            for i in self._query(
                KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": _s(f"BADROWS#{key}")}
            )
        ]

    def _mark_applied(self, key: str, values: dict[str, int]) -> None:
        names = {"#st": "status"}
        sets = ["#st = :applied"]
        attrs: dict[str, Any] = {":applied": _s("applied")}
        for n, (name, value) in enumerate(values.items()):
            names[f"#a{n}"] = name
            sets.append(f"#a{n} = :v{n}")
            attrs[f":v{n}"] = _n(value)

        self._later(lambda: self._update_file(key, "SET " + ", ".join(sets), names, attrs))

    # ------------------------------------------------------------------ stock

    def apply_file(
        self, key: str, deltas: Iterable[PairDelta], bad_rows: Sequence[BadRowRecord], stats: FileStats
    ) -> OutcomeList | None:
        record = self.file(key)
        if record is not None and record.status == "applied":
            return None
        ordered = sorted(deltas, key=lambda d: (d.warehouse, d.item_id))
        thresholds = self._thresholds({d.item_id for d in ordered})
        # The registry only ever grows, so writing it first is harmless if the chunks fail.
        self._batch_write(
            [
                {"PutRequest": {"Item": {**_key("WAREHOUSES", f"WH#{w}"), "warehouse": _s(w)}}}
                for w in sorted({d.warehouse for d in ordered})
            ]
        )
        outcomes = OutcomeList()
        for n, chunk in enumerate(_chunks(ordered), start=1):
            outcomes.extend(self._apply_chunk(key, n, chunk, thresholds))
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            **_key(f"BADROWS#{key}", f"LINE#{b.line:010d}"),
                            "line": _n(b.line),
                            "reason": _s(b.reason),
                            "raw": _s(b.raw),
                        }
                    }
                }
                for b in {b.line: b for b in bad_rows}.values()
            ]
        )
        self._mark_applied(
            key,
            {"good_rows": stats.good_rows, "bad_rows": stats.bad_rows, "applied_total": stats.applied_total},
        )
        return outcomes

    def _apply_chunk(self, key: str, n: int, chunk: list[PairDelta], thresholds: dict[str, int]) -> list[PairOutcome]:
        marker = _key(f"APPLIED#{key}", f"CHUNK#{n:06d}")
        for attempt in range(_ATTEMPTS):
            done = self._get(marker)
            if done is not None:
                return [PairOutcome(*o) for o in json.loads(done["outcomes"])]
            current = {
                (p["warehouse"], p["item_id"]): p
                for p in self._batch_get([pair_key(d.warehouse, d.item_id) for d in chunk])
            }
            outcomes: list[PairOutcome] = []
            writes: list[dict[str, Any]] = []
            for d in chunk:
                old = current.get((d.warehouse, d.item_id))
                threshold = thresholds[d.item_id]
                was_below = bool(old and old.get("below"))
                level = (int(old["level"]) if old else 0) + d.change
                name_time = iso(from_micros(d.name_time))
                newer = _newer_name(d.item_name, name_time, old)
                name = d.item_name if old is None or newer else old["item_name"]
                outcomes.append(PairOutcome(d.warehouse, d.item_id, name, d.change, level, threshold, was_below))
                writes.append(_pair_update(d, old, level < threshold, newer, name_time))
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **marker,
                            "outcomes": _s(json.dumps([_outcome_row(o) for o in outcomes])),
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
            for write in writes:
                next(iter(write.values()))["TableName"] = self.table_name
            try:
                self.db.transact_write_items(TransactItems=writes)
                return outcomes
            except Exception as exc:
                if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                # The marker exists (a retry) or a pair changed under us: read again and retry.
                time.sleep(min(0.02 * 2**attempt, 1.0))
        raise RuntimeError(f"could not apply chunk {n} of {key}: too much contention")

    def set_thresholds(self, key: str, thresholds: dict[str, int]) -> list[tuple[str, int, int]] | None:
        record = self.file(key)
        if record is not None and record.status == "applied":
            return None
        items = list(thresholds.items())
        changes: list[tuple[str, int, int]] = []
        for n, start in enumerate(range(0, len(items), MAX_TRANSACTION_ITEMS - 1), start=1):
            chunk = items[start : start + MAX_TRANSACTION_ITEMS - 1]
            changes.extend(self._threshold_chunk(key, n, chunk))
        self._mark_applied(key, {"good_rows": len(thresholds)})
        return changes

    def _threshold_chunk(self, key: str, n: int, chunk: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        marker = _key(f"APPLIED#{key}", f"THRESHOLDS#{n:06d}")
        for attempt in range(_ATTEMPTS):
            done = self._get(marker)
            if done is not None:
                return [(i, old, new) for i, old, new in json.loads(done["outcomes"])]
            stored = {t["item_id"]: t for t in self._batch_get([threshold_key(i) for i, _ in chunk])}
            changes: list[tuple[str, int, int]] = []
            writes: list[dict[str, Any]] = []
            for item_id, new in chunk:
                old_item = stored.get(item_id)
                old = int(old_item["threshold"]) if old_item else self.default_threshold
                if old != new:
                    changes.append((item_id, old, new))
                put: dict[str, Any] = {
                    "TableName": self.table_name,
                    "Item": {
                        **threshold_key(item_id),
                        "item_id": _s(item_id),
                        "threshold": _n(new),
                        "file_key": _s(key),
                    },
                }
                if old_item is None:
                    put["ConditionExpression"] = "attribute_not_exists(PK)"
                else:
                    put["ConditionExpression"] = "threshold = :old"
                    put["ExpressionAttributeValues"] = {":old": _n(old)}
                writes.append({"Put": put})
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {**marker, "outcomes": _s(json.dumps(changes))},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
            try:
                self.db.transact_write_items(TransactItems=writes)
                return changes
            except Exception as exc:
                if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                time.sleep(min(0.02 * 2**attempt, 1.0))
        raise RuntimeError(f"could not apply thresholds chunk {n} of {key}: too much contention")

    def threshold(self, item_id: str) -> int:
        item = self._get(threshold_key(item_id))
        return int(item["threshold"]) if item else self.default_threshold

    def record_default_threshold(self) -> DefaultChange | None:
        stored = self._get(DEFAULT_KEY)
        if stored is not None and int(stored["default_threshold"]) == self.default_threshold:
            return None
        generation = int(stored["generation"]) + 1 if stored is not None else 0

        def record() -> None:
            # Conditional on the generation read: two functions that saw the same change record it once.
            try:
                self.db.put_item(
                    TableName=self.table_name,
                    Item={
                        **DEFAULT_KEY,
                        "default_threshold": _n(self.default_threshold),
                        "generation": _n(generation),
                    },
                    ConditionExpression="attribute_not_exists(PK)" if stored is None else "generation = :read",
                    **({} if stored is None else {"ExpressionAttributeValues": {":read": _n(generation - 1)}}),
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

        self._later(record)  # after the events: a crash before them makes the retry see the change again
        if stored is None:
            return None
        return DefaultChange(int(stored["default_threshold"]), self.default_threshold, generation)

    def recorded_default_threshold(self) -> int | None:
        stored = self._get(DEFAULT_KEY)
        return int(stored["default_threshold"]) if stored is not None else None

    def unlisted_items(self) -> list[str]:
        # Pairs by warehouse (the base table, items only: no scan through the ledger and its markers),
        # then which of their items have a threshold of their own.
        stocked: set[str] = set()
        for warehouse in self.warehouses():
            for pair in self._query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={":pk": _s(f"WH#{warehouse}"), ":prefix": _s("ITEM#")},
                ProjectionExpression="item_id",
            ):
                stocked.add(pair["item_id"])
        listed = {t["item_id"] for t in self._batch_get([threshold_key(i) for i in sorted(stocked)])}
        return sorted(stocked - listed)

    def recheck_item(self, item_id: str) -> list[AlertState]:
        threshold = self.threshold(item_id)
        states: list[AlertState] = []
        for pair in self._item_pairs(item_id, consistent=True):
            was_below = bool(pair.get("below"))
            level = int(pair["level"])
            states.append(AlertState(pair["warehouse"], item_id, pair["item_name"], level, was_below))
            below = level < threshold
            if below != was_below:
                self._later(self._below_writer(pair["warehouse"], item_id, level, below))
        return states

    def _below_writer(self, warehouse: str, item_id: str, level: int, below: bool) -> Callable[[], None]:
        def write() -> None:
            update = _below_update(warehouse, item_id, below)
            try:
                self.db.update_item(
                    TableName=self.table_name,
                    Key=pair_key(warehouse, item_id),
                    ConditionExpression="#level = :level",
                    UpdateExpression=update["UpdateExpression"],
                    ExpressionAttributeNames={**update["ExpressionAttributeNames"], "#level": "level"},
                    ExpressionAttributeValues={**update["ExpressionAttributeValues"], ":level": _n(level)},
                )
            except Exception as exc:
                # The level moved since the re-check; the file that moved it set the alert state.
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

        return write

    def _item_pairs(self, item_id: str, consistent: bool = False) -> list[dict[str, Any]]:
        pairs = list(
            self._query(
                IndexName="by_item",
                KeyConditionExpression="GSI2PK = :item",
                ExpressionAttributeValues={":item": _s(f"ITEM#{item_id}")},
            )
        )
        if consistent and pairs:
            # Indexes are eventually consistent: read the pairs themselves for the current levels.
            pairs = self._batch_get([pair_key(p["warehouse"], item_id) for p in pairs])
        return sorted(pairs, key=lambda p: p["warehouse"])

    # ------------------------------------------------------------------ reports

    def warehouse_items(
        self,
        warehouse: str,
        min_level: int | None = None,
        after_item: str | None = None,
        limit: int | None = None,
    ) -> list[StockRow]:
        pairs: list[dict[str, Any]] = []
        if min_level is None:
            values: dict[str, Any] = {":pk": _s(f"WH#{warehouse}")}
            if after_item is None:
                condition = "PK = :pk AND begins_with(SK, :prefix)"
                values[":prefix"] = _s("ITEM#")
            else:
                condition = "PK = :pk AND SK > :after"
                values[":after"] = _s(f"ITEM#{after_item}")
            for pair in self._query(KeyConditionExpression=condition, ExpressionAttributeValues=values):
                pairs.append(pair)
                if limit is not None and len(pairs) >= limit:
                    break
        else:
            # The index is ordered by level; the report is ordered by item, so sort what matched.
            matched = self._query(
                IndexName="by_level",
                KeyConditionExpression="GSI1PK = :pk AND #level > :min",
                ExpressionAttributeNames={"#level": "level"},
                ExpressionAttributeValues={":pk": _s(f"WH#{warehouse}"), ":min": _n(min_level)},
            )
            pairs = sorted(
                (p for p in matched if after_item is None or p["item_id"] > after_item),
                key=lambda p: p["item_id"],
            )[:limit]
        return self._rows(pairs)

    def _rows(self, pairs: list[dict[str, Any]]) -> list[StockRow]:
        thresholds = self._thresholds({p["item_id"] for p in pairs})
        return [
            StockRow(p["warehouse"], p["item_id"], p["item_name"], int(p["level"]), thresholds[p["item_id"]])
            for p in pairs
        ]

    def warehouse_exists(self, warehouse: str) -> bool:
        response = self.db.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": _s(f"WH#{warehouse}"), ":prefix": _s("ITEM#")},
            Limit=1,
        )
        return bool(response.get("Items"))

    def warehouses(self) -> list[str]:
        return [
            i["warehouse"]
            for i in self._query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": _s("WAREHOUSES")})
        ]

    def item_total(self, item_id: str) -> ItemTotal | None:
        pairs = self._item_pairs(item_id)
        if not pairs:
            return None
        newest_name = max(pairs, key=lambda p: p["name_time"])["item_name"]
        split = [(p["warehouse"], int(p["level"])) for p in pairs]
        return ItemTotal(item_id, newest_name, sum(level for _, level in split), split)

    def restock_list(self, after: tuple[str, str] | None = None, limit: int | None = None) -> list[StockRow]:
        values = {":below": _s("BELOW")}
        condition = "GSI3PK = :below"
        if after is not None:
            condition += " AND GSI3SK > :after"
            values[":after"] = _s(restock_sort_key(*after))
        extra = {} if limit is None else {"Limit": limit}
        pairs: list[dict[str, Any]] = []
        for pair in self._query(
            IndexName="restock", KeyConditionExpression=condition, ExpressionAttributeValues=values, **extra
        ):
            pairs.append(pair)
            if limit is not None and len(pairs) >= limit:
                break
        return self._rows(pairs)


# ---------------------------------------------------------------------------------------------------


def _chunks(ordered: list[PairDelta]) -> Iterator[list[PairDelta]]:
    """Consecutive chunks of at most 99 pairs (room for the marker) and a bounded marker size."""
    chunk: list[PairDelta] = []
    size = 0
    for d in ordered:
        d_size = len(d.warehouse.encode()) + len(d.item_id.encode()) + len(d.item_name.encode()) + 40
        if chunk and (len(chunk) >= MAX_TRANSACTION_ITEMS - 1 or size + d_size > MAX_CHUNK_TEXT_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(d)
        size += d_size
    if chunk:
        yield chunk


def _outcome_row(o: PairOutcome) -> list[Any]:
    return [o.warehouse, o.item_id, o.item_name, o.change, o.level, o.threshold, o.was_below]


def _below_update(warehouse: str, item_id: str, below: bool) -> dict[str, Any]:
    if below:
        return {
            "UpdateExpression": "SET below = :below, GSI3PK = :restock, GSI3SK = :rsk",
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {
                ":below": {"BOOL": True},
                ":restock": _s("BELOW"),
                ":rsk": _s(restock_sort_key(warehouse, item_id)),
            },
        }
    return {
        "UpdateExpression": "SET below = :below REMOVE GSI3PK, GSI3SK",
        "ExpressionAttributeNames": {},
        "ExpressionAttributeValues": {":below": {"BOOL": False}},
    }


def _newer_name(name: str, name_time: str, old: dict[str, Any] | None) -> bool:
    """Whether a file's name for a pair replaces the stored one: the SQLite adapter's rule.

    An empty name never does (a file whose rows for a pair all lack a name must not blank it); a
    name does if it is at least as new as the stored one, or if the stored one is empty.
    """
    if not name:
        return False
    return old is None or not old["item_name"] or name_time >= old["name_time"]


def _pair_update(d: PairDelta, old: dict[str, Any] | None, below: bool, newer: bool, name_time: str) -> dict[str, Any]:
    """The write of one pair in a chunk's transaction: a conditional Put for a new pair, else an ADD."""
    restock = {"GSI3PK": _s("BELOW"), "GSI3SK": _s(restock_sort_key(d.warehouse, d.item_id))} if below else {}
    if old is None:
        return {
            "Put": {
                "Item": {
                    **pair_key(d.warehouse, d.item_id),
                    "warehouse": _s(d.warehouse),
                    "item_id": _s(d.item_id),
                    "item_name": _s(d.item_name),
                    "name_time": _s(name_time),
                    "level": _n(d.change),
                    "below": {"BOOL": below},
                    "GSI1PK": _s(f"WH#{d.warehouse}"),
                    "GSI2PK": _s(f"ITEM#{d.item_id}"),
                    "GSI2SK": _s(f"WH#{d.warehouse}"),
                    **restock,
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    values: dict[str, Any] = {
        ":change": _n(d.change),
        ":old": _n(int(old["level"])),
        ":below": {"BOOL": below},
    }
    sets = ["below = :below"]
    if newer:
        sets += ["item_name = :name", "name_time = :name_time"]
        values[":name"] = _s(d.item_name)
        values[":name_time"] = _s(name_time)
    expression = ""
    if below:
        sets += ["GSI3PK = :restock", "GSI3SK = :rsk"]
        values[":restock"] = restock["GSI3PK"]
        values[":rsk"] = restock["GSI3SK"]
    elif old.get("below"):
        expression = " REMOVE GSI3PK, GSI3SK"
    return {
        "Update": {
            "Key": pair_key(d.warehouse, d.item_id),
            "UpdateExpression": "SET " + ", ".join(sets) + " ADD #level :change" + expression,
            "ConditionExpression": "#level = :old",
            "ExpressionAttributeNames": {"#level": "level"},
            "ExpressionAttributeValues": values,
        }
    }


def _file_record(item: dict[str, Any]) -> FileRecord:
    return FileRecord(
        key=item["key"],
        kind=item["kind"],
        etag=item["etag"],
        sequence=int(item["sequence"]),
        arrived_at=datetime.fromisoformat(item["arrived_at"]),
        status=item["status"],
        good_rows=int(item.get("good_rows", 0)),
        bad_rows=int(item.get("bad_rows", 0)),
        applied_total=int(item.get("applied_total", 0)),
        reason=item.get("reason", ""),
        message=item.get("message", ""),
        digest=item.get("digest", ""),
    )
