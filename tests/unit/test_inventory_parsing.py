from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.parsing import (
    NO_NAME_TIME,
    BadRow,
    Row,
    UnusableFile,
    _Header,
    _parse_text,
    _slow_row,
    inventory_bytes,
    iter_lines,
    parse_inventory,
    sum_inventory,
)

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange"


def parse(text: str | bytes, chunk: int | None = None) -> list[Row | BadRow]:
    data = text.encode() if isinstance(text, str) else text
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(parse_inventory(chunks))


def one(line: str) -> Row | BadRow:
    (result,) = parse(f"{HEADER}\n{line}\n")
    return result


def reason(line: str) -> str:
    result = one(line)
    assert isinstance(result, BadRow), result
    return result.reason


def test_GIVEN_scenario_file_WHEN_parsed_THEN_rows_in_utc_with_line_numbers() -> None:
    text = (
        f"{HEADER}\n"
        "2021-02-15T12:00:00.000+01:00\tBerlin 1\ta123v5\ttecRacer T-Shirt\t-3\n"
        "2021-02-15T12:00:01.000+01:00\tBremen 4\td23x56\ttecRacer tecPert Sticker\t4\n"
    )
    rows = parse(text)
    assert rows == [
        Row(2, datetime(2021, 2, 15, 11, 0, tzinfo=UTC), "Berlin 1", "a123v5", "tecRacer T-Shirt", -3),
        Row(3, datetime(2021, 2, 15, 11, 0, 1, tzinfo=UTC), "Bremen 4", "d23x56", "tecRacer tecPert Sticker", 4),
    ]
    assert all(isinstance(r, Row) and r.ts.utcoffset() == UTC.utcoffset(None) for r in rows)


