"""sweep: when thresholds change, re-check the existing stock of every changed item."""

from __future__ import annotations

from adapters.ports import Ports
from events import Event, new_event
from events.models import BelowThreshold, ThresholdsUpdated

SOURCE = "inventory.sweep"


class StaleDefault(RuntimeError):
    """This function still runs with the default the event replaces (a deploy in progress): retry later."""


def handle(ports: Ports, event: Event) -> None:
    updated = ThresholdsUpdated.model_validate(event.detail)
    if updated.default_changed_from is not None and ports.table.default_threshold != updated.default_threshold:
        if ports.table.recorded_default_threshold() != updated.default_threshold:
            # Superseded: the default changed again since, and that change has its own event and sweep.
            # Sweeping with a default no longer in force would alert on the wrong threshold.
            return
        raise StaleDefault(
            f"the default threshold here is {ports.table.default_threshold}, the event's is "
            f"{updated.default_threshold}; retried until this function runs with the new one"
        )
    with ports.table.transaction():
        if not ports.table.first_delivery("sweep", event.id):
            return
        if updated.default_changed_from is None:
            items = [change.item_id for change in updated.changes]
        else:
            items = ports.table.unlisted_items()
        alerts: list[BelowThreshold] = []
        for item_id in items:
            # Compare with the threshold in force now, not the event's: a later file may have changed it.
            threshold = ports.table.threshold(item_id)
            for pair in ports.table.recheck_item(item_id):
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
