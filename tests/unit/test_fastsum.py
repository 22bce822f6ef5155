"""The parser's C fast path (services/ingest/_fastsum.c) against the pure-Python parser it speeds up.

C takes only lines it is sure about and hands every other one back to the Python parser, so whatever
a file holds, both paths must give the same pairs, names, bad rows and counts.
"""

from __future__ import annotations

import shutil
import sysconfig

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest import parsing
from services.ingest.parsing import sum_inventory

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange"

needs_c = pytest.mark.skipif(not parsing.ACCELERATED, reason="the C fast path is not built here")


def test_GIVEN_a_c_compiler_WHEN_installed_THEN_ingest_sums_plain_lines_in_c() -> None:
    # The install builds it wherever a compiler is found; without one ingest is correct but ~4x slower.
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine: the pure-Python path is used")
    assert parsing.ACCELERATED


def both(data: bytes, chunk: int = 1 << 20) -> tuple[object, object]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    fast = sum_inventory(chunks, accelerated=True)
    slow = sum_inventory(chunks, accelerated=False)
    return (
        (fast.by_warehouse, fast.bad_rows, fast.good_rows, fast.total),
        (slow.by_warehouse, slow.bad_rows, slow.good_rows, slow.total),
    )


_timestamp = st.one_of(
    st.sampled_from(
        [
            "2021-02-15T12:00:00.000+01:00",
            "2021-02-15T12:00:00.000-01:00",
            "2021-02-15T11:00:00Z",
            "2021-02-15T11:00:00",
            "2021-02-15T11:00:00.123456+05:45",
            "2021-02-15T11:00:00.1234567Z",
            "2021-02-15T11:00:00.1Z",
            "2021-02-15T11:00:00+01:07",
            "2021-02-15T11:00:00+23:59",
            "2021-02-15T11:00:00+24:00",
            "2021-02-15T11:00:00-00:00",
            "2021-02-15 11:00:00Z",
            "2021-02-15t11:00:00Z",
            "2021-02-15T24:00:00Z",
            "2021-02-15T23:59:60Z",
            "2020-02-29T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "0001-01-01T00:30:00+01:00",
            "0001-01-01T00:30:00-01:00",
            "0002-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
            "9998-12-31T23:30:00-01:00",
            "2021-02-15T11:00:00+0100",
            "2021-02-15T11:00:00z",
            "2021-02-15",
            "２０２１-02-15T11:00:00Z",
            " 2021-02-15T11:00:00Z",
            "x",
            "",
        ]
    ),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
        st.integers(1, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 24),
        st.integers(0, 60),
        st.integers(0, 60),
        st.sampled_from(["", "Z", ".5Z", ".000+14:00", ".999999-13:30", "+00:00"]),
    ),
)
_odd_chars = ["", " ", "\xa0", "\u2003", "\u3000", "\x85", "\u200b", "\x7f", "\x1b", "\x00", '"', "\ufeff", "\r"]
_text = st.one_of(
    st.sampled_from(["W1", "Köln 2", "i1", "倉庫", "🏭", '5" Nails', '"W1"', '"', "W" * 125, "W" * 126, "🏭" * 125]),
    st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(_odd_chars),
        st.sampled_from(["W1", "i1", "Pear", "Crème", ""]),
        st.sampled_from(_odd_chars),
    ),
    st.text(max_size=6),
)
_change = st.one_of(
    st.integers(-(10**11), 10**11).map(str),
    st.sampled_from(["-0", "007", "+4", "-", "", "5.0", "1e3", "１２", "999999999", "-999999999", "1000000000"]),
)
# Mostly plain values, so a line usually has one odd field at most: that is where the two paths could part.
_plain_timestamp = st.sampled_from(["2021-02-15T12:00:00.000+01:00", "2021-02-15T11:00:00Z", "2021-02-15T11:00:00"])
_plain_text = st.sampled_from(["W1", "W2", "i1", "i2", "Köln 2", "Pear"])
_plain_change = st.integers(-1000, 1000).map(str)


