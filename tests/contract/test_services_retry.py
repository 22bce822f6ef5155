"""Services on either runtime: a crash between the state change and its events loses nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Literal

import pytest

from adapters.content import content_digest
from events import Envelope, new_event
from events.envelope import new_raw_event
from events.models import FileArrived
from services.alerts import logic as alerts
from services.ingest import logic as ingest
from services.sweep import logic as sweep
from services.thresholds import logic as thresholds
from tests.contract.conftest import Backend, InjectedCrash

T0 = datetime(2021, 2, 15, 12, 0, tzinfo=UTC)
ROWS = (
    "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
    "2021-02-15T12:00:00.000+01:00\tBerlin 1\ta123v5\ttecRacer T-Shirt\t12\n"
    "2021-02-15T12:00:01.000+01:00\tBerlin 1\td23x56\tSticker\t4\n"
    "2021-02-15T12:00:02.000+01:00\tBerlin 1\td23x56\tSticker\tfive\n"
)


def _arrived(backend: Backend, key: str, data: bytes, kind: Literal["inventory", "thresholds"]) -> Envelope:
    info = backend.ports.objects.put(key, data)
    arrival = backend.ports.table.record_arrival(key, kind, info.etag, info.size, T0, digest=content_digest(data)[0])
    detail = FileArrived(key=key, kind=kind, etag=info.etag, size=info.size, arrived_at=T0, sequence=arrival.sequence)
    return new_event(detail, source="inventory.files", id_parts=(key, info.etag), time=T0)


def test_an_inventory_file_whose_events_were_not_published_is_redone_on_retry(backend: Backend) -> None:
    # GIVEN an inventory file with a bad row, announced by a FileArrived
    event = _arrived(backend, "inventory_files/2021/02/15/20210215120000_inventory.csv", ROWS.encode(), "inventory")
    # WHEN ingest's first attempt cannot publish its events, and the retry can
    with backend.crash_on_publish(), pytest.raises(InjectedCrash):
        ingest.handle(backend.ports, event)
    ingest.handle(backend.ports, event)
    ingest.handle(backend.ports, event)  # and a duplicate delivery after that
    # THEN levels count the file once, and its StockChanged and FileRejected were published once each
    table = backend.ports.table
    assert {r.item_id: r.level for r in table.warehouse_items("Berlin 1")} == {"a123v5": 12, "d23x56": 4}
    delivered = backend.delivered()
    assert len(delivered) == len(set(delivered)) == 2
    record = table.file(event.detail["key"])
    assert record is not None and (record.status, record.good_rows, record.bad_rows) == ("applied", 2, 1)
    assert [b.line for b in table.bad_rows(event.detail["key"])] == [4]


def test_a_threshold_change_whose_alerts_were_not_published_alerts_on_retry(backend: Backend) -> None:
    # GIVEN stock of 12 and 4 (the second already below the default 10), then a file raising both thresholds
    stock = _arrived(backend, "inventory_files/2021/02/15/20210215120000_inventory.csv", ROWS.encode(), "inventory")
    ingest.handle(backend.ports, stock)
    body = {
        "ThresholdList": [
            {"ItemId": "a123v5", "RestockIfBelow": 20},
            {"ItemId": "d23x56", "RestockIfBelow": 30},
        ]
    }
    raised = _arrived(
        backend,
        "restock_thresholds/2021/02/16/restock_thresholds.json",
        json.dumps(body).encode(),
        "thresholds",
    )
    with backend.ports.table.transaction():
        backend.ports.table.first_delivery("thresholds", raised.id)
        changes = backend.ports.table.set_thresholds(raised.detail["key"], {"a123v5": 20, "d23x56": 30})
    [updated] = thresholds.updated_events(raised.detail["key"], changes or [], 10)
    # WHEN the sweep's first attempt cannot publish, and the retry can
    before = Counter(backend.delivered())
    with backend.crash_on_publish(), pytest.raises(InjectedCrash):
        sweep.handle(backend.ports, updated)
    sweep.handle(backend.ports, updated)
    # THEN exactly one alert went out: the pair that crossed (a123v5 at 12 < 20), not the one already below
    new = Counter(backend.delivered()) - before
    assert sum(new.values()) == 1
    assert [(r.item_id, r.threshold) for r in backend.ports.table.restock_list()] == [
        ("a123v5", 20),
        ("d23x56", 30),
    ]


def test_a_changed_default_whose_event_was_not_published_is_seen_again_and_alerts_once(backend: Backend) -> None:
    # GIVEN stock of 12 and 4 under the default 10 (4 already below)
    stock = _arrived(backend, "inventory_files/2021/02/15/20210215120000_inventory.csv", ROWS.encode(), "inventory")
    ingest.handle(backend.ports, stock)
    assert thresholds.apply_default_threshold(backend.ports) == []  # 10 is recorded (AWS: a first deploy)
    # WHEN the default becomes 20, and the first attempt to announce it cannot publish
    backend.ports.table.default_threshold = 20
    before = Counter(backend.delivered())
    with backend.crash_on_publish(), pytest.raises(InjectedCrash):
        thresholds.apply_default_threshold(backend.ports)
    [announced] = thresholds.apply_default_threshold(backend.ports)
    assert thresholds.apply_default_threshold(backend.ports) == []  # and once more: nothing new
    # THEN one ThresholdsUpdated went out, saying the default changed from 10
    assert Counter(backend.delivered()) - before == Counter([announced.id])
    assert (announced.detail["default_changed_from"], announced.detail["default_threshold"]) == (10, 20)
    # AND a sweep still running with the old default refuses it (retried), the right one alerts once:
    # the pair that crossed, not the one already below
    backend.ports.table.default_threshold = 10
    with pytest.raises(sweep.StaleDefault):
        sweep.handle(backend.ports, announced)
    backend.ports.table.default_threshold = 20
    sweep.handle(backend.ports, announced)
    sweep.handle(backend.ports, announced)
    assert sum((Counter(backend.delivered()) - before).values()) == 2
    assert [(r.item_id, r.threshold) for r in backend.ports.table.restock_list()] == [
        ("a123v5", 20),
        ("d23x56", 20),
    ]


def test_a_superseded_default_change_is_skipped_quietly_by_the_sweep(backend: Backend) -> None:
    # GIVEN stock of 12 and 4 under the default 10
    stock = _arrived(backend, "inventory_files/2021/02/15/20210215120000_inventory.csv", ROWS.encode(), "inventory")
    ingest.handle(backend.ports, stock)
    assert thresholds.apply_default_threshold(backend.ports) == []
    # WHEN the default goes to 20 and back to 10 before the first change is swept
    backend.ports.table.default_threshold = 20
    [to_20] = thresholds.apply_default_threshold(backend.ports)
    backend.ports.table.default_threshold = 10
    [back_to_10] = thresholds.apply_default_threshold(backend.ports)
    before = Counter(backend.delivered())
    # THEN the state follows 10, the change to 20 is acknowledged without a retry or an alert (a later
    # change has its own sweep), and the change back to 10 sweeps as usual
    assert backend.ports.table.recorded_default_threshold() == 10
    sweep.handle(backend.ports, to_20)
    sweep.handle(backend.ports, back_to_10)
    assert Counter(backend.delivered()) - before == Counter()
    assert [(r.item_id, r.threshold) for r in backend.ports.table.restock_list()] == [("d23x56", 10)]


def _stock_changed(n: int, pairs: list[dict[str, object]], batch: int = 1) -> Envelope:
    detail = {"file_key": f"inventory_files/2021/02/15/2021021512000{n}_inventory.csv", "batch": batch, "batches": 1}
    return new_raw_event("StockChanged", {**detail, "pairs": pairs}, source="inventory.ingest", id_parts=(n,), time=T0)


def _pair(item: str, level: int) -> dict[str, object]:
    return {
        "warehouse": "Berlin 1",
        "item_id": item,
        "item_name": item,
        "change": level,
        "level": level,
        "threshold": 10,
        "was_below": False,
    }


def test_an_alerts_batch_with_an_event_it_cannot_handle_still_alerts_for_the_others(backend: Backend) -> None:
    # GIVEN a delivery batch: two StockChanged with a pair falling below, one that breaks the contract,
    # and the first again (a duplicate delivery)
    first, broken, third = (
        _stock_changed(1, [_pair("a1", 3)]),
        _stock_changed(2, [], batch=0),
        _stock_changed(3, [_pair("b2", 1), _pair("c3", 50)]),
    )
    # WHEN alerts takes the batch, and later the same batch again
    failed = alerts.handle_batch(backend.ports, [first, broken, third, first])
    again = alerts.handle_batch(backend.ports, [first, broken, third])
    # THEN only the broken event failed (both times), and each fall below was alerted once
    assert list(failed) == list(again) == [broken.id]
    assert "batch" in failed[broken.id]
    delivered = backend.delivered()
    assert len(delivered) == len(set(delivered)) == 2
