"""The small interfaces services talk to. Each has exactly two adapters: `adapters.local` and `adapters.aws`.

Services import this module, never an adapter; `local.wiring` (and the Lambda handlers' wiring) choose
the adapters. The contract tests in `tests/contract` run one suite against both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from adapters.settings import Settings
from events import Event

# ---------------------------------------------------------------- object store (S3 / a folder)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # content identity: S3 ETag, or SHA-256 hex locally
    modified: datetime


class ObjectStore(Protocol):
    bucket: str

    def put(self, key: str, data: bytes | Path, digest: tuple[str, int] | None = None) -> ObjectInfo:
        """Store bytes, or a file's content read in chunks (large files never sit in memory whole).

        digest: the content's (SHA-256 hex, size) when the caller has it already, so a big file is not
        read and hashed a second time by a store that needs it (the folder's sealed header does)."""
        ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes: ...

    def stream(self, key: str, etag: str | None = None) -> Iterator[bytes]:
        """The object's content in chunks, so large files are never held in memory whole. With `etag`,
        only that upload's content: ObjectChanged once another upload has replaced it."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def digest(self, key: str, etag: str) -> str | None:
        """SHA-256 hex of the object's content while it still has `etag`; None when the key holds no object
        or another upload replaced it. An etag identifies one upload, not content (under SSE-KMS S3 gives
        every upload of the same bytes its own), so a re-upload is recognised by this digest instead."""
        ...


class NoSuchObject(KeyError):
    pass


class ObjectChanged(Exception):
    """The key holds another upload than the one asked for (another tool stored it again)."""


# ---------------------------------------------------------------- stock table (DynamoDB / SQLite)


# PairDelta, PairOutcome and StockRow are NamedTuples, not dataclasses: a big file or report makes
# hundreds of thousands of them, and a frozen dataclass's __init__ costs several times a tuple's.
class PairDelta(NamedTuple):
    """What one file does to one (warehouse, item) pair: the summed change and the newest name seen."""

    warehouse: str
    item_id: str
    item_name: str
    # When the row that gave the name happened, in microseconds since 1970 UTC (`to_micros`): an int,
    # because the parser's C fast path yields it so and SQLite stores it so (no datetime per pair).
    name_time: int
    change: int


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(ts: datetime) -> int:
    """Microseconds since 1970 UTC, exactly (a float timestamp loses microseconds far from 1970)."""
    return (ts - _EPOCH) // _MICROSECOND


def from_micros(us: int) -> datetime:
    return _EPOCH + us * _MICROSECOND


class PairOutcome(NamedTuple):
    warehouse: str
    item_id: str
    item_name: str
    change: int
    level: int  # after the file
    threshold: int
    was_below: bool  # the pair's alert state before the file (a new pair counts as not below)

    @property
    def is_below(self) -> bool:
        return self.level < self.threshold


class PairOutcomes(Protocol):
    """What `apply_file` did to each pair of a file, in (warehouse, item_id) order."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[PairOutcome]: ...

    def as_json(self) -> list[bytes]:
        """Each outcome as a compact JSON object of its fields by name (the pairs of a StockChanged),
        UTF-8, non-ASCII unescaped: a big file has ~250k of them, and an adapter may render them faster
        than building a dict per pair (SQLite's json_object does)."""
        ...


class OutcomeList(list[PairOutcome]):
    """PairOutcomes held as PairOutcome tuples (the DynamoDB adapter builds them one by one anyway)."""

    def as_json(self) -> list[bytes]:
        dumps = json.dumps
        return [dumps(o._asdict(), ensure_ascii=False, separators=(",", ":")).encode() for o in self]


class StockRow(NamedTuple):
    warehouse: str
    item_id: str
    item_name: str
    level: int
    threshold: int

    @property
    def below(self) -> bool:
        return self.level < self.threshold


@dataclass(frozen=True, slots=True)
class ItemTotal:
    item_id: str
    item_name: str
    total: int
    warehouses: list[tuple[str, int]]


ArrivalStatus = Literal["new", "duplicate", "conflict"]


@dataclass(frozen=True, slots=True)
class Arrival:
    status: ArrivalStatus
    key: str
    etag: str
    sequence: int  # of the first arrival of this key
    arrived_at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class DefaultChange:
    """The default threshold changed since the stored alert states were derived."""

    old: int
    new: int
    generation: int  # grows with every change, so the same change made twice is two changes


@dataclass(frozen=True, slots=True)
class FileRecord:
    key: str
    kind: str
    etag: str
    sequence: int
    arrived_at: datetime
    status: str  # arrived | applied | rejected
    good_rows: int = 0
    bad_rows: int = 0
    applied_total: int = 0
    reason: str = ""  # a short code: unreadable, invalid, ...
    message: str = ""  # the sentence that says what is wrong, as the rejection mail gives it
    digest: str = ""  # SHA-256 of the content that arrived first ("" in a ledger older than digests)


@dataclass(frozen=True, slots=True)
class BadRowRecord:
    file_key: str
    line: int
    reason: str
    raw: str


@dataclass
class FileStats:
    good_rows: int = 0
    bad_rows: int = 0
    applied_total: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertState:
    warehouse: str
    item_id: str
    item_name: str
    level: int
    was_below: bool


class StockTable(Protocol):
    """State of the system: stock levels, thresholds, the file ledger and consumer markers.

    Writes made inside `transaction()` take effect together with the events published on the bus in
    the same transaction (locally one SQLite transaction; on AWS the events are published and the
    idempotency markers written when the block ends without error).
    """

    default_threshold: int

    def transaction(self) -> AbstractContextManager[None]: ...

    # -- consumer idempotency: True the first time (consumer, event id) is seen inside a transaction
    def first_delivery(self, consumer: str, event_id: str) -> bool: ...

    # -- file ledger and arrival order
    def record_arrival(
        self, key: str, kind: str, etag: str, size: int, arrived_at: datetime, *, digest: str
    ) -> Arrival:
        """Record the first arrival of a key; a later one is a duplicate when it has the recorded etag or
        the recorded content digest (SHA-256), else a conflict. Repeats keep the first arrival's place."""
        ...

    def file(self, key: str) -> FileRecord | None: ...

    def files_since(self, sequence: int) -> Iterator[FileRecord]:
        """Files in arrival order (sequence) whose sequence is greater than the one given."""
        ...

    def mark_rejected(self, key: str, reason: str, message: str = "") -> None: ...

    # -- stock
    def apply_file(
        self, key: str, deltas: Iterable[PairDelta], bad_rows: Sequence[BadRowRecord], stats: FileStats
    ) -> PairOutcomes | None:
        """Apply one file's changes exactly once; None when the file was already applied.

        `deltas` may be a one-shot iterator."""
        ...

    def set_thresholds(self, key: str, thresholds: dict[str, int]) -> list[tuple[str, int, int]] | None:
        """Record a thresholds file's values once; returns (item, old, new) for items whose value changed,
        or None when this file was already applied."""
        ...

    def threshold(self, item_id: str) -> int: ...

    def record_default_threshold(self) -> DefaultChange | None:
        """Record `default_threshold` as the default the alert states follow (with the unit of work).

        Returns the change when it differs from the one recorded before; None when it is the same, or
        when none was recorded yet (a new store)."""
        ...

    def recorded_default_threshold(self) -> int | None:
        """The default the stored alert states follow (what `record_default_threshold` last recorded),
        or None before the first record."""
        ...

    def unlisted_items(self) -> list[str]:
        """Items in stock without a threshold of their own (the default applies to them), sorted."""
        ...

    def recheck_item(self, item_id: str) -> list[AlertState]:
        """Re-evaluate every pair of an item against its current threshold, store the new alert state,
        and return each pair with its state before (was_below) and its current level."""
        ...

    # -- reports
    def warehouse_items(
        self,
        warehouse: str,
        min_level: int | None = None,
        after_item: str | None = None,
        limit: int | None = None,
    ) -> list[StockRow]: ...

    def warehouse_exists(self, warehouse: str) -> bool: ...

    def warehouses(self) -> list[str]: ...

    def item_total(self, item_id: str) -> ItemTotal | None: ...

    def restock_list(self, after: tuple[str, str] | None = None, limit: int | None = None) -> list[StockRow]:
        """Pairs below their item's threshold ordered by (warehouse, item id): those after `after`, at most `limit`."""
        ...

    def bad_rows(self, key: str) -> list[BadRowRecord]: ...


# ---------------------------------------------------------------- bus (EventBridge / SQLite outbox)


class EventBus(Protocol):
    def publish(self, events: Iterable[Event]) -> None:
        """Publish on the custom bus. Inside a StockTable transaction, delivery waits for the commit."""
        ...


# ---------------------------------------------------------------- mailer (SES / SMTP or .eml outbox)


@dataclass(frozen=True, slots=True)
class Mail:
    message_id: str  # deterministic, so a re-sent digest is recognisably the same mail
    subject: str
    text: str
    html: str
    to: tuple[str, ...]
    sender: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> str:
        """Send one mail; returns where it went (an SES message id, an SMTP host, a file path)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class Ports:
    """Everything a service may touch, chosen by one runtime's wiring."""

    objects: ObjectStore
    table: StockTable
    bus: EventBus
    mailer: Mailer
    clock: Clock
    settings: Settings
