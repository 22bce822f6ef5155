"""files: classify new objects, keep the arrival log, refuse a key whose content changed."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from adapters.content import content_digest
from adapters.ports import NoSuchObject, ObjectInfo, ObjectStore, Ports
from events import Envelope, Event, deterministic_id, new_event
from events.models import FileArrived, FileRejected
from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX
from services.files.keys import BadKey, check_layout, classify_key, is_data_key, normalize_key

SOURCE = "inventory.files"


class FileConflict(Exception):
    """Different content under a key that already holds a file."""


def upload(ports: Ports, key: str, data: bytes | Path) -> ObjectInfo:
    """Store a file under its key (the local runtime's `put`); the object store then announces it.

    Putting the same content again is harmless; different content under a used key is refused and
    reported with a FileRejected, and nothing is stored.
    """
    key = normalize_key(key)
    kind = classify_key(key)
    check_layout(key)
    etag, size = digest = content_digest(data)
    known = ports.table.file(key)
    existing = ports.objects.head(key) if known is None else None
    old_etag = known.etag if known is not None else (existing.etag if existing is not None else None)
    # On S3 the etag is not a SHA-256 (and not even an MD5 under SSE-KMS): compare the content itself.
    if old_etag is not None and old_etag != etag:
        if not _holds(ports, key, etag, size):
            ports.bus.publish([_conflict_event(key, kind, etag)])
            # A key is applied once; a correction is a new file, and the key's folder still dates it.
            folder, _, name = key.rpartition("/")
            stem, dot, suffix = name.rpartition(".")
            other = f"{folder}/{stem or suffix}_2{dot}{suffix if stem else ''}"
            raise FileConflict(
                f"{key} already holds different content; refused (nothing was applied). "
                f"To send a correction, store it under a new name, e.g. {other}"
            )
        # The same content is stored already. Storing it again would only cost an upload, and on S3 a
        # read by the files service (the new upload's etag differs under SSE-KMS) to find it a duplicate.
        stored = ports.objects.head(key)
        if stored is not None:
            return stored
    return ports.objects.put(key, data, digest)


def stored_not_recorded(objects: ObjectStore, recorded: Container[str]) -> list[ObjectInfo]:
    """Objects under the two prefixes that the ledger does not know yet, oldest first.

    They are stored but the files service has not seen them: they wait for `inventory process` (on AWS,
    for their S3 notification). This lists the bucket, which on S3 takes a request per 1000 objects.
    """
    waiting = []
    for prefix in (INVENTORY_PREFIX, THRESHOLDS_PREFIX):
        for info in objects.list(prefix):
            # A key the files service refuses (bad_key) is never recorded, and so not waiting either.
            if info.key not in recorded and is_data_key(info.key):
                waiting.append(info)
    return sorted(waiting, key=lambda i: (i.modified, i.key))


def _holds(ports: Ports, key: str, sha256: str, size: int) -> bool:
    """Whether the store already holds exactly this content under the key (read as a stream)."""
    existing = ports.objects.head(key)
    if existing is None or existing.size != size:
        return False
    return ports.objects.digest(key, existing.etag) == sha256


REPLACED_MESSAGE = (
    "another upload replaced this file before it was applied (an upload with other content is refused as a "
    "conflict), so nothing of it was applied: store the content you want under a new name"
)


GONE_BEFORE_READ = (
    "this upload was replaced or deleted before it could be read, so it was not applied; "
    "whatever the key holds now arrives on its own"
)


def stored_upload(ports: Ports, key: str, etag: str, digest: str) -> Callable[[], Iterator[bytes]] | None:
    """How to read the upload `etag` of `key`, or the same bytes stored again under another etag (the
    ledger's `digest` says so); None when the key now holds other content. Raises NoSuchObject when it
    holds nothing. The reads are conditional (ObjectChanged if another upload lands meanwhile)."""
    current = ports.objects.head(key)
    if current is None:
        raise NoSuchObject(key)
    if not holds_recorded(ports.objects, current, etag, digest):
        return None
    return lambda: ports.objects.stream(key, etag=current.etag)


def holds_recorded(objects: ObjectStore, current: ObjectInfo, etag: str, digest: str) -> bool:
    """Whether the stored object `current` is the recorded upload (`etag`), or the same bytes stored again
    under another etag, as another tool does under SSE-KMS: then its digest is the recorded one (read only
    when the etags differ; a ledger older than digests has none, and compares by etag alone)."""
    return current.etag == etag or (digest != "" and objects.digest(current.key, current.etag) == digest)


def handle(ports: Ports, event: Event) -> None:
    """An S3 'Object Created' notification (from EventBridge, or the local folder store)."""
    obj: dict[str, Any] = event.detail.get("object", {})
    raw_key = unquote_plus(str(obj.get("key", "")))  # S3 notifications URL-encode the key
    # S3 sends "etag"; moto sends "eTag".
    etag = str(obj.get("etag") or obj.get("eTag") or "").strip('"')
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
        # S3 may notify twice and moto gives every S3 event the same id: the identity is key + upload.
        if not ports.table.first_delivery("files", f"{key}\x1f{etag}"):
            return
        known = ports.table.file(key)
        if known is not None and known.etag == etag:
            digest = known.digest  # this very upload is in the ledger already (a retry): no need to read it
        else:
            # The content decides duplicate or conflict, not the etag: another tool re-uploading the same
            # bytes gets a new etag under SSE-KMS. So each upload the ledger does not hold is read once.
            found = ports.objects.digest(key, etag)
            if found is None:
                # Replaced or deleted since S3 announced it: this upload can no longer be read, so it is
                # never applied; say so (the replacement, if any, is announced on its own).
                gone = FileRejected(key=key, kind=kind, reason="replaced", message=GONE_BEFORE_READ)
                ports.bus.publish([new_event(gone, source=SOURCE, id_parts=(key, etag, "replaced"))])
                return
            digest = found
        arrival = ports.table.record_arrival(key, kind, etag, size, event.time, digest=digest)
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
    return Envelope(  # populate_by_name: field names are accepted (no pydantic mypy plugin)
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
