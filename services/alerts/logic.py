"""alerts: a pair that was not below its threshold before a file and is below after it gets one alert.

The stock table keeps each pair's alert state, so an alert does not repeat while the pair stays below,
and recovering to the threshold re-arms it.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.ports import Ports
from events import Event, new_event, parse_detail
from events.models import BelowThreshold, StockChanged
from services.dispatch import handle_each

SOURCE = "inventory.alerts"


def crossings(changed: StockChanged) -> list[BelowThreshold]:
    return [
        BelowThreshold(
            warehouse=p.warehouse,
            item_id=p.item_id,
            item_name=p.item_name,
            level=p.level,
            threshold=p.threshold,
            cause="stock_change",
            file_key=changed.file_key,
        )
        for p in changed.pairs
        if not p.was_below and p.level < p.threshold
    ]


def handle_batch(ports: Ports, events: Sequence[Event]) -> dict[str, str]:
    """A delivery batch in one transaction: one commit for the batch instead of one per StockChanged
    (a 1M-row file makes ~170 of them). If any event fails, nothing of the batch is kept and each is
    handled on its own, so an event that cannot be handled fails alone and the others go through."""
    try:
        with ports.table.transaction():
            for event in events:
                handle(ports, event)
        return {}
    except Exception:  # the batch rolled back as a whole: find the culprit one event at a time
        return handle_each(handle, ports, events)


def handle(ports: Ports, event: Event) -> None:
    changed = parse_detail(event, StockChanged)
    alerts = crossings(changed)
    with ports.table.transaction():
        if not ports.table.first_delivery("alerts", event.id):
            return
        ports.bus.publish(
            new_event(a, source=SOURCE, id_parts=(a.file_key, a.warehouse, a.item_id, a.cause), time=event.time)
            for a in alerts
        )
