"""Each finding kind on crafted files, through ingest and a validation run on the local runtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from services.ingest.parsing import Row
from tests.validator_support import day_key, put, runtime, tsv, validate
from validator import checks
from validator.checks import FindingRecord, TransactionChecks
from validator.report import findings_csv


def report(rt, summary) -> dict:
    return json.loads(rt.ports.objects.read(summary.report_key))


def kinds(rt, summary) -> list[tuple[str, str, int | None]]:
    return [(f["kind"], f["file_key"], f["line"]) for f in report(rt, summary)["findings_list"]]


def test_clean_files_have_no_findings(tmp_path):
    # GIVEN two consistent files
    rt = runtime(tmp_path)
    put(rt, day_key(15, "a_inventory.csv"), tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5"))
    put(rt, day_key(16, "b_inventory.csv"), tsv("2021-02-16T10:00:00Z|W1|i1|Mug|-5"))
    # WHEN the validator runs
    summary = validate(rt)
    # THEN it checked both, found nothing, and a rerun with nothing new checks 0
    assert (summary.files, summary.transactions, summary.findings) == (2, 2, 0)
    again = validate(rt)
    assert (again.files, again.transactions, again.findings) == (0, 0, 0)


def test_bad_rows_are_findings_with_line_and_reason(tmp_path):
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(
        rt,
        key,
        tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5", "not a time|W1|i1|Mug|1", "2021-02-15T11:00:00Z|W1|i1|Mug|x"),
    )
    summary = validate(rt)
    # bad rows count as transactions checked, and the ledger agrees with the file (no reconciliation finding)
    assert summary.transactions == 3
    assert summary.findings_by_kind == {"bad_row": 2}
    assert kinds(rt, summary) == [("bad_row", key, 3), ("bad_row", key, 4)]


def test_pair_going_negative_in_arrival_order_across_runs(tmp_path):
    # GIVEN +5 validated in one run, then -7 and -1 arriving later
    rt = runtime(tmp_path)
    put(rt, day_key(15, "a_inventory.csv"), tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5"))
    assert validate(rt).findings == 0
    later = day_key(16, "b_inventory.csv")
    put(rt, later, tsv("2021-02-16T10:00:00Z|W1|i1|Mug|-7", "2021-02-16T11:00:00Z|W1|i1|Mug|-1"))
    # WHEN the next run checks them
    summary = validate(rt)
    # THEN the crossing below zero is found once (the running level survived the first run)
    assert kinds(rt, summary) == [("negative_level", later, 2)]
    assert "goes to -2 (was 5)" in report(rt, summary)["findings_list"][0]["message"]


def test_same_item_with_another_name(tmp_path):
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(
        rt,
        key,
        tsv(
            "2021-02-15T10:00:00Z|W1|i1|Mug|5",
            "2021-02-15T10:01:00Z|W2|i1|Mug|5",
            "2021-02-15T10:02:00Z|W2|i1|Cup|5",
            "2021-02-15T10:03:00Z|W2|i1||5",  # an empty name says nothing
        ),
    )
    summary = validate(rt)
    assert kinds(rt, summary) == [("name_conflict", key, 4)]


def test_duplicate_transactions_across_files_not_within_one(tmp_path):
    # GIVEN a file with two identical rows, and a second file repeating one of them
    rt = runtime(tmp_path)
    row = "2021-02-15T10:00:00+01:00|W1|i1|Mug|1"
    put(rt, day_key(15, "a_inventory.csv"), tsv(row, row))
    second = day_key(15, "b_inventory.csv")
    put(rt, second, tsv("2021-02-15T12:00:00Z|W1|i1|Mug|1", "2021-02-15T09:00:00Z|W1|i1|Mug|1"))
    summary = validate(rt)
    # THEN only the row of the second file is a duplicate (same time in UTC, warehouse, item, change)
    assert kinds(rt, summary) == [("duplicate_transaction", second, 3)]


def test_timestamp_outside_the_files_date_in_every_utc_offset(tmp_path):
    # GIVEN a file dated the 15th with rows on the 15th in some offset, and rows on no offset's 15th
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(
        rt,
        key,
        tsv(
            "2021-02-15T00:00:00Z|W1|i1|Mug|1",
            "2021-02-15T23:59:59Z|W1|i1|Mug|1",
            "2021-02-14T10:00:00Z|W1|i1|Mug|1",  # the 15th's first second at +14:00
            "2021-02-16T11:59:59Z|W1|i1|Mug|1",  # the 15th's last second at -12:00
            "2021-02-14T09:59:59Z|W1|i1|Mug|1",  # the 14th everywhere
            "2021-02-16T12:00:00Z|W1|i1|Mug|1",  # the 16th everywhere
        ),
    )
    # WHEN the validator runs
    summary = validate(rt)
    # THEN only the rows that are on the 15th in no offset are found, and the message names the key's date
    assert kinds(rt, summary) == [
        ("timestamp_outside_file_date", key, 6),
        ("timestamp_outside_file_date", key, 7),
    ]
    assert "is not on 2021-02-15" in report(rt, summary)["findings_list"][0]["message"]


def test_a_local_time_just_after_midnight_east_of_utc_is_on_the_files_date(tmp_path):
    # GIVEN a file dated the 15th with a row at 00:30 local time (+01:00): 23:30 UTC on the 14th
    rt = runtime(tmp_path)
    put(rt, day_key(15, "a_inventory.csv"), tsv("2021-02-15T00:30:00+01:00|W1|i1|Mug|1"))
    # WHEN the validator runs
    summary = validate(rt)
    # THEN the row is on the file's date (as the warehouse wrote it): no finding
    assert (summary.transactions, summary.findings) == (1, 0)


def test_a_timestamp_two_days_off_the_files_date_is_still_found(tmp_path):
    # GIVEN a file dated the 15th with a row written on the 17th in its own offset
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(rt, key, tsv("2021-02-17T00:30:00+01:00|W1|i1|Mug|1"))
    # WHEN the validator runs
    summary = validate(rt)
    # THEN it is a finding
    assert kinds(rt, summary) == [("timestamp_outside_file_date", key, 2)]


def test_files_dated_at_the_calendars_ends_are_checked_without_overflow(tmp_path):
    # GIVEN files whose keys are dated 0001-01-01 and 9999-12-31 (the offset window runs off the calendar)
    rt = runtime(tmp_path)
    first = "inventory_files/0001/01/01/a_inventory.csv"
    last = "inventory_files/9999/12/31/b_inventory.csv"
    put(rt, first, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|1"))
    put(rt, last, tsv("9999-12-31T10:00:00Z|W1|i1|Mug|1"))
    # WHEN the validator runs
    summary = validate(rt)
    # THEN it completes: the row of 2021 is outside year 1, the row on the 31st is fine
    assert kinds(rt, summary) == [("timestamp_outside_file_date", first, 2)]


def test_reconciliation_against_the_ledger(tmp_path):
    # GIVEN one file whose ledger total was tampered with, and one that was never applied (ingest stuck)
    rt = runtime(tmp_path)
    tampered = day_key(15, "a_inventory.csv")
    put(rt, tampered, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5", "2021-02-15T11:00:00Z|W1|i1|Mug|2"))
    rt.db.conn.execute("UPDATE files SET applied_total = 99 WHERE key = ?", (tampered,))
    stuck = day_key(15, "b_inventory.csv")
    put(rt, stuck, tsv("2021-02-15T12:00:00Z|W1|i1|Mug|1"), process=False)
    from local.delivery import DeliveryStats, deliver_once

    deliver_once(rt.ports, rt.bus, DeliveryStats())  # files records the arrival; ingest has not run
    record = rt.ports.table.file(stuck)
    assert record is not None and record.status == "arrived"
    # WHEN the validator runs while the stuck file is recent, then after the grace period
    first = validate(rt)
    assert first.files == 1 and kinds(rt, first) == [("reconciliation_mismatch", tampered, None)]
    assert "2/0/7 in the file but 2/0/99 in the ledger" in report(rt, first)["findings_list"][0]["message"]
    second = validate(rt, pending_grace=timedelta(0))
    # THEN the recent one waited for the next run, and then was reported as not applied
    assert kinds(rt, second) == [("not_applied", stuck, None)]


def test_unreadable_file(tmp_path):
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(rt, key, b"Time\tWhere\n2021\tW1\n")
    summary = validate(rt)
    assert summary.transactions == 0
    assert kinds(rt, summary) == [("unreadable_file", key, None)]
    assert "ledger status 'rejected'" in report(rt, summary)["findings_list"][0]["message"]


def test_a_file_overwritten_after_it_was_applied_is_reported_not_checked_as_if_applied(tmp_path):
    # GIVEN a file applied, then other content stored under its key by another tool (bypassing `put`,
    # whose conflict check would refuse it; the files service refuses it as a conflict)
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    put(rt, key, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5"))
    rt.ports.objects.put(key, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|500"))
    # WHEN the validator runs
    summary = validate(rt)
    # THEN it says the key holds other content, instead of a reconciliation mismatch against the ledger
    assert kinds(rt, summary) == [("replaced_object", key, None)]
    assert "other content than the file the ledger recorded" in report(rt, summary)["findings_list"][0]["message"]


def test_a_file_stored_again_with_the_same_bytes_is_checked_as_usual(tmp_path):
    rt = runtime(tmp_path)
    key = day_key(15, "a_inventory.csv")
    data = tsv("2021-02-15T10:00:00Z|W1|i1|Mug|5")
    put(rt, key, data)
    rt.ports.objects.put(key, data)
    summary = validate(rt)
    assert summary.transactions == 1 and kinds(rt, summary) == []


def test_duplicate_keys_older_than_the_window_are_pruned_and_saved_as_deletions():
    # GIVEN a transaction seen in a file of Feb 1
    c = TransactionChecks("run", dup_window_days=7)
    from adapters.ports import FileRecord

    def record(seq: int, day: int) -> FileRecord:
        return FileRecord(day_key(day, f"{seq}_inventory.csv"), "inventory", "e", seq, datetime.now(UTC), "applied")

    ts = datetime(2021, 2, 1, 10, tzinfo=UTC)
    c.begin_file(record(1, 1))
    c.row(Row(2, ts, "W1", "i1", "Mug", 1))
    saved = c.changes()
    dup_keys = [k for k in saved if k.startswith("d")]
    assert len(dup_keys) == 1
    # one line per key: microseconds since the epoch, warehouse, item, change, file sequence, line
    fields = [str(int(ts.timestamp()) * 1_000_000), "W1", "i1", "1", "1", "2"]
    assert saved[dup_keys[0]].value == "\x1f".join(fields)
    # WHEN a file 8 days newer starts
    c.begin_file(record(2, 9))
    # THEN the old key is forgotten, and the next checkpoint deletes it (with its old value for rollback)
    assert c.seen == {}
    change = c.changes()[dup_keys[0]]
    assert change.value is None and change.previous == saved[dup_keys[0]].value


def test_findings_csv_neutralises_formulas():
    data = findings_csv([FindingRecord("bad_row", "inventory_files/x.csv", 3, '=HYPERLINK("http://x")')])
    lines = data.decode().splitlines()
    assert lines[0] == "kind,file_key,line,message"
    assert lines[1].startswith("bad_row,inventory_files/x.csv,3,\"'=HYPERLINK")


def test_slow_check_sleeps_the_configured_delay(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(checks.time, "sleep", slept.append)
    checks.SlowCheck(0.25)("k", Row(2, datetime.now(UTC), "W", "i", "n", 1))
    assert slept == [0.25]


def test_duplicates_found_against_an_earlier_run(tmp_path):
    # GIVEN a file validated in one run
    rt = runtime(tmp_path)
    put(rt, day_key(15, "a_inventory.csv"), tsv("2021-02-15T10:00:00.123456Z|W1|i1|Mug|1"))
    assert validate(rt).findings == 0
    # WHEN the same transaction arrives again in another file, checked by the next run
    again = day_key(15, "b_inventory.csv")
    put(rt, again, tsv("2021-02-15T11:00:00+01:00|W1|i1|Mug|1", "2021-02-15T10:00:00.123456Z|W1|i1|Mug|1"))
    summary = validate(rt)
    # THEN it is found through the saved keys (to the microsecond: 10:00:00 is not 10:00:00.123456)
    assert kinds(rt, summary) == [("duplicate_transaction", again, 3)]


def test_levels_survive_compaction_and_resume(tmp_path, monkeypatch):
    # GIVEN levels saved as deltas that are compacted into a snapshot every 2 checkpoints
    monkeypatch.setattr(checks, "MAX_DELTAS", 2)
    rt = runtime(tmp_path)
    for f in range(3):
        rows = [f"2021-02-15T1{f}:0{r}:00Z|W{r % 2}|i{r % 3}|Item {r % 3}|{r + 1}" for r in range(6)]
        put(rt, day_key(15, f"{f}_inventory.csv"), tsv(*rows))
    first = validate(rt, checkpoint_every=1)
    assert first.findings == 0
    # WHEN a later file takes every pair down by exactly its level plus one
    levels: dict[tuple[str, str], int] = {}
    for _file in range(3):
        for r in range(6):
            pair = (f"W{r % 2}", f"i{r % 3}")
            levels[pair] = levels.get(pair, 0) + r + 1
    rows = [f"2021-02-16T10:00:0{n}Z|{w}|{i}||{-(lv + 1)}" for n, ((w, i), lv) in enumerate(sorted(levels.items()))]
    put(rt, day_key(16, "z_inventory.csv"), tsv(*rows))
    second = validate(rt, checkpoint_every=1)
    # THEN every pair goes negative: the levels restored from snapshot + deltas were exact
    assert second.findings_by_kind == {"negative_level": len(levels)}
    # and the state store holds a snapshot, no stale deltas beyond the live ones
    keys = [k for (k,) in rt.db.conn.execute("SELECT key FROM validator_state")]
    assert any(k.startswith("P") for k in keys)
    assert not any(k.startswith(("f", "r")) for k in keys)  # finished runs leave no findings behind
