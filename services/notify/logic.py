"""notify: turn alerts, rejections and validation summaries into mails for purchasing.

Alerts that arrive together (one file's crossings reach notify as one batch, locally and from SQS)
become one digest per (cause, file). A mail is sent once: the events it covers are marked in the
same transaction, and its Message-ID is derived from them, so a retry is recognisably the same mail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from adapters.ports import Mail, Ports
from events import Event
from events.models import BelowThreshold, FileRejected, ValidationCompleted
from services.notify.mail import rejected_mail, restock_digest, validation_mail

CONSUMER = "notify"


def handle_batch(ports: Ports, events: Sequence[Event]) -> dict[str, str]:
    """Returns the events that failed, id -> error (partial batch failure, as Powertools' BatchProcessor)."""
    groups: dict[tuple[str, ...], list[Event]] = defaultdict(list)
    for event in events:
        if event.detail_type == "BelowThreshold":
            groups[("alerts", event.detail["cause"], event.detail["file_key"])].append(event)
        elif event.detail_type == "FileRejected":
            groups[("rejected", event.detail["key"], event.detail["reason"])].append(event)
        else:
            groups[("single", event.id)].append(event)
    failed: dict[str, str] = {}
    for group in groups.values():
        try:
            send_once(ports, group)
        except Exception as exc:
            failed.update({e.id: f"{type(exc).__name__}: {exc}" for e in group})
    return failed


def send_once(ports: Ports, group: Sequence[Event]) -> str | None:
    with ports.table.transaction():
        fresh = [e for e in group if ports.table.first_delivery(CONSUMER, e.id)]
        if not fresh:
            return None
        mail = render(ports, fresh)
        return ports.mailer.send(mail) if mail else None


def render(ports: Ports, events: Sequence[Event]) -> Mail | None:
    ids = [e.id for e in events]
    kind = events[0].detail_type
    if kind == "BelowThreshold":
        return restock_digest(ports.settings, ids, [BelowThreshold.model_validate(e.detail) for e in events])
    if kind == "FileRejected":
        return rejected_mail(ports.settings, ids, [FileRejected.model_validate(e.detail) for e in events])
    if kind == "ValidationCompleted":
        return validation_mail(ports.settings, ids[0], ValidationCompleted.model_validate(events[0].detail))
    return None
