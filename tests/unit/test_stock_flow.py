"""The domain rules, driven through the services on the local runtime (GIVEN / WHEN / THEN)."""

from __future__ import annotations

import contextlib
import email
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.local.mailer import OutboxMailer
from adapters.settings import Settings
from local.delivery import run_until_idle
from local.wiring import LocalRuntime, bootstrap
from services.files.logic import FileConflict, object_created_event, upload
from services.reports.logic import item_report, restock_report, warehouse_report

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"


def tsv(*rows: tuple[str, str, str, str, object], header: str = HEADER, newline: str = "\n") -> bytes:
    body = header + "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
    return body.replace("\n", newline).encode()


def inv_key(n: int) -> str:
    return f"inventory_files/2021/02/15/202102151200{n:02d}_inventory.csv"


def feed(rt: LocalRuntime, key: str, data: bytes) -> None:
    upload(rt.ports, key, data)
    stats = run_until_idle(rt.ports, rt.bus)
    assert stats.dead == 0


def level(rt: LocalRuntime, warehouse: str, item: str) -> int:
    rows = {r["item_id"]: r["level"] for r in warehouse_report(rt.ports.table, warehouse)}
    return rows[item]


def alerts(rt: LocalRuntime) -> list[tuple[str, str, str, int, int]]:
    return [
        (e.detail["warehouse"], e.detail["item_id"], e.detail["cause"], e.detail["level"], e.detail["threshold"])
        for e in rt.bus.archived(detail_type="BelowThreshold")
    ]


def mails(rt: LocalRuntime) -> list[email.message.Message]:
    assert isinstance(rt.ports.mailer, OutboxMailer)
    return [email.message_from_bytes(data) for _, data in rt.ports.mailer.messages()]


T = "2021-02-15T12:00:00.000+01:00"


def test_given_files_in_any_order_when_applied_then_level_is_the_sum(runtime: LocalRuntime) -> None:
    feed(runtime, inv_key(2), tsv((T, "Berlin 1", "a1", "Shirt", 5), (T, "Berlin 1", "a1", "Shirt", -2)))
    feed(runtime, inv_key(1), tsv((T, "Berlin 1", "a1", "Shirt", 30), (T, "Bremen 4", "a1", "Shirt", 7)))
    assert level(runtime, "Berlin 1", "a1") == 33
    assert item_report(runtime.ports.table, "a1") == {
        "item_id": "a1",
        "item_name": "Shirt",
        "total": 40,
        "warehouses": [{"warehouse": "Berlin 1", "level": 33}, {"warehouse": "Bremen 4", "level": 7}],
    }


def test_given_bad_rows_when_applied_then_good_rows_count_and_bad_rows_are_kept(runtime: LocalRuntime) -> None:
    data = tsv(
        (T, "Berlin 1", "a1", "Shirt", 20),
        ("yesterday", "Berlin 1", "a1", "Shirt", 5),
        (T, "", "a1", "Shirt", 5),
        (T, "Berlin 1", "a1", "Shirt", "4.5"),
        (T, "Berlin 1", "a2", "Mug", 15),
    )
    feed(runtime, inv_key(1), data)
    assert level(runtime, "Berlin 1", "a1") == 20
    kept = runtime.ports.table.bad_rows(inv_key(1))
    assert [b.line for b in kept] == [3, 4, 5]
    assert all(b.reason for b in kept)
    (rejected,) = runtime.bus.archived(detail_type="FileRejected")
    assert rejected.detail["reason"] == "bad_rows"
    assert (rejected.detail["good_rows"], rejected.detail["bad_rows"]) == (2, 3)
    assert any("Bad rows" in m["Subject"] for m in mails(runtime))


def test_given_bom_crlf_and_quotes_when_applied_then_names_and_levels_are_exact(runtime: LocalRuntime) -> None:
    data = b"\xef\xbb\xbf" + tsv(
        (T, "Köln 1", "a1", '"Book ""Deluxe"""', 12),
        ("2021-02-15T11:00:00Z", "Köln 1", "a2", '5" Nails', 3),
        newline="\r\n",
    )
    feed(runtime, inv_key(1), data)
    rows = {r["item_id"]: (r["item_name"], r["level"]) for r in warehouse_report(runtime.ports.table, "Köln 1")}
    assert rows == {"a1": ('Book "Deluxe"', 12), "a2": ('5" Nails', 3)}


def test_given_same_file_put_twice_then_nothing_changes(runtime: LocalRuntime) -> None:
    data = tsv((T, "Berlin 1", "a1", "Shirt", 20))
    feed(runtime, inv_key(1), data)
    feed(runtime, inv_key(1), data)
    assert level(runtime, "Berlin 1", "a1") == 20
    assert len(runtime.bus.archived(detail_type="FileArrived")) == 1


