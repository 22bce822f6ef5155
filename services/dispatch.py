"""Hand a batch of events to a service: the same entry for the local bus and the Lambda handlers."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from adapters.ports import Ports
from events import Event

# How many events a target takes at once (SQS batch size on AWS). notify takes many, so one file's
# alerts become one digest; the others take few, because a StockChanged batch can be ~200 KB.
BATCH_SIZE = {"notify": 1000}
DEFAULT_BATCH_SIZE = 10


def handle_batch(target: str, ports: Ports, events: Sequence[Event]) -> dict[str, str]:
    """Process events in order; returns the ones that failed, id -> error, for a retry."""
    with collector_paused():
        return _handle_batch(target, ports, events)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration of one batch.

    A batch allocates hundreds of thousands of objects that live until it ends (a 1M-row file's pairs,
    a StockChanged batch's dicts and models), and the collector's passes over them cost ~0.3 s per such
    file while finding nothing to free: they hold no reference cycles. Reference counting still frees
    everything as usual; cycles made meanwhile wait for the next collection after the batch.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _handle_batch(target: str, ports: Ports, events: Sequence[Event]) -> dict[str, str]:
    module = importlib.import_module(f"services.{target}.logic")
    batch_handler = getattr(module, "handle_batch", None)
    if batch_handler is not None:
        failed: dict[str, str] = batch_handler(ports, events)
        return failed
    return handle_each(module.handle, ports, events)


def handle_each(handle: Callable[[Ports, Event], None], ports: Ports, events: Sequence[Event]) -> dict[str, str]:
    """Each event on its own, in order; returns the ones that failed, id -> error."""
    failed: dict[str, str] = {}
    for event in events:
        try:
            handle(ports, event)
        except Exception as exc:
            failed[event.id] = f"{type(exc).__name__}: {exc}"
    return failed
