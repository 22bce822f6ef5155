"""The event bus on EventBridge: PutEvents to the custom bus.

EventBridge gives every entry its own id and keeps only whole seconds of its time. Consumers are
idempotent on our deterministic ids, so the envelope's id, time and version travel inside the detail
under `_envelope`, and `envelope_from_eventbridge` puts them back; the detail models never see it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.aws.clients import AwsClients
from events import Envelope, Event, JsonEvent

if TYPE_CHECKING:
    from adapters.aws.stock_table import DynamoStockTable

MAX_ENTRIES_PER_CALL = 10
MAX_ENTRY_BYTES = 256 * 1024
META_KEY = "_envelope"
_ATTEMPTS = 6


class EventTooLarge(ValueError):
    """An entry over EventBridge's 256 KB limit: the producer must batch it (events.batching)."""


class PublishFailed(RuntimeError):
    pass


class EventBridgeBus:
    def __init__(
        self,
        clients: AwsClients,
        bus_name: str,
        table: DynamoStockTable | None = None,
        base_delay: float = 0.1,
    ) -> None:
        self.clients = clients
        self.bus_name = bus_name
        self.table = table
        self.base_delay = base_delay
        self.sent: dict[str, int] = {}  # detail-type -> count, for the handlers' metrics

    def publish(self, events: Iterable[Event]) -> None:
        batch = list(events)
        if not batch:
            return
        if self.table is not None and self.table.defer_events(batch):
            return
        self.send_now(batch)

    def send_now(self, events: list[Event]) -> None:
        entries = [self.entry(e) for e in events]
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            self._put(entries[start : start + MAX_ENTRIES_PER_CALL])
        for event in events:
            self.sent[event.detail_type] = self.sent.get(event.detail_type, 0) + 1

    def entry(self, event: Event) -> dict[str, Any]:
        meta = {"id": event.id, "time": event.time.isoformat(), "version": event.version}
        if event.replay_name:
            meta["replay_name"] = event.replay_name
        text = _detail_with_meta(event, meta)
        entry = {
            "Time": event.time,
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": text,
            "EventBusName": self.bus_name,
        }
        size = entry_size(entry)
        if size > MAX_ENTRY_BYTES:
            raise EventTooLarge(
                f"{event.detail_type} {event.id} is {size} bytes; EventBridge takes at most {MAX_ENTRY_BYTES}"
            )
        return entry

    def _put(self, entries: list[dict[str, Any]]) -> None:
        pending = entries
        for attempt in range(_ATTEMPTS):
            response = self.clients("events").put_events(Entries=pending)
            if not response.get("FailedEntryCount"):
                return
            # Results are in request order; retry only the entries that failed (throttling, internal).
            failed = [e for e, r in zip(pending, response["Entries"], strict=True) if r.get("ErrorCode")]
            errors = {r.get("ErrorCode") for r in response["Entries"] if r.get("ErrorCode")}
            pending = failed
            if attempt + 1 < _ATTEMPTS:
                time.sleep(min(self.base_delay * 2**attempt, 5.0))
        raise PublishFailed(f"{len(pending)} event(s) could not be put on {self.bus_name}: {sorted(errors)}")


def _detail_with_meta(event: Event, meta: dict[str, str]) -> str:
    """The detail's compact JSON with the envelope's fields added under META_KEY.

    A JsonEvent's text (a ~200 KB StockChanged batch) gets them spliced in before its closing brace,
    instead of being decoded and encoded again; its own key order and escapes stay as they are.
    """
    meta_json = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    if isinstance(event, JsonEvent):
        body = event.text.decode().rstrip()
        if body.startswith("{") and body.endswith("}") and body[1:-1].strip():
            return f'{body[:-1]},"{META_KEY}":{meta_json}}}'
    detail = {**event.detail, META_KEY: meta}
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))


def entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's way of counting an entry: Time is 14 bytes, the strings by their UTF-8 length."""
    size = 14 if entry.get("Time") else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name, "")).encode("utf-8"))
    size += sum(len(r.encode("utf-8")) for r in entry.get("Resources", []))
    return size


def envelope_from_eventbridge(event: dict[str, Any]) -> Envelope:
    """An event as EventBridge delivers it (SQS body, log line) back into our envelope."""
    detail = dict(event.get("detail") or {})
    meta = detail.pop(META_KEY, None) or {}
    return Envelope(
        id=meta.get("id") or event["id"],
        time=(datetime.fromisoformat(meta["time"]) if meta.get("time") else _time(event["time"])).astimezone(UTC),
        source=event["source"],
        detail_type=event["detail-type"],
        version=meta.get("version", "1"),
        detail=detail,
        replay_name=meta.get("replay_name") or event.get("replay-name"),
    )


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
