from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.thresholds.parsing import MAX_THRESHOLD, MAX_THRESHOLDS_BYTES, InvalidThresholds, parse_thresholds


def doc(*entries: object, **extra: object) -> bytes:
    return json.dumps({"ThresholdList": list(entries), **extra}).encode()


def test_GIVEN_scenario_file_WHEN_parsed_THEN_thresholds_in_file_order() -> None:
    data = doc({"ItemId": "g45678", "RestockIfBelow": 200}, {"ItemId": "a123v5", "RestockIfBelow": 25})
    result = parse_thresholds(data)
    assert result == {"g45678": 200, "a123v5": 25}
    assert list(result) == ["g45678", "a123v5"]


def test_GIVEN_bom_empty_list_and_limits_WHEN_parsed_THEN_accepted() -> None:
    assert parse_thresholds(b"\xef\xbb\xbf" + doc()) == {}
    assert parse_thresholds(
        doc({"ItemId": " k\u00f6 ", "RestockIfBelow": 0}, {"ItemId": "b", "RestockIfBelow": MAX_THRESHOLD})
    ) == {
        "kö": 0,
        "b": MAX_THRESHOLD,
    }


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
)
def test_GIVEN_windows_tool_export_WHEN_parsed_THEN_same_as_utf8(encoding: str) -> None:
    # PowerShell 5's Out-File writes UTF-16 with a byte-order mark; RFC 4627 JSON may also come without one.
    text = json.dumps({"ThresholdList": [{"ItemId": "Größe-S", "RestockIfBelow": 25}]}, ensure_ascii=False)
    assert parse_thresholds(text.encode(encoding)) == {"Größe-S": 25}


def test_GIVEN_whole_number_written_as_float_WHEN_parsed_THEN_taken_as_that_integer() -> None:
    # Tools that keep numbers as floats (pandas, many JSON exporters) write 25 as 25.0 or 2.5e1.
    data = b'{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 25.0}, {"ItemId": "b", "RestockIfBelow": 2.5e1}]}'
    result = parse_thresholds(data)
    assert result == {"a": 25, "b": 25}
    assert all(type(v) is int for v in result.values())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b" " * (MAX_THRESHOLDS_BYTES + 1), "more than the limit"),
        (b'{"ThresholdList": ["\xff"]}', "not valid UTF-8"),
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{}", 'lacks "ThresholdList"'),
        (b'{"ThresholdList": {}}', "ThresholdList must be a list"),
        (doc(Extra=1), "unknown top-level field 'Extra'"),
        (doc(5), "entry 0 of ThresholdList is int, not an object"),
        (doc({"RestockIfBelow": 1}), "entry 0 lacks ItemId"),
        (doc({"ItemId": "", "RestockIfBelow": 1}), "entry 0: ItemId is empty"),
        (doc({"ItemId": 7, "RestockIfBelow": 1}), "entry 0: ItemId must be a string"),
        (doc({"ItemId": "a\u0000", "RestockIfBelow": 1}), "control character"),
        (doc({"ItemId": "i" * 201, "RestockIfBelow": 1}), "ItemId is longer than 200 characters or 500 bytes"),
        (doc({"ItemId": "a"}), "entry 0 (ItemId 'a') lacks RestockIfBelow"),
        (doc({"ItemId": "a", "RestockIfBelow": True}), "must be a whole number, got True"),
        (doc({"ItemId": "a", "RestockIfBelow": 2.5}), "must be a whole number, got 2.5"),
        (doc({"ItemId": "a", "RestockIfBelow": "25"}), "must be a whole number, got '25'"),
        (b'{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 1e400}]}', "must be a whole number, got inf"),
        (doc({"ItemId": "a", "RestockIfBelow": 1e10}), "between 0 and"),
        (b"\xff\xfe" + '{"ThresholdList": []}'.encode("utf-16-le") + b"\x00\xd8", "not valid UTF-16"),
        (doc({"ItemId": "a", "RestockIfBelow": -1}), "between 0 and"),
        (doc({"ItemId": "a", "RestockIfBelow": MAX_THRESHOLD + 1}), "between 0 and"),
        (doc({"ItemId": "a", "RestockIfBelow": 1, "Note": "x"}), "entry 0 (ItemId 'a') has unknown field 'Note'"),
        (
            doc(
                {"ItemId": "a", "RestockIfBelow": 1},
                {"ItemId": "b", "RestockIfBelow": 1},
                {"ItemId": "a", "RestockIfBelow": 2},
            ),
            "entry 2 (ItemId 'a') repeats the ItemId of entry 0",
        ),
        (b'{"ThresholdList": [{"ItemId": "a", "ItemId": "b", "RestockIfBelow": 1}]}', "key 'ItemId' twice"),
        (b'{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": NaN}]}', "NaN"),
        (b"[" * 100_000, "too deep"),
    ],
)
def test_GIVEN_invalid_file_WHEN_parsed_THEN_one_line_rejection(data: bytes, message: str) -> None:
    with pytest.raises(InvalidThresholds) as info:
        parse_thresholds(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" \n\t\r\n",
        b"\xef\xbb\xbf",
        b"\xef\xbb\xbf\r\n",
        b"\xff\xfe",
        " \r\n".encode("utf-16"),
        "\n".encode("utf-32"),
    ],
)
def test_GIVEN_empty_file_WHEN_parsed_THEN_says_it_is_empty(data: bytes) -> None:
    # rather than json's "Expecting value at line 1 column 1"
    with pytest.raises(InvalidThresholds) as info:
        parse_thresholds(data)
    assert str(info.value) == "thresholds file is empty"