def _mostly(plain: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(plain, plain, plain, odd)


_line = st.one_of(
    st.tuples(
        _mostly(_plain_timestamp, _timestamp),
        _mostly(_plain_text, _text),
        _mostly(_plain_text, _text),
        _mostly(_plain_text, _text),
        _mostly(_plain_change, _change),
    ).map("\t".join),
    st.tuples(_timestamp, _text, _text, _text, _change).map("\t".join),
    st.sampled_from(
        [
            "",
            "\r",
            "   ",
            "\t\t\t\t",
            "only\tfour\tfields\there",
            "2021-02-15T11:00:00Z\tW1\ti1\tApple\t3\t",
            "2021-02-15T11:00:00Z\tW1\ti1\t\t-2\t \t",
            "2021-02-15T11:00:00Z\tW1\ti1\tPear\t1\t\tx",
            "2021-02-15T11:00:00Z\tW1\ti1\tPear\t1\r\r",
            "2021-02-15T11:00:00Z\tW1\ti1\tPear\r\t1",
            "\udcff2021-02-15T11:00:00Z\tW1\ti1\tPear\t1",
            "2021-02-15T11:00:00Z\tW1\ti1\tPe\udcc3ar\t1",
        ]
    ),
)


@needs_c
@given(st.lists(_line, max_size=40), st.integers(min_value=1, max_value=300), st.booleans())
@settings(max_examples=500, deadline=None)
def test_GIVEN_any_lines_WHEN_summed_in_c_THEN_same_as_the_python_parser(
    lines: list[str], chunk: int, crlf: bool
) -> None:
    text = HEADER + "\n" + "\n".join(lines) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    fast, slow = both(text.encode("utf-8", errors="surrogateescape"), chunk)
    assert fast == slow


@needs_c
@given(st.lists(_line, max_size=20))
@settings(max_examples=200, deadline=None)
def test_GIVEN_columns_reordered_with_extra_ones_WHEN_summed_in_c_THEN_same_as_the_python_parser(
    lines: list[str],
) -> None:
    # The same rows, columns in another order with unused ones between (one of them invalid UTF-8).
    header = "Notes\tStockLevelChange\tItemName\t\tItemId\tWarehouseName\tTimestamp"
    rows = []
    for line in lines:
        fields = line.split("\t")
        if len(fields) == 5:
            ts, warehouse, item, name, change = fields
            rows.append(f"n\udcff\t{change}\t{name}\t\t{item}\t{warehouse}\t{ts}")
        else:
            rows.append(line)
    fast, slow = both((header + "\n" + "\n".join(rows)).encode("utf-8", errors="surrogateescape"))
    assert fast == slow


@needs_c
def test_GIVEN_ties_and_unnamed_rows_across_c_and_python_lines_WHEN_summed_THEN_newest_name_by_time_then_line() -> None:
    lines = [
        "2021-02-15T12:00:00.000+01:00\tW1\ti1\tApple\t5",  # C
        '2021-02-15T11:00:00Z\tW1\ti1\t"Pear"\t-2',  # Python (quoted), same instant, later line: wins
        "2021-02-15T11:00:00Z\tW1\ti1\tPlum\t0",  # C, same instant, later still: wins over both
        "2021-02-15T10:00:00Z\tW1 \ti1\tOld\t1",  # Python (a space), earlier: adds, does not rename
        "2021-02-15T13:00:00Z\tW1\ti1\t\t1",  # C, newest but no name
        "2021-02-15T09:00:00Z\tW1\ti2\t\t+1",  # Python, never named
    ]
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    fast, slow = both(data)
    assert fast == slow
    by_warehouse = sum_inventory([data]).by_warehouse
    assert {item: (change, name) for item, (change, name, _) in by_warehouse["W1"].items()} == {
        "i1": (5, "Plum"),
        "i2": (1, ""),
    }


def test_GIVEN_a_generated_file_WHEN_summed_THEN_both_paths_agree(tmp_path) -> None:
    from local.generate import generate

    generated = generate(tmp_path, files=1, rows=5000, warehouses=3, items=50, bad_row_rate=0.05, seed=5)
    data = (tmp_path / generated.inventory_keys[0]).read_bytes()
    if parsing.ACCELERATED:
        fast, slow = both(data, 4096)
        assert fast == slow
    sums = sum_inventory([data], accelerated=False)
    assert sums.bad_rows and sums.good_rows > 4000


_sort_ids = st.sampled_from(
    ["abcdef", "abcdefg", "abcdefa", "abcde", "abcdeg", "ab", "b", "é", "ÿ", "中", "😀", "z" * 20]
)


@needs_c
@given(st.lists(st.tuples(st.sampled_from(["W1", "W10", "W2", "Ä", "W"]), _sort_ids), min_size=1, max_size=60))
@settings(max_examples=200, deadline=None)
def test_GIVEN_pairs_WHEN_summed_in_c_THEN_they_come_in_sqlites_binary_order(pairs: list[tuple[str, str]]) -> None:
    # Ids that share their first bytes, end early or are not ASCII: the C sort key holds 6 bytes of an id.
    lines = [f"2021-02-15T11:00:00Z\t{w}\t{i}\tName\t1" for w, i in pairs]
    sums = sum_inventory([(HEADER + "\n" + "\n".join(lines) + "\n").encode()], accelerated=True)
    keys = [(p.warehouse, p.item_id) for p in sums.pairs]
    assert keys == sorted(set(pairs), key=lambda k: (k[0].encode(), k[1].encode()))
