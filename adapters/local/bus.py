"""The durable local bus: an outbox and archive in the home's SQLite database.

`publish` stores the event and one pending delivery per matching rule, inside the caller's
transaction when there is one, so an event exists exactly when the state change that caused it does.
`local.delivery` then hands pending deliveries to their targets with retries, backoff and a dead state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core

from adapters.local.database import Database, iso, parse_iso
from events import Envelope, Event, JsonEvent
from events.matching import OR_KEY, matches
from events.rules import CUSTOM_BUS, RULES, Rule


@dataclass(frozen=True)
class Delivery:
    id: int
    event: Event
    rule: str
    target: str
    attempts: int
    last_error: str


class LocalBus:
    def __init__(self, db: Database, rules: Iterable[Rule] = RULES) -> None:
        self.db = db
        self.rules = tuple(rules)
        # Per rule, the detail-types it names exactly (None: it names none, or not only plain strings):
        # a file's thousands of alerts then skip the full pattern match of every other rule. And whether
        # it can look at the detail at all: a StockChanged's need not be decoded to be routed.
        self._detail_types = [_exact_values(rule.pattern.get("detail-type")) for rule in self.rules]
        self._reads_detail = [any(k in rule.pattern for k in ("detail", OR_KEY)) for rule in self.rules]

    def publish(self, events: Iterable[Event], bus: str = CUSTOM_BUS) -> None:
        with self.db.transaction() as conn:
            for event in events:
                # The detail goes in as UTF-8 bytes (a BLOB) and is stored as the TEXT it is.
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events (id, bus, time, source, detail_type, detail) "
                    "VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT))",
                    (event.id, bus, iso(event.time), event.source, event.detail_type, event.detail_json()),
                )
                if cur.rowcount == 0:
                    continue  # the same event published again: its deliveries already exist
                self._enqueue(cur.lastrowid or 0, event, bus, replay_name=None)

    def _enqueue(self, seq: int, event: Event, bus: str, replay_name: str | None) -> int:
        shapes: dict[bool, dict[str, Any]] = {}  # with the detail or not
        count = 0
        for rule, detail_types, reads_detail in zip(self.rules, self._detail_types, self._reads_detail, strict=True):
            if rule.bus != bus or (detail_types is not None and event.detail_type not in detail_types):
                continue
            if reads_detail not in shapes:
                shapes[reads_detail] = _shape(event, reads_detail)
            if matches(rule.pattern, shapes[reads_detail]):
                self.db.conn.execute(
                    "INSERT INTO deliveries (event_seq, rule, target, status, next_at, replay_name) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    (seq, rule.name, rule.target, time.time(), replay_name),
                )
                count += 1
        return count

    # ------------------------------------------------------------------ delivery side

    def next_target(self) -> str | None:
        """The target of the oldest pending delivery that is due, if any."""
        first = self.db.conn.execute(
            "SELECT target FROM deliveries WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT 1",
            (time.time(),),
        ).fetchone()
        return None if first is None else str(first[0])

    def due(self, limit: int = 500, target: str | None = None) -> list[Delivery]:
        """Pending deliveries that are due, for `target` (by default that of the oldest), in publish order."""
        target = target or self.next_target()
        if target is None:
            return []
        rows = self.db.conn.execute(
            f"SELECT d.id, d.rule, d.target, d.attempts, d.last_error, d.replay_name, {_STORED_COLUMNS} "
            "FROM deliveries d JOIN events e ON e.seq = d.event_seq "
            "WHERE d.status = 'pending' AND d.next_at <= ? AND d.target = ? ORDER BY d.id LIMIT ?",
            (time.time(), target, limit),
        ).fetchall()
        return [
            Delivery(row[0], _stored_event(row[6:], replay_name=row[5]), row[1], row[2], row[3], row[4]) for row in rows
        ]

    def next_due_in(self) -> float | None:
        row = self.db.conn.execute("SELECT MIN(next_at) FROM deliveries WHERE status = 'pending'").fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, row[0] - time.time())

    def waiting(self) -> tuple[int, str | None]:
        """How many deliveries wait for a retry, and the last error of the one due first."""
        conn = self.db.conn
        (count,) = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND attempts > 0").fetchone()
        row = conn.execute(
            "SELECT last_error FROM deliveries WHERE status = 'pending' AND attempts > 0 ORDER BY next_at LIMIT 1"
        ).fetchone()
        return int(count), (row[0] if row else None)

    def mark_done(self, delivery_ids: Iterable[int]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("UPDATE deliveries SET status = 'done' WHERE id = ?", ((i,) for i in delivery_ids))

    def mark_failed(self, delivery: Delivery, error: str, max_attempts: int, base_delay: float) -> bool:
        """Schedule a retry with exponential backoff; returns True when the delivery is now dead."""
        attempts = delivery.attempts + 1
        dead = attempts >= max_attempts
        delay = min(base_delay * (2 ** (attempts - 1)), 300.0)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET attempts = ?, status = ?, next_at = ?, last_error = ? WHERE id = ?",
                (attempts, "dead" if dead else "pending", time.time() + delay, error[:2000], delivery.id),
            )
        return dead

    def dead(self) -> list[Delivery]:
        rows = self.db.conn.execute(
            f"SELECT d.id, d.rule, d.target, d.attempts, d.last_error, d.replay_name, {_EVENT_COLUMNS} "
            "FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.status = 'dead' ORDER BY d.id"
        ).fetchall()
        return [Delivery(r[0], _envelope(r[6:], replay_name=r[5]), r[1], r[2], r[3], r[4]) for r in rows]

    def redrive(self) -> int:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ? WHERE status = 'dead'",
                (time.time(),),
            )
            return cur.rowcount

    def prune(self, before: datetime) -> int:
        """Forget archived events older than `before` whose deliveries are all done; returns how many.

        The AWS archive keeps events for a retention period; without this the local one would grow with
        every file for as long as the home lives. Events still pending or dead-lettered stay (a redrive
        needs them), and so do the consumers' markers, which are small and keep a re-put event ignored.
        """
        with self.db.transaction() as conn:
            old = [
                seq
                for (seq,) in conn.execute(
                    "SELECT seq FROM events e WHERE e.time < ? AND NOT EXISTS "
                    "(SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.status != 'done')",
                    (iso(before),),
                )
            ]
            conn.executemany("DELETE FROM deliveries WHERE event_seq = ?", ((seq,) for seq in old))
            conn.executemany("DELETE FROM events WHERE seq = ?", ((seq,) for seq in old))
            return len(old)

    def pending_count(self) -> int:
        (count,) = self.db.conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()
        return int(count)

    # ------------------------------------------------------------------ archive

    def archived(
        self,
        detail_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bus: str | None = CUSTOM_BUS,
    ) -> list[Envelope]:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events e WHERE 1 = 1"
        params: list[object] = []
        if bus is not None:
            sql += " AND e.bus = ?"
            params.append(bus)
        if detail_type:
            sql += " AND e.detail_type = ?"
            params.append(detail_type)
        if since:
            sql += " AND e.time >= ?"
            params.append(iso(since))
        if until:
            sql += " AND e.time < ?"
            params.append(iso(until))
        sql += " ORDER BY e.seq"
        return [_envelope(row) for row in self.db.conn.execute(sql, params)]

    def replay(
        self, replay_name: str, since: datetime, until: datetime | None = None, detail_type: str | None = None
    ) -> int:
        """Deliver archived events again to the rules they match now, marked with the replay's name."""
        count = 0
        with self.db.transaction() as conn:
            sql = "SELECT seq, bus FROM events WHERE bus = ? AND time >= ?"
            params: list[object] = [CUSTOM_BUS, iso(since)]
            if until:
                sql += " AND time < ?"
                params.append(iso(until))
            if detail_type:
                sql += " AND detail_type = ?"
                params.append(detail_type)
            for seq, bus in conn.execute(sql + " ORDER BY seq", params).fetchall():
                row = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE seq = ?", (seq,)).fetchone()
                count += self._enqueue(seq, _envelope(row), bus, replay_name=replay_name)
        return count


