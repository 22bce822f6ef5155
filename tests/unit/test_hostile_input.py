"""Hostile files through the whole local pipeline: a clear rejection, nothing lost, nothing half-applied."""

from __future__ import annotations

import json

import pytest

from local.delivery import run_until_idle
from local.wiring import LocalRuntime
from services.files.keys import BadKey
from services.files.logic import upload
from services.reports.logic import item_report

HEADER = b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
GOOD = b"2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t20\n"
KEY = "inventory_files/2021/02/15/20210215120000_inventory.csv"
TKEY = "restock_thresholds/2021/02/15/restock_thresholds.json"


def process(rt: LocalRuntime) -> None:
    assert run_until_idle(rt.ports, rt.bus).dead == 0


def rejections(rt: LocalRuntime) -> list[tuple[str, str]]:
    return [(e.detail["reason"], e.detail["message"]) for e in rt.bus.archived(detail_type="FileRejected")]


@pytest.mark.parametrize(
    "key",
    [
        "inventory_files/../state.db",
        "/etc/passwd",
        "inventory_files/2021/02/15/a\x00b.csv",
        "somewhere/else.csv",
        "restock_thresholds/2021/02/15/thresholds.exe",
        "inventory_files/2021/02/15/",
    ],
)
def test_keys_that_escape_or_miss_the_prefixes_are_refused_before_anything_is_stored(
    runtime: LocalRuntime, key: str
) -> None:
    with pytest.raises(BadKey):
        upload(runtime.ports, key, HEADER + GOOD)
    assert list(runtime.ports.objects.list("")) == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01\x02\xff\xfe binary \x00" * 1000, "unreadable"),
        (b"\xff\xfeT\x00i\x00m\x00e\x00", "unreadable"),  # UTF-16: not UTF-8
        (b"A" * (1024 * 1024), "unreadable"),  # one long line, no header
        (b"\t".join([b"c"] * 1_000_000) + b"\n" + GOOD, "unreadable"),  # a million columns
    ],
)
def test_unusable_files_are_rejected_whole(runtime: LocalRuntime, data: bytes, reason: str) -> None:
    upload(runtime.ports, KEY, data)
    process(runtime)
    ((got, message),) = rejections(runtime)
    assert got == reason and message and "\n" not in message
    assert runtime.ports.table.warehouses() == []
    record = runtime.ports.table.file(KEY)
    assert record is not None and record.status == "rejected"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ((HEADER + GOOD * 5000).replace(b"\n", b"\r"), "end with CR only: save the file with LF or CRLF"),
        ((HEADER + GOOD).decode().encode("utf-16-le"), "UTF-16 without a byte-order mark: save the file as UTF-8"),
    ],
)
def test_common_export_mistakes_are_rejected_with_how_to_save_the_file(
    runtime: LocalRuntime, data: bytes, words: str
) -> None:
    upload(runtime.ports, KEY, data)
    process(runtime)
    ((got, message),) = rejections(runtime)
    assert got == "unreadable" and words in message and "\n" not in message and "\r" not in message
    assert runtime.ports.table.warehouses() == []


@pytest.mark.parametrize("data", [b"", HEADER, b"\n\n\r\n", b"\xef\xbb\xbf" + HEADER + b"\n\n"])
def test_empty_and_header_only_files_apply_nothing_and_complain_about_nothing(
    runtime: LocalRuntime, data: bytes
) -> None:
    upload(runtime.ports, KEY, data)
    process(runtime)
    assert rejections(runtime) == []
    record = runtime.ports.table.file(KEY)
    assert record is not None and record.status == "applied" and record.good_rows == 0


@pytest.mark.slow
def test_a_100_mb_line_among_good_rows_is_one_bad_row(runtime: LocalRuntime) -> None:
    data = HEADER + GOOD + b"x" * (100 * 1024 * 1024) + b"\n" + GOOD.replace(b"20\n", b"5\n")
    upload(runtime.ports, KEY, data)
    process(runtime)
    assert item_report(runtime.ports.table, "a1")["total"] == 25
    (bad,) = runtime.ports.table.bad_rows(KEY)
    assert bad.line == 3 and "long" in bad.reason


def test_a_latin1_file_is_read_whole_as_windows_1252(runtime: LocalRuntime) -> None:
    upload(runtime.ports, KEY, HEADER + GOOD + "2021-02-15T12:00:00Z\tKöln\ta2\tMüsli\t3\n".encode("latin-1"))
    process(runtime)
    assert item_report(runtime.ports.table, "a1")["total"] == 20
    assert item_report(runtime.ports.table, "a2")["warehouses"][0]["warehouse"] == "Köln"
    assert runtime.ports.table.bad_rows(KEY) == []


def test_a_latin1_row_in_a_utf8_file_is_a_bad_row_not_a_lost_file(runtime: LocalRuntime) -> None:
    utf8 = "2021-02-15T12:00:00Z\tMünchen\ta3\tTee\t4\n".encode()
    upload(runtime.ports, KEY, HEADER + GOOD + "2021-02-15T12:00:00Z\tKöln\ta2\tMüsli\t3\n".encode("latin-1") + utf8)
    process(runtime)
    assert (item_report(runtime.ports.table, "a1")["total"], item_report(runtime.ports.table, "a3")["total"]) == (20, 4)
    (bad,) = runtime.ports.table.bad_rows(KEY)
    assert bad.line == 3 and "UTF-8" in bad.reason


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b"{not json", "JSON"),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": -1}]}', "between 0 and"),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 2.5}]}', "whole number"),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": "25"}]}', "whole number"),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 1e400}]}', ""),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 99999999999999999999}]}', ""),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 5}, {"ItemId": "a1", "RestockIfBelow": 6}]}', "a1"),
        (b'{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 5, "Note": "x"}]}', "Note"),
        (b'{"ThresholdList": [], "Extra": 1}', "Extra"),
        (b"\xff\xfe{}", ""),
    ],
)
def test_hostile_thresholds_files_are_rejected_whole(runtime: LocalRuntime, document: bytes, words: str) -> None:
    upload(runtime.ports, KEY, HEADER + GOOD)
    upload(runtime.ports, TKEY, b'{"ThresholdList": [{"ItemId": "b2", "RestockIfBelow": 7}]}')
    process(runtime)
    other = "restock_thresholds/2021/02/16/restock_thresholds.json"
    upload(runtime.ports, other, document)
    process(runtime)
    (rejected,) = rejections(runtime)
    assert rejected[0] == "invalid" and words in rejected[1] and "\n" not in rejected[1]
    assert runtime.ports.table.threshold("a1") == 10 and runtime.ports.table.threshold("b2") == 7


def test_thresholds_file_of_valid_changes_with_unicode_ids_applies(runtime: LocalRuntime) -> None:
    upload(runtime.ports, TKEY, json.dumps({"ThresholdList": [{"ItemId": "ä-1", "RestockIfBelow": 0}]}).encode())
    process(runtime)
    assert runtime.ports.table.threshold("ä-1") == 0