def test_GIVEN_bom_crlf_blank_lines_and_reordered_columns_WHEN_parsed_THEN_same_rows() -> None:
    text = (
        "\ufeff\r\n itemid \tstocklevelchange\tTIMESTAMP\tWarehouseName\tNotes\tItemName\r\n"
        "\t\t\r\n"
        "a1\t+5\t2021-02-15T12:00:00Z\t Berlin 1 \tx\t Größe L \r\n"
        "\n"
        'a2\t-1\t2021-02-15T12:00:00\tBonn 2\t\t"Quoted" Shirt'
    )
    for chunk in (None, 1, 3, 7):
        rows = parse(text.encode(), chunk)
        assert [(r.line, r.item_id, r.change, r.warehouse, r.item_name) for r in rows if isinstance(r, Row)] == [
            (4, "a1", 5, "Berlin 1", "Größe L"),
            (6, "a2", -1, "Bonn 2", '"Quoted" Shirt'),
        ]
        assert all(isinstance(r, Row) for r in rows)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", []), ("\n\n  \n", []), (HEADER, []), (HEADER + "\r\n\r\n", [])],
)
def test_GIVEN_empty_or_header_only_file_WHEN_parsed_THEN_no_rows(text: str, expected: list[Row]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Timestamp\tWarehouseName\tItemName\tStockLevelChange\n", "lacks column(s): ItemId"),
        (b"a\tb\n", "lacks column(s): Timestamp, WarehouseName, ItemId, ItemName, StockLevelChange"),
        (b"Timestamp,WarehouseName,ItemId,ItemName,StockLevelChange\r\n", "separated by ',', not TAB"),
        (("\ufeff" + HEADER + "\n").encode("utf-32"), "file is UTF-32 text"),
        (b'"Timestamp";"WarehouseName";"ItemId";"ItemName";"StockLevelChange"\n', "separated by ';', not TAB"),
        (b"Timestamp\tItemId\tWarehouseName\tItemId\tItemName\tStockLevelChange\n", "more than once"),
        (b"Timestamp WarehouseName ItemId ItemName StockLevelChange\r\n", "separated by spaces, not TAB"),
        (b"\xef\xbb\xbf  Timestamp   warehousename ItemId  ItemName StockLevelChange  \n", "separated by spaces, not"),
        (b"Timestamp\tWarehouseName ItemId\tItemName\tStockLevelChange\n", "separated by spaces, not TAB"),
        (b'"Timestamp" "WarehouseName" "ItemId" "ItemName" "StockLevelChange"\n', "separated by spaces, not TAB"),
        (b"Timestamp WarehouseName ItemName StockLevelChange\n", "lacks column(s): Timestamp, WarehouseName, ItemId"),
        (b"Timestamp\tWarehouse\xffName\n", "not valid UTF-8"),
        (b"T" * 70000 + b"\nx\n", "longer than 65536 bytes"),
    ],
)
def test_GIVEN_unusable_header_WHEN_parsed_THEN_unusable_file_before_any_row(data: bytes, message: str) -> None:
    with pytest.raises(UnusableFile, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(data)


def test_GIVEN_header_typed_with_spaces_WHEN_parsed_THEN_one_line_saying_to_use_tab() -> None:
    data = b"Timestamp WarehouseName ItemId ItemName StockLevelChange\n2021-02-15T12:00:00Z Berlin a1 Shirt 4\n"
    expected = (
        "header (line 1) is separated by spaces, not TAB: "
        "separate the columns with TAB (or export the file as tab-separated text)"
    )
    for read in (parse, lambda d: sum_inventory([d]), read_as_ingest):
        with pytest.raises(UnusableFile) as caught:
            read(data)
        assert str(caught.value) == expected


_ROW = "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4"
_CR_ONLY = "end with CR only: save the file with LF or CRLF line ends"
_NO_BOM = "looks like UTF-16 without a byte-order mark: save the file as UTF-8 (or UTF-16 with a byte-order mark)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((HEADER + "\r" + _ROW + "\r").encode(), _CR_ONLY),
        # every column is found before the first CR: it would otherwise be a file of no rows
        (f"{HEADER}\tNotes\r{_ROW}\tfragile\r".encode(), _CR_ONLY),
        ((HEADER + "\r" + (_ROW + "\r") * 3000).encode(), _CR_ONLY),  # longer than a line may be
        ((HEADER + "\r\n" + _ROW + "\r\n").encode("utf-16-le"), _NO_BOM),
        ((HEADER + "\n" + _ROW + "\n").encode("utf-16-be"), _NO_BOM),
    ],
)
@pytest.mark.parametrize("chunk", [None, 5, 1 << 20])
def test_GIVEN_common_export_mistake_WHEN_parsed_THEN_one_line_saying_how_to_save_it(
    data: bytes, message: str, chunk: int | None
) -> None:
    with pytest.raises(UnusableFile) as caught:
        parse(data, chunk)
    assert str(caught.value).startswith("header (line 1) ") and str(caught.value).endswith(message)
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    with pytest.raises(UnusableFile, match="CR only" if message == _CR_ONLY else "UTF-16"):
        sum_inventory([data])