def test_given_duplicate_notification_then_file_is_applied_once(runtime: LocalRuntime) -> None:
    info = runtime.ports.objects.put(inv_key(1), tsv((T, "Berlin 1", "a1", "Shirt", 20)))
    event = object_created_event("inventory-local", info)
    again = event.model_copy(update={"id": "another-id-for-the-same-object"})
    runtime.bus.publish([again], bus="default")
    run_until_idle(runtime.ports, runtime.bus)
    assert level(runtime, "Berlin 1", "a1") == 20


def test_given_different_content_under_used_key_then_refused_with_conflict(runtime: LocalRuntime) -> None:
    feed(runtime, inv_key(1), tsv((T, "Berlin 1", "a1", "Shirt", 20)))
    with pytest.raises(FileConflict):
        upload(runtime.ports, inv_key(1), tsv((T, "Berlin 1", "a1", "Shirt", 999)))
    run_until_idle(runtime.ports, runtime.bus)
    assert level(runtime, "Berlin 1", "a1") == 20
    reasons = [e.detail["reason"] for e in runtime.bus.archived(detail_type="FileRejected")]
    assert reasons == ["conflict"]


def thresholds_file(**values: int) -> bytes:
    import json

    return json.dumps({"ThresholdList": [{"ItemId": k, "RestockIfBelow": v} for k, v in values.items()]}).encode()


TKEY1 = "restock_thresholds/2021/02/15/restock_thresholds.json"
TKEY2 = "restock_thresholds/2021/02/16/restock_thresholds.json"


def test_given_threshold_files_then_they_are_changes_and_default_is_ten(runtime: LocalRuntime) -> None:
    feed(runtime, inv_key(1), tsv((T, "W", "a1", "A", 50), (T, "W", "a2", "B", 50), (T, "W", "a3", "C", 50)))
    feed(runtime, TKEY1, thresholds_file(a1=25, a2=30))
    feed(runtime, TKEY2, thresholds_file(a2=40))
    got = {r["item_id"]: r["threshold"] for r in warehouse_report(runtime.ports.table, "W")}
    assert got == {"a1": 25, "a2": 40, "a3": 10}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "thresholds file is empty"),
        (b"\xef\xbb\xbf\r\n", "thresholds file is empty"),
        (
            b'{"ThresholdList": [\r\n  {"ItemId": "a1", "RestockIfBelow": 25},\r\n]}',
            "thresholds file is not valid JSON: trailing comma at line 2 column 41",
        ),
        (
            b'{\n  // a1 is seasonal\n  "ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 25}]\n}',
            "thresholds file is not valid JSON: comments are not allowed (line 2)",
        ),
    ],
)
def test_given_an_empty_or_hand_edited_threshold_file_then_rejected_with_one_line_and_mailed(
    runtime: LocalRuntime, data: bytes, message: str
) -> None:
    feed(runtime, TKEY1, data)
    (rejected,) = runtime.bus.archived(detail_type="FileRejected")
    assert (rejected.detail["reason"], rejected.detail["message"]) == ("invalid", message)
    record = runtime.ports.table.file(TKEY1)
    assert record is not None and (record.status, record.message) == ("rejected", message)
    (mail,) = mails(runtime)
    assert mail["Subject"] == "File rejected: restock_thresholds.json"
    text = mail.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert text == f"{TKEY1}: {message} (reason: invalid)\n"


def test_given_a_configured_default_then_unlisted_items_use_it(tmp_path: Path) -> None:
    rt = bootstrap(Settings(home=tmp_path / "h", default_threshold=100))
    feed(rt, inv_key(1), tsv((T, "W", "a1", "A", 50)))
    assert [(r["threshold"], r["below"]) for r in restock_report(rt.ports.table)] == [(100, True)]


def test_a_restart_with_another_default_alerts_like_a_threshold_change(tmp_path: Path) -> None:
    # GIVEN pairs at 15 (unlisted) and 15 (own threshold 12) with the default 10: nothing below
    home = tmp_path / "h"
    rt = bootstrap(Settings(home=home))
    feed(rt, inv_key(1), tsv((T, "W", "a1", "A", 15), (T, "W", "b1", "B", 15)))
    feed(rt, TKEY1, thresholds_file(b1=12))
    assert alerts(rt) == [] and restock_report(rt.ports.table) == []
    # WHEN the runtime restarts with the default 20, then with 10 again, then with 20 again
    seen = []
    for default in (20, 10, 20):
        rt.close()
        rt = bootstrap(Settings(home=home, default_threshold=default))
        at_start = [(r["item_id"], r["threshold"]) for r in restock_report(rt.ports.table)]
        run_until_idle(rt.ports, rt.bus)
        seen.append((at_start, len(alerts(rt))))
    # THEN the unlisted pair alerts as for a threshold change, recovers with 10, and alerts again with 20;
    # the restock list is right as soon as the runtime starts; the pair with its own threshold never moves
    assert seen == [([("a1", 20)], 1), ([], 1), ([("a1", 20)], 2)]
    assert alerts(rt)[-1] == ("W", "a1", "threshold_update", 15, 20)
    assert [m["Subject"] for m in mails(rt)].count("Restock needed: 1 item(s) below threshold") == 2
    rt.close()


