"""Hand a batch of events to a service: the same entry for the local bus and the Lambda handlers."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from adapters.ports import Ports
from events import Envelope

# How many events a target takes at once (SQS batch size on AWS). notify takes many, so one file's
# alerts become one digest; the others take few, because a StockChanged batch can be ~200 KB.
BATCH_SIZE = {"notify": 1000}
DEFAULT_BATCH_SIZE = 10


def handle_batch(target: str, ports: Ports, events: Sequence[Envelope]) -> dict[str, str]:
    """Process events in order; returns the ones that failed, id -> error, for a retry."""
    module = importlib.import_module(f"services.{target}.logic")
    batch_handler = getattr(module, "handle_batch", None)
    if batch_handler is not None:
        failed: dict[str, str] = batch_handler(ports, events)
        return failed
    failed = {}
    for event in events:
        try:
            module.handle(ports, event)
        except Exception as exc:
            failed[event.id] = f"{type(exc).__name__}: {exc}"
    return failed
