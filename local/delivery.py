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


# How long a one-shot command (process, replay, validate, demo) waits for a retry before it leaves the
# rest to the next run or to `serve`. The backoff itself is long (INVENTORY_RETRY_BASE_SECONDS doubling,
# up to INVENTORY_MAX_ATTEMPTS tries, about 8.5 minutes by default) so that `serve` rides out a mail
# server's restart or greylisting instead of dead-lettering the alerts in seconds.
ONE_SHOT_PATIENCE_SECONDS = 10.0


@dataclass
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    by_target: dict[str, int] = field(default_factory=dict)
    # Left for a later retry because the next one was further away than the caller's patience.
    waiting: int = 0
    next_retry_in: float | None = None
    last_error: str | None = None


def deliver_once(ports: Ports, bus: LocalBus, stats: DeliveryStats) -> int:
    """Deliver one batch (the oldest due target's pending events); returns how many were handed over."""
    target = bus.next_target()
    if target is None:
        return 0
    batch = bus.due(limit=dispatch.BATCH_SIZE.get(target, dispatch.DEFAULT_BATCH_SIZE), target=target)
    if not batch:
        return 0
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
    ports: Ports,
    bus: LocalBus,
    should_stop: Callable[[], bool] = lambda: False,
    max_wait: float = 60.0,
    patience: float | None = None,
) -> DeliveryStats:
    """Deliver until nothing is pending (waiting out retry backoffs), or until should_stop(), or until the
    next retry is more than `patience` seconds away (then `stats.waiting` says how many are left)."""
    stats = DeliveryStats()
    while not should_stop():
        if deliver_once(ports, bus, stats):
            continue
        wait = bus.next_due_in()
        if wait is None:
            break
        if patience is not None and wait > patience:
            stats.waiting, stats.last_error = bus.waiting()
            stats.next_retry_in = wait
            break
        time.sleep(min(wait, max_wait, 0.5))
    return stats


def deliveries(n: int) -> str:
    return f"{n} delivery" if n == 1 else f"{n} deliveries"


def left_waiting(stats: DeliveryStats) -> str | None:
    """The one line a one-shot command ends with when deliveries still wait for a retry."""
    if not stats.waiting:
        return None
    error = (stats.last_error or "").splitlines()[0][:200] if stats.last_error else "unknown"
    verb = "waits" if stats.waiting == 1 else "wait"
    return (
        f"{deliveries(stats.waiting)} {verb} for a retry in {stats.next_retry_in or 0:.0f} s (last error: {error}); "
        "run `inventory process` again after that, or keep `inventory serve` running"
    )