_EVENT_COLUMNS = "e.id, e.time, e.source, e.detail_type, e.detail"
# The detail as the UTF-8 bytes it is stored as: a delivery's consumer decodes it only if it needs it.
_STORED_COLUMNS = "e.id, e.time, e.source, e.detail_type, CAST(e.detail AS BLOB)"


def _shape(event: Event, with_detail: bool) -> dict[str, Any]:
    """The event as a rule sees it; without the detail for a rule whose pattern cannot look at it."""
    if with_detail or isinstance(event, Envelope):
        return event.to_eventbridge(share_detail=True)
    without = event.envelope(detail={}).to_eventbridge(share_detail=True)
    del without["detail"]
    return without


def _exact_values(matchers: Any) -> frozenset[str] | None:
    """The strings a pattern's leaf matches exactly, when it is a list of plain strings only."""
    if isinstance(matchers, list) and matchers and all(isinstance(m, str) for m in matchers):
        return frozenset(matchers)
    return None


def _stored_event(row: tuple[Any, ...], replay_name: str | None) -> JsonEvent:
    """A pending delivery's event with its detail still JSON: alerts validates a StockChanged batch's
    ~1,000 pairs straight from the text (parse_detail), without a dict per pair in between."""
    event_id, time_text, source, detail_type, text = row
    return JsonEvent(event_id, parse_iso(time_text), source, detail_type, text, replay_name=replay_name)


def _envelope(row: tuple[Any, ...], replay_name: str | None = None) -> Envelope:
    event_id, time_text, source, detail_type, detail = row
    return Envelope(  # populate_by_name: field names are accepted (no pydantic mypy plugin)
        id=event_id,
        time=parse_iso(time_text),
        source=source,
        detail_type=detail_type,
        # pydantic-core's decoder (Rust) is 2-3x the json module's speed; a big file's StockChanged
        # batches are tens of MB.
        detail=pydantic_core.from_json(detail),
        replay_name=replay_name,
    )
