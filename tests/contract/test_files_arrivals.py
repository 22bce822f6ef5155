"""The files service on either runtime: what decides duplicate or conflict is the content, not the upload.

On AWS the bucket is SSE-KMS, where every upload gets its own ETag, the same bytes included; the AWS
backend's moto makes ETags the same way (tests.aws_support.per_upload_etags). Another tool (`aws s3 cp`)
storing a file again is simulated by putting through the object store port, which bypasses `inventory
put`'s own check, and handing the files service the notification S3 sends.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from adapters.ports import ObjectInfo
from events import Envelope, deterministic_id, new_event
from events.models import FileArrived
from services.files import logic as files
from services.ingest import logic as ingest
from services.reports.sql import select_files
from tests.contract.conftest import Backend

KEY = "inventory_files/2021/02/15/20210215120000_inventory.csv"
T0 = datetime(2021, 2, 15, 12, 0, tzinfo=UTC)
ROWS = (
    b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
    b"2021-02-15T12:00:00.000+01:00\tBerlin 1\ta123v5\ttecRacer T-Shirt\t12\n"
    b"2021-02-15T12:00:01.000+01:00\tBerlin 1\td23x56\tSticker\t4\n"
)
CHANGED = ROWS.replace(b"\t12\n", b"\t99\n")


def upload_by_another_tool(backend: Backend, data: bytes) -> tuple[ObjectInfo, Envelope]:
    """The object stored as `aws s3 cp` stores it, and the notification S3 then sends."""
    info = backend.ports.objects.put(KEY, data)
    return info, files.object_created_event(backend.ports.objects.bucket, info)


def files_events(backend: Backend, etags: list[str]) -> list[str]:
    """Which of the events the files service could have sent about these uploads reached the bus."""
    delivered = set(backend.delivered())
    names = {deterministic_id("FileArrived", KEY, e): f"arrived {e}" for e in etags}
    names |= {deterministic_id("FileRejected", KEY, e, "conflict"): f"conflict {e}" for e in etags}
    return sorted(name for event_id, name in names.items() if event_id in delivered)


def levels(backend: Backend) -> dict[str, int]:
    return {r.item_id: r.level for r in backend.ports.table.warehouse_items("Berlin 1")}


def test_given_an_applied_file_when_another_tool_uploads_the_same_bytes_again_then_it_is_a_duplicate(
    backend: Backend,
) -> None:
    ports = backend.ports
    # GIVEN a file that arrived and was applied
    first, notified = upload_by_another_tool(backend, ROWS)
    files.handle(ports, notified)
    record = ports.table.file(KEY)
    assert record is not None and record.digest == hashlib.sha256(ROWS).hexdigest()
    arrived = FileArrived(
        key=KEY, kind="inventory", etag=first.etag, size=first.size, arrived_at=T0, sequence=record.sequence
    )
    ingest.handle(ports, new_event(arrived, source=files.SOURCE, id_parts=(KEY, first.etag)))
    assert levels(backend) == {"a123v5": 12, "d23x56": 4}

    # WHEN the same bytes are uploaded again, S3 notifies twice, and the first notification is replayed
    again, renotified = upload_by_another_tool(backend, ROWS)
    files.handle(ports, renotified)
    files.handle(ports, renotified)
    files.handle(ports, notified)

    # THEN nothing is refused or announced again, no number changed, and SQL still reads the file
    assert files_events(backend, [first.etag, again.etag]) == [f"arrived {first.etag}"]
    assert levels(backend) == {"a123v5": 12, "d23x56": 4}
    record = ports.table.file(KEY)
    assert record is not None and (record.status, record.etag) == ("applied", first.etag)
    selection = select_files(ports.objects, ports.table)
    assert ([i.key for i in selection.applied], selection.changed) == ([KEY], 0)

    # WHEN different content is then uploaded under the key
    changed, changed_notice = upload_by_another_tool(backend, CHANGED)
    files.handle(ports, changed_notice)

    # THEN that is still a conflict: refused, not applied, and left out of SQL
    assert files_events(backend, [first.etag, again.etag, changed.etag]) == [
        f"arrived {first.etag}",
        f"conflict {changed.etag}",
    ]
    assert levels(backend) == {"a123v5": 12, "d23x56": 4}
    selection = select_files(ports.objects, ports.table)
    assert (selection.applied, selection.changed) == ([], 1)


def test_given_a_notification_for_an_upload_already_replaced_then_only_the_replacement_arrives(
    backend: Backend,
) -> None:
    ports = backend.ports
    # GIVEN two uploads under a new key whose notifications are handled only after both were stored
    replaced, replaced_notice = upload_by_another_tool(backend, CHANGED)
    current, current_notice = upload_by_another_tool(backend, ROWS)
    # WHEN the older notification comes first
    files.handle(ports, replaced_notice)
    files.handle(ports, current_notice)
    # THEN the ledger holds the content the key holds: the replaced upload is never recorded nor refused
    record = ports.table.file(KEY)
    assert record is not None and (record.etag, record.digest) == (current.etag, hashlib.sha256(ROWS).hexdigest())
    assert files_events(backend, [replaced.etag, current.etag]) == [f"arrived {current.etag}"]
    # AND the upload that could not be read is reported, not dropped in silence (once, whatever the retries)
    files.handle(ports, replaced_notice)
    assert deterministic_id("FileRejected", KEY, replaced.etag, "replaced") in set(backend.delivered())


def announce(backend: Backend) -> tuple[ObjectInfo, Envelope]:
    """A file stored and announced (FileArrived), not yet handled by ingest."""
    info, notice = upload_by_another_tool(backend, ROWS)
    files.handle(backend.ports, notice)
    record = backend.ports.table.file(KEY)
    assert record is not None
    arrived = FileArrived(
        key=KEY, kind="inventory", etag=info.etag, size=info.size, arrived_at=T0, sequence=record.sequence
    )
    return info, new_event(arrived, source=files.SOURCE, id_parts=(KEY, info.etag))


def test_given_a_file_replaced_by_other_content_before_ingest_then_neither_is_applied_and_it_says_so(
    backend: Backend,
) -> None:
    ports = backend.ports
    # GIVEN a file announced but not yet applied
    _, arrived = announce(backend)
    # WHEN another tool stores different content under the key (refused as a conflict) before ingest runs
    changed, changed_notice = upload_by_another_tool(backend, CHANGED)
    files.handle(ports, changed_notice)
    ingest.handle(ports, arrived)
    ingest.handle(ports, arrived)  # and the event comes twice
    # THEN the refused content is not applied under the first file's name, nor anything else
    assert levels(backend) == {}
    record = ports.table.file(KEY)
    assert record is not None and (record.status, record.reason) == ("rejected", "replaced")
    assert "store the content you want under a new name" in record.message
    # AND purchasing hears of both: the conflict and why the first file was not applied
    delivered = set(backend.delivered())
    assert deterministic_id("FileRejected", KEY, changed.etag, "conflict") in delivered
    assert deterministic_id("FileRejected", KEY, "replaced") in delivered


def test_given_the_same_bytes_stored_again_before_ingest_then_the_file_is_applied_once(backend: Backend) -> None:
    ports = backend.ports
    # GIVEN a file announced but not yet applied
    _, arrived = announce(backend)
    # WHEN another tool stores the same bytes again (a new etag on S3) before ingest runs
    _, again_notice = upload_by_another_tool(backend, ROWS)
    files.handle(ports, again_notice)
    ingest.handle(ports, arrived)
    # THEN the file is applied, once
    assert levels(backend) == {"a123v5": 12, "d23x56": 4}
    record = ports.table.file(KEY)
    assert record is not None and record.status == "applied"
