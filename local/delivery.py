"""The local bus's delivery loop: hand pending deliveries to their services, retry, dead-letter."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.local.bus import Delivery, LocalBus
from adapters.ports import Ports
from services import dispatch

log = logging.getLogger("inventory.delivery")


@dataclass
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    by_target: dict[str, int] = field(default_factory=dict)


def deliver_once(ports: Ports, bus: LocalBus, stats: DeliveryStats) -> int:
    """Deliver one batch (the oldest due target's pending events); returns how many were handed over."""
    first = bus.due(limit=1)
    if not first:
        return 0
    target = first[0].target
    batch = bus.due(limit=dispatch.BATCH_SIZE.get(target, dispatch.DEFAULT_BATCH_SIZE))
    try:
        failed = dispatch.handle_batch(target, ports, [d.event for d in batch])
    except Exception as exc:  # a failure outside any one event: the whole batch is retried
        failed = {d.event.id: f"{type(exc).__name__}: {exc}" for d in batch}
    done = [d.id for d in batch if d.event.id not in failed]
    bus.mark_done(done)
    stats.delivered += len(done)
    stats.by_target[target] = stats.by_target.get(target, 0) + len(done)
    for delivery in batch:
        if delivery.event.id in failed:
            _fail(ports, bus, delivery, failed[delivery.event.id], stats)
    return len(batch)


def _fail(ports: Ports, bus: LocalBus, delivery: Delivery, error: str, stats: DeliveryStats) -> None:
    settings = ports.settings
    dead = bus.mark_failed(delivery, error, settings.max_attempts, settings.retry_base_seconds)
    if dead:
        stats.dead += 1
        log.error(
            "dead-lettered %s for %s after %d attempts: %s",
            delivery.event.detail_type,
            delivery.target,
            delivery.attempts + 1,
            error,
        )
    else:
        stats.retried += 1
        log.warning("retrying %s for %s: %s", delivery.event.detail_type, delivery.target, error)


def run_until_idle(
    ports: Ports, bus: LocalBus, should_stop: Callable[[], bool] = lambda: False, max_wait: float = 60.0
) -> DeliveryStats:
    """Deliver until nothing is pending (waiting out retry backoffs), or until should_stop()."""
    stats = DeliveryStats()
    while not should_stop():
        if deliver_once(ports, bus, stats):
            continue
        wait = bus.next_due_in()
        if wait is None:
            break
        time.sleep(min(wait, max_wait, 0.5))
    return stats
