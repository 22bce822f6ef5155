"""files: classify new objects, keep the arrival log, refuse a key whose content changed."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote_plus

from adapters.ports import ObjectInfo, Ports
from events import Envelope, deterministic_id, new_event
from events.models import FileArrived, FileRejected
from services.files.keys import BadKey, classify_key, normalize_key

SOURCE = "inventory.files"


class FileConflict(Exception):
    """Different content under a key that already holds a file."""


def upload(ports: Ports, key: str, data: bytes) -> ObjectInfo:
    """Store a file under its key (the local runtime's `put`); the object store then announces it.

    Putting the same content again is harmless; different content under a used key is refused and
    reported with a FileRejected, and nothing is stored.
    """
    key = normalize_key(key)
    kind = classify_key(key)
    etag = hashlib.sha256(data).hexdigest()
    known = ports.table.file(key)
    existing = ports.objects.head(key) if known is None else None
    old_etag = known.etag if known is not None else (existing.etag if existing is not None else None)
    if old_etag is not None and old_etag != etag:
        ports.bus.publish([_conflict_event(key, kind, etag)])
        raise FileConflict(f"{key} already holds different content; refused (nothing was applied)")
    return ports.objects.put(key, data)


def handle(ports: Ports, event: Envelope) -> None:
    """An S3 'Object Created' notification (from EventBridge, or the local folder store)."""
    obj: dict[str, Any] = event.detail.get("object", {})
    raw_key = unquote_plus(str(obj.get("key", "")))  # S3 notifications URL-encode the key
    etag = str(obj.get("etag", "")).strip('"')
    size = int(obj.get("size", 0))
    try:
        key = normalize_key(raw_key)
        kind = classify_key(key)
    except BadKey as exc:
        ports.bus.publish(
            [
                new_event(
                    FileRejected(key=raw_key[:1024], kind="unknown", reason="bad_key", message=str(exc)),
                    source=SOURCE,
                    id_parts=(raw_key, etag, "bad_key"),
                )
            ]
        )
        return
    with ports.table.transaction():
        # S3 may notify twice and moto gives every S3 event the same id: the identity is key + content.
        if not ports.table.first_delivery("files", f"{key}\x1f{etag}"):
            return
        arrival = ports.table.record_arrival(key, kind, etag, size, event.time)
        if arrival.status == "new":
            detail = FileArrived(
                key=key, kind=kind, etag=etag, size=size, arrived_at=event.time, sequence=arrival.sequence
            )
            ports.bus.publish([new_event(detail, source=SOURCE, id_parts=(key, etag))])
        elif arrival.status == "conflict":
            ports.bus.publish([_conflict_event(key, kind, etag)])


def _conflict_event(key: str, kind: str, etag: str) -> Envelope:
    detail = FileRejected(
        key=key,
        kind=kind,
        reason="conflict",
        message="the key already holds a file with different content; the new content was not applied",
    )
    return new_event(detail, source=SOURCE, id_parts=(key, etag, "conflict"))


def object_created_event(bucket: str, info: ObjectInfo) -> Envelope:
    """The event S3 sends to EventBridge for a new object; the local folder store sends the same."""
    return Envelope(
        id=deterministic_id("s3", bucket, info.key, info.etag, info.modified.isoformat()),
        time=info.modified,
        source="aws.s3",
        detail_type="Object Created",
        detail={
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": info.key, "size": info.size, "etag": info.etag},
            "reason": "PutObject",
        },
    )