def test_GIVEN_a_binary_header_with_some_nul_bytes_WHEN_parsed_THEN_no_utf16_guess() -> None:
    with pytest.raises(UnusableFile, match="lacks column") as caught:
        parse(b"Timestamp\x00\tWarehouse\x00Name\tsomething else\n")
    assert "UTF-16" not in str(caught.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt", "missing column(s): StockLevelChange"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t1\textra", "6 fields, header has 5"),
        ("15.02.2021\tBerlin 1\ta1\tShirt\t1", "Timestamp is not ISO 8601: '15.02.2021'"),
        ("9999-12-31T23:00:00-05:00\tBerlin 1\ta1\tShirt\t1", "Timestamp out of range in UTC"),
        ("2021-02-15T12:00:00\t \ta1\tShirt\t1", "WarehouseName is empty"),
        ("2021-02-15T12:00:00\tBerlin 1\t\tShirt\t1", "ItemId is empty"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t4.5", "StockLevelChange is not an integer: '4.5'"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t1_000", "StockLevelChange is not an integer"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t", "StockLevelChange is not an integer: ''"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t\u0663", "StockLevelChange is not an integer"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t1000000001", "StockLevelChange out of range"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t-" + "9" * 5000, "StockLevelChange out of range"),
        ("2021-02-15T12:00:00\tBerlin 1\ta1\tSh\x00irt\t1", "control character in ItemName"),
        ("2021-02-15T12:00:00\tBer\x1blin\ta1\tShirt\t1", "control character in WarehouseName"),
        ("2021-02-15T12:00:00\tBerlin 1\ta\r1\tShirt\t1", "control character in ItemId"),
    ],
)
def test_GIVEN_bad_line_WHEN_parsed_THEN_bad_row_with_reason(line: str, expected: str) -> None:
    assert reason(line).startswith(expected)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("5.0", 5),  # pandas: an integer column holding one NaN is written as floats
        ("-3.00", -3),  # a spreadsheet's number format with two decimals
        ("+7.0", 7),
        ("0.0", 0),
        ("-0.00", 0),
        ("007.0", 7),
        ("1000000000.0", 1_000_000_000),
        ("-1000000000.00", -1_000_000_000),
        ('"12.0"', 12),  # quoted: the slow path unquotes first
    ],
)
def test_GIVEN_whole_number_written_with_decimal_zeros_WHEN_parsed_THEN_that_integer(
    change: str, expected: int
) -> None:
    data = f"{HEADER}\r\n2021-02-15T12:00:00Z\tW\ta1\tShirt\t{change}\r\n".encode()
    (row,) = parse(data)
    assert isinstance(row, Row) and row.change == expected and type(row.change) is int
    sums = sum_inventory([data])
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == _fold([row])


@pytest.mark.parametrize(
    "change",
    ["1.000", "5.000", "-0.000",
     "5.5", "5.01", "1e3", "5.0e0", "5.", ".0", "-.0", "+.00", "nan", "NaN", "inf", "5,0", "5.0.0", "5..0", "-+5.0",
     "5.0-", "5.0_0", "5. 0", "\u0663.0", "5.\u0660", "0x5.0"],
)  # fmt: skip
def test_GIVEN_decimal_that_is_not_a_plain_whole_number_WHEN_parsed_THEN_bad_row(change: str) -> None:
    assert reason(f"2021-02-15T12:00:00Z\tW\ta1\tShirt\t{change}") == f"StockLevelChange is not an integer: {change!r}"


@pytest.mark.parametrize("change", ["1000000001.0", "-1000000001.00", "9" * 30 + ".0", "-" + "9" * 5000 + ".00"])
def test_GIVEN_decimal_whole_number_beyond_the_range_WHEN_parsed_THEN_bad_row(change: str) -> None:
    assert reason(f"2021-02-15T12:00:00Z\tW\ta1\tShirt\t{change}").startswith("StockLevelChange out of range: ")