def test_alert_rule_fires_on_crossing_only_and_rearms_after_recovery(runtime: LocalRuntime) -> None:
    # GIVEN a pair seen first at 12 (not below 10): no alert
    feed(runtime, inv_key(1), tsv((T, "W", "a1", "A", 12), (T, "W", "a2", "B", 3)))
    # a pair first seen below counts as "not below before": it alerts
    assert alerts(runtime) == [("W", "a2", "stock_change", 3, 10)]
    # WHEN a1 drops to 8 THEN it alerts once
    feed(runtime, inv_key(2), tsv((T, "W", "a1", "A", -4)))
    # and while it stays below, no repeat
    feed(runtime, inv_key(3), tsv((T, "W", "a1", "A", -1)))
    # recovering to the threshold re-arms; dropping again alerts again
    feed(runtime, inv_key(4), tsv((T, "W", "a1", "A", 3)))
    feed(runtime, inv_key(5), tsv((T, "W", "a1", "A", -1)))
    assert alerts(runtime) == [
        ("W", "a2", "stock_change", 3, 10),
        ("W", "a1", "stock_change", 8, 10),
        ("W", "a1", "stock_change", 9, 10),
    ]


def test_given_newer_rows_without_an_item_name_then_reports_and_alert_mails_keep_the_name(
    runtime: LocalRuntime,
) -> None:
    # GIVEN item b named "Banana" at 09:00
    feed(runtime, inv_key(1), tsv(("2021-02-15T09:00:00Z", "W", "b", "Banana", 12)))
    # WHEN a newer row in the same file, and a later file, have an empty ItemName (and drop b below 10)
    feed(
        runtime,
        inv_key(2),
        tsv(("2021-02-15T09:00:00Z", "W", "b", "Banana", 1), ("2021-02-15T10:00:00Z", "W", "b", "", -1)),
    )
    feed(runtime, inv_key(3), tsv(("2021-02-15T11:00:00Z", "W", "b", " ", -5)))
    # THEN the reports and the alert mail still call it Banana
    assert [(r["item_name"], r["level"]) for r in warehouse_report(runtime.ports.table, "W")] == [("Banana", 7)]
    assert item_report(runtime.ports.table, "b")["item_name"] == "Banana"
    (mail,) = mails(runtime)
    text = next(bytes(p.get_payload(decode=True)).decode() for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "W | b | Banana | 7 | 10" in text


def test_threshold_change_alerts_pairs_that_newly_fall_below(runtime: LocalRuntime) -> None:
    feed(
        runtime,
        inv_key(1),
        tsv((T, "W1", "a1", "A", 20), (T, "W2", "a1", "A", 5), (T, "W3", "a1", "A", 60), (T, "W1", "b1", "B", 20)),
    )
    before = alerts(runtime)
    assert before == [("W2", "a1", "stock_change", 5, 10)]
    feed(runtime, TKEY1, thresholds_file(a1=50))
    new = alerts(runtime)[len(before) :]
    # W2 was already below (no repeat), W3 stays above, W1 crosses; b1 is not listed.
    assert new == [("W1", "a1", "threshold_update", 20, 50)]
    assert {(r["warehouse"], r["item_id"]) for r in restock_report(runtime.ports.table)} == {("W1", "a1"), ("W2", "a1")}


def test_one_digest_mail_per_file_with_escaped_names(runtime: LocalRuntime) -> None:
    rows = [(T, "W", f"i{n}", "Tom & Jerry <script>alert(1)</script>", 1) for n in range(30)]
    feed(runtime, inv_key(1), tsv(*rows))
    (mail,) = mails(runtime)
    assert mail["Subject"] == "Restock needed: 30 item(s) below threshold"
    assert mail["To"] == "purchasing@example.com"
    parts = {
        p.get_content_type(): bytes(p.get_payload(decode=True)).decode() for p in mail.walk() if not p.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "<script>" not in parts["text/html"]
    assert "Tom &amp; Jerry &lt;script&gt;" in parts["text/html"]
    assert "i29" in parts["text/plain"]


def test_crlf_in_names_cannot_inject_mail_headers(runtime: LocalRuntime) -> None:
    feed(runtime, inv_key(1), tsv((T, "W", "a1", "A\rBcc: evil@example.com", 1), (T, "W", "a2", "B", 1)))
    sent = mails(runtime)
    assert len(sent) == 2  # the digest and the bad-row report
    for mail in sent:
        assert mail["Bcc"] is None


class FlakyMailer:
    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.sent: list[str] = []

    def send(self, mail):
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("smtp down")
        self.sent.append(mail.message_id)
        return "flaky"


def test_failing_delivery_retries_then_dead_letters_and_redrive_sends_once(runtime: LocalRuntime) -> None:
    flaky = FlakyMailer(fail_times=10)
    runtime.ports.mailer = flaky
    upload(runtime.ports, inv_key(1), tsv((T, "W", "a1", "A", 1)))
    stats = run_until_idle(runtime.ports, runtime.bus)
    assert stats.dead == 1 and stats.retried == 2
    (dead,) = runtime.bus.dead()
    assert dead.target == "notify" and "smtp down" in dead.last_error
    flaky.fail_times = 0
    assert runtime.bus.redrive() == 1
    run_until_idle(runtime.ports, runtime.bus)
    assert len(flaky.sent) == 1 and runtime.bus.dead() == []


def test_replay_changes_no_level_and_sends_no_second_mail(runtime: LocalRuntime) -> None:
    from datetime import UTC, datetime

    feed(runtime, inv_key(1), tsv((T, "W", "a1", "A", 1), (T, "W", "a2", "B", 30)))
    feed(runtime, TKEY1, thresholds_file(a2=40))
    before = (restock_report(runtime.ports.table), len(mails(runtime)), len(alerts(runtime)))
    queued = runtime.bus.replay("r1", datetime(2000, 1, 1, tzinfo=UTC))
    assert queued > 0
    run_until_idle(runtime.ports, runtime.bus)
    assert (restock_report(runtime.ports.table), len(mails(runtime)), len(alerts(runtime))) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(every=st.integers(min_value=1, max_value=400), fail_at=st.integers(min_value=1, max_value=60))
def test_a_crash_at_any_point_then_a_rerun_applies_every_file_once(
    tmp_path_factory: pytest.TempPathFactory, every: int, fail_at: int
) -> None:
    home = tmp_path_factory.mktemp("crash")
    files = {
        inv_key(1): tsv(*[(T, f"W{n % 3}", f"i{n % 7}", "N", n - 5) for n in range(40)]),
        TKEY1: thresholds_file(i1=30, i2=5),
        inv_key(2): tsv(*[(T, f"W{n % 2}", f"i{n % 5}", "N", -n) for n in range(25)]),
    }
    rt = bootstrap(Settings(home=home, retry_base_seconds=0.0, max_attempts=1000))
    for key, data in files.items():
        upload(rt.ports, key, data)
    calls = 0

    def crash() -> int:
        nonlocal calls
        calls += 1
        return 1 if calls == fail_at else 0  # non-zero interrupts the running SQL statement

    rt.db.conn.set_progress_handler(crash, every)
    # when the "crash" hits the delivery bookkeeping itself, the process would have died there
    with contextlib.suppress(rt.db.errors.OperationalError):
        run_until_idle(rt.ports, rt.bus)
    rt.db.conn.set_progress_handler(None, 0)
    rt.close()
    # WHEN the runtime restarts and processes again
    rt2 = bootstrap(Settings(home=home, retry_base_seconds=0.0))
    run_until_idle(rt2.ports, rt2.bus)
    # THEN levels are as if each file was applied once
    from tests.oracle import levels

    paths = []
    for key in (inv_key(1), inv_key(2)):
        paths.append(home / key.replace("/", "_"))
        paths[-1].write_bytes(files[key])
    expected = levels(paths)
    got = {
        (r["warehouse"], r["item_id"]): r["level"]
        for w in rt2.ports.table.warehouses()
        for r in warehouse_report(rt2.ports.table, w)
    }
    assert got == expected
    assert rt2.bus.dead() == []
    rt2.close()


def test_reports_take_names_as_ingest_stored_them_whatever_spaces_surround_them(runtime: LocalRuntime) -> None:
    # GIVEN a row whose names were padded with spaces in the file (ingest strips them)
    feed(runtime, inv_key(1), tsv((T, "  Berlin 1  ", " a1 ", "Shirt", 7)))
    # WHEN a user copies the padded names into a report
    rows = warehouse_report(runtime.ports.table, " Berlin 1 ")
    # THEN they find the pair
    assert [(r["warehouse"], r["item_id"], r["level"]) for r in rows] == [("Berlin 1", "a1", 7)]
    assert item_report(runtime.ports.table, " a1 ")["total"] == 7
