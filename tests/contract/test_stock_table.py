"""The stock table's contract, run against SQLite and DynamoDB (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.limits import MAX_NAME_BYTES, MAX_NAME_CHARS
from adapters.ports import BadRowRecord, DefaultChange, FileStats, PairDelta, StockTable, to_micros
from services.ingest.parsing import sum_inventory
from tests.contract.conftest import Backend, InjectedCrash

T0 = datetime(2021, 2, 15, 12, 0, tzinfo=UTC)
# Names a key encoding must survive: '#', spaces, unicode, a prefix of another name.
ODD_WAREHOUSE = "Köln #1 / Süd"
ODD_ITEM = "a#1 ☕"


def delta(warehouse: str, item: str, change: int, name: str = "", minutes: int = 0) -> PairDelta:
    return PairDelta(warehouse, item, name or f"name of {item}", to_micros(T0 + timedelta(minutes=minutes)), change)


def arrive(table: StockTable, key: str, etag: str = "e1", kind: str = "inventory") -> None:
    table.record_arrival(key, kind, etag, 10, T0, digest=f"sha256 of {etag}")


def apply(table: StockTable, key: str, deltas: list[PairDelta], bad: list[BadRowRecord] | None = None):
    arrive(table, key)
    stats = FileStats(good_rows=len(deltas), bad_rows=len(bad or []), applied_total=sum(d.change for d in deltas))
    with table.transaction():
        return table.apply_file(key, deltas, bad or [], stats)


def levels(table: StockTable, warehouse: str) -> dict[str, int]:
    return {r.item_id: r.level for r in table.warehouse_items(warehouse)}


def test_a_file_is_applied_once(backend: Backend) -> None:
    # GIVEN a file with two pairs in one warehouse
    table = backend.ports.table
    deltas = [delta("Berlin 1", "a1", 30), delta("Berlin 1", "b2", 5)]
    # WHEN it is applied twice
    first = apply(table, "inventory_files/f1.csv", deltas)
    second = apply(table, "inventory_files/f1.csv", deltas)
    # THEN the first returns each pair's outcome, the second None, and levels count the file once
    assert first is not None
    assert [(o.item_id, o.level, o.threshold, o.was_below, o.is_below) for o in first] == [
        ("a1", 30, 10, False, False),
        ("b2", 5, 10, False, True),
    ]
    assert second is None
    assert levels(table, "Berlin 1") == {"a1": 30, "b2": 5}
    record = table.file("inventory_files/f1.csv")
    assert record is not None
    assert (record.status, record.good_rows, record.applied_total) == ("applied", 2, 35)


def test_levels_sum_every_file_and_the_newest_name_wins(backend: Backend) -> None:
    # GIVEN two files touching the same pair, the second carrying an older name
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", [delta("Berlin 1", "a1", 30, "New name", minutes=10)])
    # WHEN the second file (older rows, arriving late) is applied
    outcomes = apply(table, "inventory_files/f2.csv", [delta("Berlin 1", "a1", -25, "Old name", minutes=1)])
    # THEN the level is the sum, the pair was not below before, and the newer name stays
    assert outcomes is not None
    assert [(o.level, o.was_below, o.item_name) for o in outcomes] == [(5, False, "New name")]
    assert table.warehouse_items("Berlin 1")[0].item_name == "New name"


def parsed(*rows: str) -> list[PairDelta]:
    """What ingest hands the table for a file of these rows (after the header)."""
    text = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n" + "\n".join(rows) + "\n"
    return sum_inventory([text.encode()]).pairs


def test_a_later_file_without_a_name_keeps_the_stored_name(backend: Backend) -> None:
    # GIVEN a pair named by one file
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", parsed("2021-02-15T09:00:00Z\tW\tb\tBanana\t5"))
    # WHEN later files carry newer rows for it whose ItemName is empty, one only those rows, one a
    # (defensive) delta that gives the empty name a real, newer time
    outcomes = apply(table, "inventory_files/f2.csv", parsed("2021-02-15T10:00:00Z\tW\tb\t\t-1"))
    again = apply(table, "inventory_files/f3.csv", [PairDelta("W", "b", "", to_micros(T0 + timedelta(days=1)), -1)])
    # THEN the levels count every row, and the name stays in the outcomes (alert mails) and the reports
    assert outcomes is not None and again is not None
    assert [(o.item_name, o.level) for o in [*outcomes, *again]] == [("Banana", 4), ("Banana", 3)]
    assert [(r.item_name, r.level) for r in table.warehouse_items("W")] == [("Banana", 3)]
    total = table.item_total("b")
    assert total is not None and total.item_name == "Banana"


def test_a_pair_first_seen_without_a_name_takes_the_first_real_name_even_an_older_one(backend: Backend) -> None:
    # GIVEN a pair whose first file has no name for it
    table = backend.ports.table
    first = apply(table, "inventory_files/f1.csv", parsed("2021-02-15T10:00:00Z\tW\tc\t\t5"))
    assert first is not None and [o.item_name for o in first] == [""]
    # WHEN a file with older rows that do name it arrives late
    outcomes = apply(table, "inventory_files/f2.csv", parsed("2021-02-15T08:00:00Z\tW\tc\tCherry\t1"))
    # THEN the pair is named: a name always beats none
    assert outcomes is not None and [(o.item_name, o.level) for o in outcomes] == [("Cherry", 6)]
    assert [r.item_name for r in table.warehouse_items("W")] == ["Cherry"]


def test_a_crash_in_the_middle_of_a_file_is_repaired_by_the_retry(backend: Backend) -> None:
    # GIVEN a large file (more pairs than one DynamoDB transaction holds) and a clean copy of its outcome
    table = backend.ports.table
    deltas = [delta("Hamburg 2", f"item{n:04d}", n % 17 - 3) for n in range(250)]
    bad = [BadRowRecord("inventory_files/big.csv", 7, "bad change", "x\ty")]
    arrive(table, "inventory_files/big.csv")
    stats = FileStats(good_rows=250, bad_rows=1, applied_total=sum(d.change for d in deltas))
    # WHEN the first attempt crashes after part of its writes
    with backend.crash_during_apply(), pytest.raises(InjectedCrash), table.transaction():
        table.apply_file("inventory_files/big.csv", deltas, bad, stats)
    # AND the retry runs to the end
    with table.transaction():
        outcomes = table.apply_file("inventory_files/big.csv", deltas, bad, stats)
    # THEN every change counts exactly once, and the outcomes are those of a single clean run
    assert outcomes is not None
    assert levels(table, "Hamburg 2") == {d.item_id: d.change for d in deltas}
    assert [(o.item_id, o.level, o.was_below) for o in outcomes] == [
        (d.item_id, d.change, False) for d in sorted(deltas, key=lambda d: d.item_id)
    ]
    assert table.bad_rows("inventory_files/big.csv") == bad
    record = table.file("inventory_files/big.csv")
    assert record is not None and record.status == "applied"


def test_outcomes_render_as_json_objects_of_their_fields(backend: Backend) -> None:
    # GIVEN pairs with names JSON must escape, one of them below its threshold before the file
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", [delta(ODD_WAREHOUSE, ODD_ITEM, 3, 'Tom "\\" Größe 🐘')])
    # WHEN a file changes it and adds another pair
    outcomes = apply(
        table, "inventory_files/f2.csv", [delta(ODD_WAREHOUSE, ODD_ITEM, 20), delta(ODD_WAREHOUSE, "b", -2, "Ünïcode")]
    )
    # THEN each outcome's JSON (what StockChanged carries) is its fields by name, in key order
    assert outcomes is not None
    texts = outcomes.as_json()
    assert "Ünïcode".encode() in texts[1]  # UTF-8, not \u escapes
    rendered = [json.loads(text) for text in texts]
    assert rendered == [o._asdict() for o in outcomes]
    assert [(r["item_id"], r["level"], r["was_below"]) for r in rendered] == [(ODD_ITEM, 23, True), ("b", -2, False)]


def test_thresholds_are_changes(backend: Backend) -> None:
    # GIVEN an item with its own threshold and one never listed
    table = backend.ports.table
    arrive(table, "restock_thresholds/t1.json", kind="thresholds")
    with table.transaction():
        first = table.set_thresholds("restock_thresholds/t1.json", {"a1": 25, "b2": 10})
    # WHEN a second file changes one listed item and leaves the other out
    arrive(table, "restock_thresholds/t2.json", kind="thresholds")
    with table.transaction():
        second = table.set_thresholds("restock_thresholds/t2.json", {"a1": 40})
        again = table.set_thresholds("restock_thresholds/t1.json", {"a1": 1})
    # THEN only real changes are reported, unlisted items keep theirs, the default applies elsewhere
    assert first == [("a1", 10, 25)]  # b2 got the default's value: no change
    assert second == [("a1", 25, 40)]
    assert again is None
    assert (table.threshold("a1"), table.threshold("b2"), table.threshold("never")) == (40, 10, 10)


def test_recheck_reports_the_state_before_and_stores_the_new_one(backend: Backend) -> None:
    # GIVEN a pair at 12 (above the default 10) in two warehouses
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", [delta("B", "a1", 12), delta("A", "a1", 50)])
    arrive(table, "restock_thresholds/t.json", kind="thresholds")
    with table.transaction():
        table.set_thresholds("restock_thresholds/t.json", {"a1": 20})
    # WHEN the item is re-checked against its new threshold, twice
    with table.transaction():
        first = table.recheck_item("a1")
    second = table.recheck_item("a1")
    # THEN the first sees the old state (not below), the second the stored one, and the restock list has it
    assert [(s.warehouse, s.level, s.was_below) for s in first] == [("A", 50, False), ("B", 12, False)]
    assert [(s.warehouse, s.was_below) for s in second] == [("A", False), ("B", True)]
    assert [(r.warehouse, r.item_id, r.threshold) for r in table.restock_list()] == [("B", "a1", 20)]


def test_a_recheck_in_a_failed_transaction_stores_nothing(backend: Backend) -> None:
    # GIVEN a pair that a new threshold puts below
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", [delta("A", "a1", 12)])
    arrive(table, "restock_thresholds/t.json", kind="thresholds")
    with table.transaction():
        table.set_thresholds("restock_thresholds/t.json", {"a1": 20})
    # WHEN the re-check's transaction fails
    with pytest.raises(InjectedCrash), table.transaction():
        table.recheck_item("a1")
        raise InjectedCrash("after the re-check")
    # THEN the retry still sees the pair as not below (so its alert is not lost)
    assert [s.was_below for s in table.recheck_item("a1")] == [False]


def test_reports(backend: Backend) -> None:
    # GIVEN pairs in two warehouses, one with awkward names
    table = backend.ports.table
    apply(
        table,
        "inventory_files/f1.csv",
        [
            delta(ODD_WAREHOUSE, ODD_ITEM, 7),
            delta(ODD_WAREHOUSE, "a", 11),
            delta(ODD_WAREHOUSE, "a#", 10),
            delta(ODD_WAREHOUSE, "b", 100),
            delta("Köln #1", "a", 3),
        ],
    )
    # THEN all items are in item order, 'level > y' is strict, and pages continue after an item
    assert [r.item_id for r in table.warehouse_items(ODD_WAREHOUSE)] == ["a", "a#", ODD_ITEM, "b"]
    assert [r.item_id for r in table.warehouse_items(ODD_WAREHOUSE, min_level=10)] == ["a", "b"]
    assert [r.item_id for r in table.warehouse_items(ODD_WAREHOUSE, after_item="a", limit=2)] == [
        "a#",
        ODD_ITEM,
    ]
    assert [r.item_id for r in table.warehouse_items(ODD_WAREHOUSE, min_level=5, after_item="a", limit=1)] == ["a#"]
    assert table.warehouse_items("Köln") == []
    assert table.warehouse_exists(ODD_WAREHOUSE) and not table.warehouse_exists("Köln")
    assert table.warehouses() == ["Köln #1", ODD_WAREHOUSE]
    total = table.item_total("a")
    assert total is not None
    assert (total.total, total.warehouses) == (14, [("Köln #1", 3), (ODD_WAREHOUSE, 11)])
    assert table.item_total("nothing") is None
    assert [(r.warehouse, r.item_id, r.level, r.below) for r in table.restock_list()] == [
        ("Köln #1", "a", 3, True),
        (ODD_WAREHOUSE, ODD_ITEM, 7, True),
    ]


def test_the_restock_list_pages_in_warehouse_then_item_order(backend: Backend) -> None:
    # GIVEN pairs below the default threshold in warehouses whose names are prefixes of one another
    # (a key that joined them with '#' would sort "A B" before "A", and "A#" between them)
    table = backend.ports.table
    pairs = [("A", "z"), ("A B", "a"), ("A#", "b"), ("A", "a"), ("Ä", "x"), ("A", "a b"), ("A", "a#")]
    apply(table, "inventory_files/f1.csv", [delta(w, i, 1) for w, i in pairs] + [delta("A", "full", 99)])
    expected = sorted(pairs)
    # WHEN the list is read whole, and in pages of 3 that continue after the last pair of the page before
    whole = [(r.warehouse, r.item_id) for r in table.restock_list()]
    pages: list[list[tuple[str, str]]] = []
    after: tuple[str, str] | None = None
    while not pages or len(pages[-1]) == 3:
        pages.append([(r.warehouse, r.item_id) for r in table.restock_list(after=after, limit=3)])
        after = pages[-1][-1] if pages[-1] else None
    # THEN both are every pair below, once, ordered by (warehouse, item id), and the pages join up
    assert whole == expected
    assert [p for page in pages for p in page] == expected
    assert [len(page) for page in pages] == [3, 3, 1]


def test_a_changed_default_threshold_is_recorded_once_and_applies_to_unlisted_items(backend: Backend) -> None:
    # GIVEN stock of three items, one of which has a threshold of its own
    table = backend.ports.table
    apply(table, "inventory_files/f1.csv", [delta("A", "a1", 15), delta("B", "a1", 3), delta("A", "b1", 50)])
    apply(table, "inventory_files/f2.csv", [delta("A", "c1", 1)])
    arrive(table, "restock_thresholds/t.json", kind="thresholds")
    with table.transaction():
        table.set_thresholds("restock_thresholds/t.json", {"b1": 20})
    # WHEN the default in force is first seen, seen again, then changed twice (the second time back)
    first, same = table.record_default_threshold(), table.record_default_threshold()
    table.default_threshold = 30
    with table.transaction():
        raised = table.record_default_threshold()
    after = table.record_default_threshold()
    table.default_threshold = 10
    lowered = table.record_default_threshold()
    # THEN the first sighting is recorded silently, each change comes once, and the default applies to
    # the items without a threshold of their own
    assert (first, same, after) == (None, None, None)
    assert raised == DefaultChange(old=10, new=30, generation=1)
    assert lowered == DefaultChange(old=30, new=10, generation=2)
    assert table.unlisted_items() == ["a1", "c1"]


def test_a_default_change_in_a_failed_transaction_is_seen_again(backend: Backend) -> None:
    table = backend.ports.table
    assert table.record_default_threshold() is None
    table.default_threshold = 30
    with pytest.raises(InjectedCrash), table.transaction():
        assert table.record_default_threshold() is not None
        raise InjectedCrash("before the sweep's event went out")
    # the retry sees the same change, so its event is not lost
    assert table.record_default_threshold() == DefaultChange(old=10, new=30, generation=1)


def test_the_ledger_keeps_arrival_order_duplicates_and_conflicts(backend: Backend) -> None:
    table = backend.ports.table
    # GIVEN three new files
    arrivals = [
        table.record_arrival(f"inventory_files/{n}.csv", "inventory", f"e{n}", 5, T0, digest=f"d{n}") for n in range(3)
    ]
    # WHEN one arrives again (the same upload), one is uploaded again with the same content (a new etag, as
    # S3 gives every upload under SSE-KMS), and one with different content
    duplicate = table.record_arrival("inventory_files/1.csv", "inventory", "e1", 5, T0, digest="d1")
    reupload = table.record_arrival("inventory_files/0.csv", "inventory", "e0-again", 5, T0, digest="d0")
    conflict = table.record_arrival("inventory_files/2.csv", "inventory", "other", 5, T0, digest="d-other")
    # THEN the new ones are numbered in order, and the repeats keep the first arrival's place and etag
    assert [(a.status, a.sequence) for a in arrivals] == [("new", 1), ("new", 2), ("new", 3)]
    assert (duplicate.status, duplicate.sequence, duplicate.etag) == ("duplicate", 2, "e1")
    assert (reupload.status, reupload.sequence, reupload.etag) == ("duplicate", 1, "e0")
    assert (conflict.status, conflict.sequence, conflict.etag) == ("conflict", 3, "e2")
    assert [(f.etag, f.digest) for f in table.files_since(0)] == [("e0", "d0"), ("e1", "d1"), ("e2", "d2")]
    assert [f.key for f in table.files_since(1)] == ["inventory_files/1.csv", "inventory_files/2.csv"]
    table.mark_rejected("inventory_files/0.csv", "unreadable", "header (line 1) lacks column(s): ItemId")
    record = table.file("inventory_files/0.csv")
    assert record is not None
    assert (record.status, record.reason, record.message) == (
        "rejected",
        "unreadable",
        "header (line 1) lacks column(s): ItemId",
    )
    assert [f.message for f in table.files_since(0)] == ["header (line 1) lacks column(s): ItemId", "", ""]
    assert table.file("inventory_files/none.csv") is None


def test_first_delivery_is_true_once_and_not_kept_by_a_failed_transaction(backend: Backend) -> None:
    table = backend.ports.table
    # GIVEN an event whose first handling fails
    with pytest.raises(InjectedCrash), table.transaction():
        assert table.first_delivery("ingest", "event-1")
        raise InjectedCrash("handler failed")
    # WHEN it is delivered again, and then once more
    with table.transaction():
        retry = table.first_delivery("ingest", "event-1")
        same_batch = table.first_delivery("ingest", "event-1")
    with table.transaction():
        later = table.first_delivery("ingest", "event-1")
    # THEN only the retry counts as first; another consumer still sees it as new
    assert (retry, same_batch, later) == (True, False, False)
    with table.transaction():
        assert table.first_delivery("alerts", "event-1")


def test_the_longest_names_ingest_accepts_are_stored_and_reported(backend: Backend) -> None:
    # GIVEN a pair whose warehouse and item id are at the byte limit (4-byte characters), and one at the
    # character limit: on DynamoDB the restock index's sort key holds both names and may be 1,024 bytes
    table = backend.ports.table
    wide = ("🏭" * (MAX_NAME_BYTES // 4), "📦" * (MAX_NAME_BYTES // 4))
    long = ("W" * MAX_NAME_CHARS, "i" * MAX_NAME_CHARS)
    # WHEN both drop below the default threshold
    apply(table, "inventory_files/f1.csv", [delta(*wide, 3), delta(*long, 4)])
    # THEN both are stored, reported and on the restock list
    assert [(r.warehouse, r.item_id, r.level) for r in table.restock_list()] == [(*long, 4), (*wide, 3)]
    assert levels(table, wide[0]) == {wide[1]: 3}