_LISTED = '"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 1}]'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # trailing commas, as JavaScript, JSON5 and many editors allow
        ("{\n  " + _LISTED + ",\n}\n", "trailing comma at line 2 column 58"),
        ('{"ThresholdList": [\n  {"ItemId": "a", "RestockIfBelow": 1},\n  ]}', "trailing comma at line 2 column 39"),
        ('{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 1,}]}', "trailing comma at line 1 column 55"),
        ('{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 1}],\r\n\t}', "trailing comma at line 1 column 57"),
        # comments, wherever json stops at them
        ("// thresholds for February\n{" + _LISTED + "}", "comments are not allowed (line 1)"),
        ("{\n  /* new values */\n  " + _LISTED + "\n}", "comments are not allowed (line 2)"),
        ('{"ThresholdList": [ # none yet\n]}', "comments are not allowed (line 1)"),
        ("{" + _LISTED + "}\n\n// end\n", "comments are not allowed (line 3)"),
        ('{"ThresholdList": [{"ItemId": "a", "RestockIfBelow": 1 // was 5\n}]}', "comments are not allowed (line 1)"),
        # anything else: json's words, where it is
        ("{", "the file ends before the JSON does (an unclosed bracket?) at line 1 column 2"),
        ('{"ThresholdList": [\n', "the file ends before the JSON does (an unclosed bracket?) at line 2 column 1"),
        ('{"ThresholdList": [{"ItemId": "a', "Unterminated string starting at line 1 column 31"),
        ("{'ThresholdList': []}", "Expecting property name enclosed in double quotes at line 1 column 2"),
        ('{"ThresholdList": [1,,2]}', "Expecting value at line 1 column 22"),
        ("[,]", "Expecting value at line 1 column 2"),  # a stray comma, not a trailing one
        ('{"ThresholdList": [1/2]}', "Expecting ',' delimiter at line 1 column 21"),
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_GIVEN_invalid_json_WHEN_parsed_THEN_the_reason_names_the_problem_and_where(
    text: str, reason: str, encoding: str
) -> None:
    with pytest.raises(InvalidThresholds) as info:
        parse_thresholds(text.encode(encoding))
    assert str(info.value) == f"thresholds file is not valid JSON: {reason}"


def test_GIVEN_comment_and_comma_characters_inside_strings_WHEN_parsed_THEN_accepted() -> None:
    data = b'{"ThresholdList": [{"ItemId": "http://x/*y*/#z,]", "RestockIfBelow": 1}]}'
    assert parse_thresholds(data) == {"http://x/*y*/#z,]": 1}


@given(st.binary(max_size=500))
@settings(max_examples=300, deadline=None)
def test_GIVEN_random_bytes_WHEN_parsed_THEN_dict_or_clean_rejection(data: bytes) -> None:
    try:
        result = parse_thresholds(data)
    except InvalidThresholds as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert all(isinstance(k, str) and type(v) is int for k, v in result.items())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["ItemId", "RestockIfBelow", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(_json, max_size=4))
@settings(max_examples=300, deadline=None)
def test_GIVEN_random_entries_WHEN_parsed_THEN_dict_or_clean_rejection(entries: list[object]) -> None:
    try:
        parse_thresholds(doc(*entries))
    except InvalidThresholds as exc:
        assert str(exc) and "\n" not in str(exc)
