"""alerts: a pair that was not below its threshold before a file and is below after it gets one alert.

The stock table keeps each pair's alert state, so an alert does not repeat while the pair stays below,
and recovering to the threshold re-arms it.
"""

from __future__ import annotations

from adapters.ports import Ports
from events import Event, new_event, parse_detail
from events.models import BelowThreshold, StockChanged

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
