"""thresholds: apply a restock-thresholds file as changes (listed items get the new value)."""

from __future__ import annotations

from adapters.ports import Ports
from events import Envelope, Event, new_event
from events.batching import chunk_by_size
from events.models import FileArrived, FileRejected, ThresholdsUpdated
from services.files.logic import REPLACED_MESSAGE, stored_upload
from services.thresholds.parsing import MAX_THRESHOLDS_BYTES, InvalidThresholds, parse_thresholds

SOURCE = "inventory.thresholds"
# What a changed INVENTORY_DEFAULT_THRESHOLD is called where a thresholds file's key would stand.
DEFAULT_KEY = "settings/default_threshold"


def handle(ports: Ports, event: Event) -> None:
    arrived = FileArrived.model_validate(event.detail)
    key = arrived.key
    record = ports.table.file(key)
    if record is not None and record.status in ("applied", "rejected"):
        return
    try:
        if arrived.size > MAX_THRESHOLDS_BYTES:
            raise InvalidThresholds(f"file is {arrived.size} bytes; the limit is {MAX_THRESHOLDS_BYTES}")
        # Exactly the upload announced: other content stored since was refused as a conflict.
        opener = stored_upload(ports, key, arrived.etag, record.digest if record is not None else "")
        if opener is None:
            _reject(ports, key, "replaced", REPLACED_MESSAGE, event.id)
            return
        values = parse_thresholds(b"".join(opener()))
    except InvalidThresholds as exc:
        _reject(ports, key, "invalid", str(exc), event.id)
        return
    with ports.table.transaction():
        if not ports.table.first_delivery("thresholds", event.id):
            return
        changes = ports.table.set_thresholds(key, values)
        if changes is None:
            return
        ports.bus.publish(updated_events(key, changes, ports.table.default_threshold))


def _reject(ports: Ports, key: str, reason: str, message: str, cause_id: str) -> None:
    with ports.table.transaction():
        if ports.table.first_delivery("thresholds", cause_id):
            ports.table.mark_rejected(key, reason, message)
            detail = FileRejected(key=key, kind="thresholds", reason=reason, message=message)
            ports.bus.publish([new_event(detail, source=SOURCE, id_parts=(key, reason))])


def apply_default_threshold(ports: Ports) -> list[Envelope]:
    """A changed default threshold is a threshold change for every item without one of its own: one
    ThresholdsUpdated announces it, and the sweep finds those items, re-checks them and alerts."""
    with ports.table.transaction():
        change = ports.table.record_default_threshold()
        if change is None:
            return []
        detail = ThresholdsUpdated(
            file_key=f"{DEFAULT_KEY}/{change.generation}",
            default_threshold=change.new,
            default_changed_from=change.old,
            batch=1,
            batches=1,
            changes=[],
        )
        events = [new_event(detail, source=SOURCE, id_parts=(detail.file_key, 1))]
        ports.bus.publish(events)
        return events


def updated_events(key: str, changes: list[tuple[str, int, int]], default: int) -> list[Envelope]:
    items = [{"item_id": item, "old": old, "new": new} for item, old, new in changes]
    chunks = list(chunk_by_size(items))
    return [
        new_event(
            ThresholdsUpdated.model_validate(
                {
                    "file_key": key,
                    "default_threshold": default,
                    "batch": n,
                    "batches": len(chunks),
                    "changes": chunk,
                }
            ),
            source=SOURCE,
            id_parts=(key, n),
        )
        for n, chunk in enumerate(chunks, start=1)
    ]
