"""The object store, bus and mailer contracts, run against the local adapters and AWS (moto)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.ports import Mail, NoSuchObject, ObjectInfo
from events import new_event
from events.models import ThresholdChange
from tests.contract.conftest import Backend, InjectedCrash


def test_object_store_round_trip(backend: Backend, tmp_path: Path) -> None:
    objects = backend.ports.objects
    data = b"Timestamp\tWarehouseName\n" + b"x" * 3_000_000
    # WHEN an object is stored
    info = objects.put("inventory_files/2021/02/15/20210215120000_inventory.csv", data)
    # THEN head, read, stream and list agree on it, and the etag is a bare token
    assert info.size == len(data) and '"' not in info.etag and info.etag
    assert objects.head(info.key) == info
    assert objects.read(info.key) == data
    chunks = list(objects.stream(info.key))
    assert b"".join(chunks) == data and len(chunks) > 1
    assert [o.key for o in objects.list("inventory_files/2021/")] == [info.key]
    assert list(objects.list("restock_thresholds/")) == []
    # AND the same content stored again has the same digest, whatever its etag (under SSE-KMS S3 gives every
    # upload its own); missing objects are reported as such
    again = objects.put(info.key, data)
    assert objects.digest(info.key, again.etag) == hashlib.sha256(data).hexdigest()
    # AND a file stored with its digest already known (put's caller hashed it) is the same object
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    known = objects.put(info.key, path, (hashlib.sha256(data).hexdigest(), len(data)))
    assert objects.read(info.key) == data and known.size == len(data)
    assert objects.digest(info.key, known.etag) == hashlib.sha256(data).hexdigest()
    assert objects.head("inventory_files/missing.csv") is None
    with pytest.raises(NoSuchObject):
        objects.read("inventory_files/missing.csv")


def test_a_digest_belongs_to_the_upload_it_was_asked_for(backend: Backend) -> None:
    objects = backend.ports.objects
    key = "inventory_files/2021/02/15/20210215120000_inventory.csv"
    first = objects.put(key, b"first")
    # WHEN other content replaces the object
    second = objects.put(key, b"second")
    # THEN the digest is the new content's, asked by its etag, and there is none for the replaced upload
    assert objects.digest(key, second.etag) == hashlib.sha256(b"second").hexdigest()
    assert objects.digest(key, first.etag) is None
    assert objects.digest("inventory_files/missing.csv", first.etag) is None


def _event(n: int):
    return new_event(
        ThresholdChange(item_id=f"i{n}", old=1, new=2),
        source="inventory.thresholds",
        id_parts=("contract", n),
        time=datetime(2021, 2, 15, tzinfo=UTC),
    )


def test_events_published_in_a_transaction_are_delivered_on_commit_only(backend: Backend) -> None:
    table, bus = backend.ports.table, backend.ports.bus
    # WHEN one transaction commits with 12 events and another fails after publishing one
    committed = [_event(n) for n in range(12)]
    with table.transaction():
        bus.publish(committed)
    with pytest.raises(InjectedCrash), table.transaction():
        bus.publish([_event(99)])
        raise InjectedCrash("after publishing")
    # THEN exactly the committed events reached the bus, with the ids they were given
    assert sorted(backend.delivered()) == sorted(e.id for e in committed)


def test_a_mail_has_text_and_html(backend: Backend) -> None:
    mail = Mail(
        message_id="digest.1@inventory.local",
        subject="Restock: 2 items",
        text="a1 is at 3 (threshold 10)",
        html="<p>a1 is at <b>3</b></p>",
        to=("purchasing@example.com",),
        sender="inventory@example.com",
    )
    # WHEN it is sent
    where = backend.ports.mailer.send(mail)
    # THEN one MIME message with both alternatives went out
    assert where
    [sent] = backend.mails()
    assert sent["Subject"] == "Restock: 2 items"
    assert sent["Message-ID"] == "<digest.1@inventory.local>"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in sent.walk() if not p.is_multipart()}
    assert parts["text/plain"] == (mail.text + "\n").encode()
    assert parts["text/html"] == (mail.html + "\n").encode()


def test_putting_the_same_content_again_never_rewrites_a_stored_object(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.files.logic import upload

    key = "inventory_files/2021/02/15/20210215120000_inventory.csv"
    data = b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tW\ta\tA\t1\n"
    first = upload(backend.ports, key, data)
    writes: list[str] = []
    put = backend.ports.objects.put

    def counted_put(k: str, d: bytes, digest: tuple[str, int] | None = None) -> ObjectInfo:
        writes.append(k)
        return put(k, d, digest)

    monkeypatch.setattr(backend.ports.objects, "put", counted_put)
    # WHEN the same file is put again
    again = upload(backend.ports, key, data)
    # THEN on S3, whose etags are not content hashes (under SSE-KMS each upload gets its own), the object is
    # left alone so the files service never mistakes it for new content; locally, where the etag is the
    # content's hash, storing it again changes nothing
    assert again.etag == first.etag
    assert writes == ([] if backend.name == "aws" else [key])