@pytest.mark.parametrize(
    ("header", "line"),
    [
        (HEADER + "\t", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4"),  # header ends with a TAB
        (HEADER + "\t\t \r", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\r"),
        (HEADER + "\tNotes\t", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\tfragile"),
        (HEADER, "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\t"),  # a stray TAB at the end
        (HEADER, "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\t \t\r"),
        (HEADER + "\t", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\t\t\t"),
    ],
)
def test_GIVEN_trailing_empty_fields_from_a_spreadsheet_WHEN_parsed_THEN_the_row_is_good(
    header: str, line: str
) -> None:
    data = f"{header}\n{line}\n".encode()
    rows = parse(data)
    assert [(r.item_id, r.item_name, r.change) for r in rows if isinstance(r, Row)] == [("a1", "Shirt", 4)]
    assert len(rows) == 1
    sums = sum_inventory([data])
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == _fold(rows)


@pytest.mark.parametrize(
    ("header", "line", "expected"),
    [
        # a value beyond the header could belong to any column: still misaligned
        (HEADER, "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\t\t7", "7 fields, header has 5"),
        (HEADER + "\t", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\t\tx", "7 fields, header has 6"),
        # a named column is never optional, and an unnamed one before it is named by its position
        (HEADER + "\tNotes", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4", "missing column(s): Notes"),
        (
            HEADER + "\t\tNotes\t",
            "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4",
            "missing column(s): column 6 (unnamed), Notes",
        ),
        (HEADER + "\t", "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt", "missing column(s): StockLevelChange"),
    ],
)
def test_GIVEN_misaligned_row_around_unnamed_columns_WHEN_parsed_THEN_bad_row_naming_every_column(
    header: str, line: str, expected: str
) -> None:
    (row,) = parse(f"{header}\n{line}\n")
    assert isinstance(row, BadRow) and row.reason == expected


def test_GIVEN_edge_values_WHEN_parsed_THEN_accepted() -> None:
    row = one('2021-02-15T12:00:00+05:30\t"Berlin ""1"""\t a1 \t5" Nails\t-1000000000')
    assert isinstance(row, Row)
    assert (row.ts, row.warehouse, row.item_id, row.item_name, row.change) == (
        datetime(2021, 2, 15, 6, 30, tzinfo=UTC),
        'Berlin "1"',
        "a1",
        '5" Nails',
        -1_000_000_000,
    )


def test_GIVEN_stray_quote_WHEN_parsed_THEN_following_lines_are_not_swallowed() -> None:
    text = f'{HEADER}\n2021-02-15T12:00:00\tBerlin 1\ta1\t"Open\t1\n2021-02-15T12:00:00\tBerlin 1\ta2\tB\t2\n'
    assert [r.item_id for r in parse(text) if isinstance(r, Row)] == ["a1", "a2"]


def test_GIVEN_invalid_utf8_and_long_lines_WHEN_parsed_THEN_only_those_lines_are_bad() -> None:
    good = b"2021-02-15T12:00:00\tBerlin 1\ta1\tShirt\t1\n"
    data = HEADER.encode() + b"\n" + good + b"2021\tB\xff\ta\tb\t1\n" + b"x" * 70000 + b"\n" + good
    for chunk in (None, 1000, 65536):
        results = parse(data, chunk)
        assert [(r.line, r.reason) for r in results if isinstance(r, BadRow)] == [
            (3, "line is not valid UTF-8"),
            (4, "line too long"),
        ]
        assert [r.line for r in results if isinstance(r, Row)] == [2, 5]
        assert "\ufffd" in next(r.raw for r in results if isinstance(r, BadRow))


_CRLF_BAD = [
    "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\tfive",  # fast path defers: bad change
    "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt",  # field count: missing column
    "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t1\tx",  # field count: a value beyond the header
    "15.02.2021\tBerlin 1\ta1\tShirt\t1",  # timestamp
    '2021-02-15T12:00:00Z\t"Berlin 1"\t\tShirt\t1',  # quotes: empty ItemId
    "2021-02-15T12:00:00Z\tBerlin 1\ta1\tSh\x1birt\t1",  # control character
    "2021-02-15T12:00:00Z\tBerlin 1\ta1\t" + "x" * 150 + "\t1",  # too long for max_line_bytes=128
]


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_GIVEN_crlf_file_WHEN_bad_rows_kept_THEN_raw_has_no_line_ending(chunk: int | None) -> None:
    # raw is shown in `files bad-rows`, `sql` rejected_rows and the rejection mail: a kept CR breaks a line.
    good = "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4"
    data = ("\r\n".join([HEADER, good, *_CRLF_BAD, good]) + "\r\n").encode()
    data += b"2021-02-15T12:00:00Z\tB\xffrlin\ta1\tShirt\t1\r\n"  # not UTF-8: decoded line by line
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    rows = list(parse_inventory(chunks, max_line_bytes=128))
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [r.line for r in bad] == [*range(3, 3 + len(_CRLF_BAD)), len(_CRLF_BAD) + 4]
    assert [r.raw for r in bad[:-2]] == _CRLF_BAD[:-1]
    # an over-long line that arrives in small chunks is dropped as it streams in: no raw text at all
    assert bad[-2].raw == (_CRLF_BAD[-1] if chunk is None else "")
    assert bad[-1].raw == "2021-02-15T12:00:00Z\tB\ufffdrlin\ta1\tShirt\t1"
    assert sum_inventory(chunks, max_line_bytes=128).bad_rows == bad
    # A CR inside a line is content, not a line ending: it stays (and makes the row bad).
    (inner,) = parse(f"{HEADER}\r\n2021-02-15T12:00:00Z\tBerlin 1\ta\r1\tShirt\t1\r\n")
    assert isinstance(inner, BadRow) and inner.raw == "2021-02-15T12:00:00Z\tBerlin 1\ta\r1\tShirt\t1"


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_GIVEN_crlf_spreadsheet_export_WHEN_bad_rows_kept_THEN_raw_has_no_line_ending(encoding: str) -> None:
    text = f"{HEADER}\r\n2021-02-15T12:00:00Z\tMünchen\ta1\tGröße\tfünf\r\n"
    (row,) = read_as_ingest(text.encode(encoding))
    assert isinstance(row, BadRow) and row.raw == "2021-02-15T12:00:00Z\tMünchen\ta1\tGröße\tfünf"


def test_GIVEN_chunks_split_anywhere_WHEN_iter_lines_THEN_physical_lines_without_endings() -> None:
    data = b"a\r\nbb\n\nccc\r\n" + b"d" * 20 + b"\ne"
    expected = [(1, b"a"), (2, b"bb"), (3, b""), (4, b"ccc"), (5, None), (6, b"e")]
    for size in (1, 2, 5, 100):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(iter_lines(chunks, max_line_bytes=10)) == expected
    assert list(iter_lines([b"a\n"])) == [(1, b"a")]
    assert list(iter_lines([])) == []


def test_GIVEN_huge_line_in_small_chunks_WHEN_iter_lines_THEN_it_is_not_kept_whole() -> None:
    held: list[int] = []

    def chunks():
        for _ in range(1000):
            yield b"x" * 1000
        yield b"\nok"

    lines = iter_lines(chunks(), max_line_bytes=5000)
    for number, line in lines:
        held.append(0 if line is None else len(line))
        assert number in (1, 2)
    assert held == [0, 2]


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
@settings(max_examples=300, deadline=None)
def test_GIVEN_random_bytes_WHEN_parsed_THEN_rows_or_a_clean_rejection(data: bytes, chunk: int) -> None:
    try:
        results = parse(HEADER.encode() + b"\n" + data, chunk)
    except UnusableFile as exc:
        raise AssertionError("a good header must never be rejected") from exc
    for r in results:
        assert isinstance(r, Row | BadRow)
    try:
        parse(data, chunk)
    except UnusableFile as exc:
        assert str(exc)


_field = st.text(alphabet=st.sampled_from('ab1 -+_"\x00\r\x1bé\u00a0\u0663:T.Z0259'), max_size=12)


@given(
    st.one_of(
        st.just("2021-02-15T12:00:00.000+01:00"),
        st.sampled_from(["2021-02-15", "x", "9999-12-31T23:59:59-01:00"]),
        _field,
    ),
    _field,
    _field,
    _field,
    st.one_of(st.integers(-(10**10), 10**10).map(str), _field),
)
@settings(max_examples=500, deadline=None)
def test_GIVEN_any_fields_WHEN_fast_path_used_THEN_same_result_as_full_checks(
    ts: str, warehouse: str, item_id: str, name: str, change: str
) -> None:
    header = _Header.parse(1, HEADER)
    line = "\t".join((ts, warehouse, item_id, name, change))
    fast = list(_parse_text(2, line, header, 65536))
    expected = [] if not line or line.isspace() else [_slow_row(2, line, header)]
    assert fast == expected


def _fold(rows: list[Row | BadRow]) -> tuple[dict[str, dict[str, list[Any]]], list[BadRow], int, int]:
    """The reference: parse_inventory's rows summed per pair in file order, as ingest used to."""
    pairs: dict[str, dict[str, list[Any]]] = {}
    bad: list[BadRow] = []
    good = total = 0
    for row in rows:
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        good += 1
        total += row.change
        entry = pairs.setdefault(row.warehouse, {}).get(row.item_id)
        if entry is None:
            entry = pairs[row.warehouse][row.item_id] = [0, "", NO_NAME_TIME]
        entry[0] += row.change
        # An empty name is no name: it never replaces one.
        if row.item_name and row.ts >= entry[2]:
            entry[1], entry[2] = row.item_name, row.ts
    return pairs, bad, good, total


_line = st.one_of(
    st.tuples(
        st.sampled_from(["2021-02-15T12:00:00.000+01:00", "2021-02-15T11:00:00Z", "2021-02-15T12:00:00", "x", ""]),
        st.sampled_from(["W1", " W1 ", "W2", "", '"W2"', "W\x00"]),
        st.sampled_from(["i1", "i2", "i1 ", "", "i\x1b"]),
        st.sampled_from(["Apple", "Pear", "", '5" Nails', "Crème"]),
        st.one_of(
            st.integers(-(10**10), 10**10).map(str),
            st.sampled_from(["1e3", "", "+4", "--2", "5.0", "-3.00", "+7.0", "5.5", "5.", "1000000001.0"]),
        ),
    ).map("\t".join),
    st.sampled_from(
        [
            "",
            "   ",
            "only\tfour\tfields\there",
            "\udcff",
            "2021-02-15T11:00:00Z\tW1\ti1\tApple\t3\t",  # trailing empty fields, as spreadsheets write
            "2021-02-15T11:00:00Z\tW1\ti1\t\t-2\t \t",
            "2021-02-15T11:00:00Z\tW1\ti2\tPear\t1\t\tx",
        ]
    ),
)


@given(st.lists(_line, max_size=40), st.integers(min_value=1, max_value=200), st.booleans())
@settings(max_examples=300, deadline=None)
def test_GIVEN_any_file_WHEN_summed_THEN_same_as_folding_parse_inventory(
    lines: list[str], chunk: int, crlf: bool
) -> None:
    text = HEADER + "\n" + "\n".join(lines) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", errors="surrogateescape")  # lone surrogates become invalid UTF-8
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    sums = sum_inventory(chunks)
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == _fold(list(parse_inventory(chunks)))
    assert not any(b.raw.endswith("\r") for b in sums.bad_rows)


def test_GIVEN_generated_file_WHEN_summed_THEN_same_as_folding_parse_inventory(tmp_path: Any) -> None:
    from local.generate import generate

    generated = generate(tmp_path, files=1, rows=5000, warehouses=3, items=50, bad_row_rate=0.05, seed=3)
    data = (tmp_path / generated.inventory_keys[0]).read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    sums = sum_inventory(chunks)
    expected = _fold(list(parse_inventory(chunks)))
    assert expected[1] and expected[2] > 4000  # the file has bad rows and good ones
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == expected


@pytest.mark.parametrize("chunk", [7, 4096])
def test_GIVEN_same_pair_at_same_instant_WHEN_summed_THEN_later_line_names_it_like_the_fold(chunk: int) -> None:
    lines = [
        "2021-02-15T12:00:00.000+01:00\tW1\ti1\tApple\t5",
        "2021-02-15T11:00:00Z\tW1\ti1\tPear\t-2",  # the same instant, a later line: its name wins
        "2021-02-15T10:00:00Z\tW1 \ti1\tOld\t1",  # earlier: adds, does not rename
        "2021-02-15T10:00:00Z\tW1\ti1\tBad\tfive",
    ]
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    sums = sum_inventory(chunks)
    assert sums.by_warehouse == {"W1": {"i1": [4, "Pear", datetime(2021, 2, 15, 11, tzinfo=UTC)]}}
    assert [b.line for b in sums.bad_rows] == [5] and (sums.good_rows, sums.total) == (3, 4)
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == _fold(list(parse_inventory(chunks)))


@pytest.mark.parametrize("chunk", [7, 4096])
def test_GIVEN_a_newer_row_without_a_name_WHEN_summed_THEN_the_pair_keeps_the_newest_real_name(chunk: int) -> None:
    lines = [
        "2021-02-15T09:00:00Z\tW\tb\tBanana\t5",
        "2021-02-15T10:00:00Z\tW\tb\t\t-1",  # newer, but no name: counts, does not rename
        "2021-02-15T11:00:00Z\tW\tb\t  \t-1",  # blank is empty too
        "2021-02-15T08:00:00Z\tW\tc\t\t2",  # a pair never named in this file
        "2021-02-15T07:00:00Z\tW\tc\t\t1",
    ]
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    sums = sum_inventory(chunks)
    # c carries no name, at a time no real name can be older than, so it never overwrites a stored name
    assert sums.by_warehouse == {
        "W": {"b": [3, "Banana", datetime(2021, 2, 15, 9, tzinfo=UTC)], "c": [3, "", NO_NAME_TIME]}
    }
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == _fold(list(parse_inventory(chunks)))


@given(
    st.lists(_line.filter(lambda line: "\udcff" not in line), max_size=30),
    st.integers(min_value=1, max_value=97),
    st.sampled_from(["utf-16-le", "utf-16-be"]),
)
@settings(max_examples=200, deadline=None)
def test_GIVEN_a_utf16_export_WHEN_parsed_THEN_the_same_rows_as_its_utf8_twin(
    lines: list[str], chunk: int, encoding: str
) -> None:
    # Spreadsheets save "Unicode text" as UTF-16 with a byte-order mark, TAB-separated, CRLF.
    text = (HEADER + "\n" + "\n".join(lines) + "\n").replace("\n", "\r\n")
    utf16 = ("\ufeff" + text).encode(encoding)
    assert parse(utf16, chunk) == parse(text)
    chunks = [utf16[i : i + chunk] for i in range(0, len(utf16), chunk)]
    sums, twin = sum_inventory(chunks), sum_inventory([text.encode()])
    assert (sums.by_warehouse, sums.bad_rows, sums.good_rows, sums.total) == (
        twin.by_warehouse,
        twin.bad_rows,
        twin.good_rows,
        twin.total,
    )


def test_GIVEN_broken_utf16_WHEN_parsed_THEN_only_the_broken_lines_are_bad() -> None:
    good = "2021-02-15T11:00:00Z\tW1\ti1\tApple\t5"
    data = ("\ufeff" + HEADER + "\n" + good + "\n").encode("utf-16-le")
    data += "W\ud800\tx\n".encode("utf-16-le", "surrogatepass")  # line 3: a lone surrogate
    data += (good + "\n").encode("utf-16-le") + b"\x41"  # line 5: one byte, half a character
    rows = parse(data, 5)
    assert [type(r).__name__ for r in rows] == ["Row", "BadRow", "Row", "BadRow"]
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [
        (3, "line is not valid UTF-8"),
        (5, "line is not valid UTF-8"),
    ]


def read_as_ingest(data: bytes, chunk: int = 7) -> list[Row | BadRow]:
    """Rows as ingest, the validator and SQL read a stored file (which they can open twice)."""
    return list(parse_inventory(inventory_bytes(lambda: [data[i : i + chunk] for i in range(0, len(data), chunk)])))


LEGACY = (
    f"{HEADER}\r\n"
    "2021-02-15T12:00:00Z\tMünchen 1\ta1\tRote Kaffeebohnen Größe S\t5\r\n"
    "2021-02-15T12:00:01Z\tBerlin 1\tb2\tT-Shirt\t-3\r\n"
    "2021-02-15T12:00:02Z\tBerlin 1\tc3\tSocken “Premium” – 2 €\t7\r\n"
)


def test_GIVEN_excel_windows_1252_export_WHEN_read_THEN_same_rows_as_its_utf8_twin() -> None:
    # Excel's "Text (Tab delimited)" on Windows: Windows-1252, CRLF. Read as UTF-8 only the lines with
    # an umlaut would be refused and the file half applied.
    legacy = read_as_ingest(LEGACY.encode("cp1252"))
    assert legacy == read_as_ingest(LEGACY.encode("utf-8"))
    assert [r.item_name for r in legacy if isinstance(r, Row)] == [
        "Rote Kaffeebohnen Größe S",
        "T-Shirt",
        "Socken “Premium” – 2 €",
    ]


def test_GIVEN_utf8_file_with_one_broken_line_WHEN_read_THEN_only_that_line_is_refused() -> None:
    # Valid UTF-8 beyond ASCII elsewhere says the file is UTF-8: the broken line is not re-read as
    # Windows-1252 (that would turn it into a garbled name rather than a bad row).
    data = LEGACY.encode("utf-8").replace("Größe".encode(), b"Gr\xf6\xdfe")
    rows = read_as_ingest(data)
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [(2, "line is not valid UTF-8")]
    assert [r.item_name for r in rows if isinstance(r, Row)] == ["T-Shirt", "Socken “Premium” – 2 €"]


def test_GIVEN_windows_1252_byte_it_leaves_undefined_WHEN_read_THEN_that_line_is_refused() -> None:
    data = LEGACY.encode("cp1252").replace(b"T-Shirt", b"T-Shirt\x81")
    rows = read_as_ingest(data)
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [(3, "line is not valid UTF-8")]
    assert [r.item_name for r in rows if isinstance(r, Row)] == ["Rote Kaffeebohnen Größe S", "Socken “Premium” – 2 €"]


def test_GIVEN_plain_ascii_or_utf16_file_WHEN_read_THEN_untouched() -> None:
    ascii_text = f"{HEADER}\n2021-02-15T12:00:00Z\tW\ta1\tA\t5\n"
    assert read_as_ingest(ascii_text.encode()) == parse(ascii_text)
    assert read_as_ingest(LEGACY.encode("utf-16")) == read_as_ingest(LEGACY.encode("utf-8"))


def test_GIVEN_utf16_file_with_a_broken_character_WHEN_read_THEN_only_that_line_is_refused() -> None:
    ascii_text = f"{HEADER}\n2021-02-15T12:00:00Z\tW\ta1\tA\t5\n2021-02-15T12:00:01Z\tW\tb1\tB\t6\n"
    data = ascii_text.encode("utf-16-le").replace("B".encode("utf-16-le"), b"\x00\xd8")  # a lone surrogate
    rows = read_as_ingest(b"\xff\xfe" + data, chunk=1)
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [(3, "line is not valid UTF-8")]
    assert [r.item_id for r in rows if isinstance(r, Row)] == ["a1"]


@pytest.mark.parametrize(
    ("warehouse", "item", "good"),
    [
        ("W" * 200, "i" * 200, True),
        ("🏭" * 125, "📦" * 125, True),  # 500 bytes each
        ("W" * 201, "i", False),
        ("W", "i" * 201, False),
        ("🏭" * 126, "i", False),  # 504 bytes
        ("W", "ü" * 251, False),  # 251 characters but also 502 bytes
    ],
)
def test_GIVEN_long_warehouse_or_item_id_WHEN_parsed_THEN_bad_beyond_the_limits(
    warehouse: str, item: str, good: bool
) -> None:
    # Names are keys: in the API's URLs and in DynamoDB's key attributes (1,024 bytes for both together).
    text = f"{HEADER}\n2021-02-15T12:00:00Z\t{warehouse}\t{item}\tName\t5\n"
    (row,) = parse(text)
    sums = sum_inventory([text.encode()])
    if good:
        assert isinstance(row, Row) and (row.warehouse, row.item_id) == (warehouse, item)
        assert sums.by_warehouse == {warehouse: {item: [5, "Name", row.ts]}}
    else:
        assert isinstance(row, BadRow)
        assert row.reason.endswith("is longer than 200 characters or 500 bytes")
        assert sums.bad_rows == [row] and sums.by_warehouse == {}


def test_GIVEN_utf32_file_WHEN_read_as_ingest_THEN_refused_as_utf32_whatever_its_byte_order() -> None:
    for encoding in ("utf-32-le", "utf-32-be"):
        data = "\ufeff" + LEGACY
        with pytest.raises(UnusableFile, match="UTF-32"):
            read_as_ingest(data.encode(encoding))


def test_GIVEN_trailing_quoted_empty_field_WHEN_parsed_THEN_as_blank_as_an_empty_one() -> None:
    (row,) = parse(f'{HEADER}\n2021-02-15T12:00:00Z\tW\ta1\tA\t5\t""\n')
    assert isinstance(row, Row) and row.change == 5
