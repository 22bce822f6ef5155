"""sweep: when thresholds change, re-check the existing stock of every changed item."""

from __future__ import annotations

from adapters.ports import Ports
from events import Envelope, new_event
from events.models import BelowThreshold, ThresholdsUpdated

SOURCE = "inventory.sweep"


def handle(ports: Ports, event: Envelope) -> None:
    updated = ThresholdsUpdated.model_validate(event.detail)
    with ports.table.transaction():
        if not ports.table.first_delivery("sweep", event.id):
            return
        alerts: list[BelowThreshold] = []
        for change in updated.changes:
            # Compare with the threshold in force now, not the event's: a later file may have changed it.
            threshold = ports.table.threshold(change.item_id)
            for pair in ports.table.recheck_item(change.item_id):
                if not pair.was_below and pair.level < threshold:
                    alerts.append(
                        BelowThreshold(
                            warehouse=pair.warehouse,
                            item_id=pair.item_id,
                            item_name=pair.item_name,
                            level=pair.level,
                            threshold=threshold,
                            cause="threshold_update",
                            file_key=updated.file_key,
                        )
                    )
        ports.bus.publish(
            new_event(a, source=SOURCE, id_parts=(a.file_key, a.warehouse, a.item_id, a.cause), time=event.time)
            for a in alerts
        )
