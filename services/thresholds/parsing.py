"""Parser for restock threshold files: all or nothing.

A threshold file changes purchasing behaviour for many items at once, so a file with any doubtful
entry is rejected whole rather than applied in part. Checked by hand rather than with pydantic: the
rules are few and hand-written messages can name the entry index, ItemId and field in one sentence.
"""

from __future__ import annotations

import json
import re
from typing import Any

from adapters.limits import MAX_NAME_BYTES, MAX_NAME_CHARS, MAX_THRESHOLD

MAX_THRESHOLDS_BYTES = 10 * 1024 * 1024

_TOP_KEYS = frozenset({"ThresholdList"})
_ENTRY_KEYS = ("ItemId", "RestockIfBelow")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class InvalidThresholds(Exception):
    """The threshold file cannot be used; str(exc) is one clear sentence."""


class _Unacceptable(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads silently keeps the last of two equal keys; a file that says two things is rejected.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Unacceptable(f"object has the key {key!r} twice")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _Unacceptable(f"{name} is not a JSON number")


def _short(value: Any, limit: int = 50) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _load(data: bytes) -> Any:
    if len(data) > MAX_THRESHOLDS_BYTES:
        raise InvalidThresholds(f"thresholds file is {len(data)} bytes, more than the limit of {MAX_THRESHOLDS_BYTES}")
    # JSON may come as UTF-8 (a byte-order mark or not) or, from Windows tools such as PowerShell's
    # Out-File, as UTF-16/UTF-32; json.detect_encoding tells them apart as RFC 4627 describes.
    encoding = json.detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.removesuffix("-sig").removesuffix("-le").removesuffix("-be").upper()
        raise InvalidThresholds(f"thresholds file is not valid {name} (byte {exc.start})") from None
    # A file saved before anything was typed into it: json would say "Expecting value at line 1 column 1".
    if not text.replace("\ufeff", "").strip():
        raise InvalidThresholds("thresholds file is empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidThresholds(f"thresholds file is not valid JSON: {_json_problem(text, exc)}") from None
    except _Unacceptable as exc:
        raise InvalidThresholds(f"thresholds file is not acceptable JSON: {exc}") from None
    except (ValueError, RecursionError):
        # ValueError: an integer with thousands of digits; RecursionError: absurdly deep nesting.
        raise InvalidThresholds("thresholds file is not acceptable JSON: too large a number or too deep") from None


def _json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """What json refused, named as a person editing the file would: comments and trailing commas (both
    fine in JavaScript, JSON5 and many editors, not in JSON) by name, anything else by json's own words;
    always with where it is."""
    pos = exc.pos
    if text.startswith(("//", "/*", "#"), pos):  # json stops right where a comment starts
        return f"comments are not allowed (line {exc.lineno})"
    comma = -1
    if "trailing comma" in exc.msg:  # Python 3.13+ names it itself, at the comma
        comma = pos
    elif text.startswith(("]", "}"), pos):  # earlier versions stop at the bracket after it
        comma = pos - 1
        while comma >= 0 and text[comma] in _JSON_SPACE:
            comma -= 1
    if comma >= 0 and text.startswith(",", comma):
        line, column = text.count("\n", 0, comma) + 1, comma - text.rfind("\n", 0, comma)
        return f"trailing comma at line {line} column {column}"
    if not text[pos:].strip(_JSON_SPACE):  # a cut-off upload: json would say what it expected next
        return f"the file ends before the JSON does (an unclosed bracket?) at line {exc.lineno} column {exc.colno}"
    # Some of json's messages end in " at" ("Unterminated string starting at"): one "at" is enough.
    return f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"


_JSON_SPACE = " \t\r\n"


def _entry(index: int, entry: Any) -> tuple[str, int]:
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise InvalidThresholds(f"{where} of ThresholdList is {type(entry).__name__}, not an object")
    item_id = entry.get("ItemId")
    if isinstance(item_id, str):
        # The inventory parser strips ItemIds too, so both files name an item the same way.
        item_id = item_id.strip()
        if item_id:
            where = f"{where} (ItemId {_short(item_id)})"
    unknown = [k for k in entry if k not in _ENTRY_KEYS]
    if unknown:
        raise InvalidThresholds(f"{where} has unknown field {_short(unknown[0])}")
    if "ItemId" not in entry:
        raise InvalidThresholds(f"{where} lacks ItemId")
    if not isinstance(item_id, str):
        raise InvalidThresholds(f"{where}: ItemId must be a string, got {_short(item_id)}")
    if not item_id:
        raise InvalidThresholds(f"{where}: ItemId is empty")
    if _CONTROL.search(item_id):
        raise InvalidThresholds(f"{where}: ItemId contains a control character")
    if len(item_id) > MAX_NAME_CHARS or len(item_id.encode()) > MAX_NAME_BYTES:
        # The inventory parser refuses such ids too: no stock could ever carry this threshold.
        raise InvalidThresholds(f"{where}: ItemId is longer than {MAX_NAME_CHARS} characters or {MAX_NAME_BYTES} bytes")
    if "RestockIfBelow" not in entry:
        raise InvalidThresholds(f"{where} lacks RestockIfBelow")
    value = entry["RestockIfBelow"]
    # JSON has one number type: tools that hold numbers as floats write 25 as 25.0, which means 25.
    # bool is an int subclass, and "25" is text; neither is a number here.
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise InvalidThresholds(f"{where}: RestockIfBelow must be a whole number, got {_short(value)}")
    if not 0 <= value <= MAX_THRESHOLD:
        raise InvalidThresholds(f"{where}: RestockIfBelow must be between 0 and {MAX_THRESHOLD}, got {value}")
    return item_id, value


def parse_thresholds(data: bytes) -> dict[str, int]:
    """ItemId -> RestockIfBelow in file order, or InvalidThresholds naming the first problem."""
    document = _load(data)
    if not isinstance(document, dict):
        raise InvalidThresholds(
            f'thresholds file must be a JSON object with "ThresholdList", not {type(document).__name__}'
        )
    unknown = [k for k in document if k not in _TOP_KEYS]
    if unknown:
        raise InvalidThresholds(f"thresholds file has unknown top-level field {_short(unknown[0])}")
    if "ThresholdList" not in document:
        raise InvalidThresholds('thresholds file lacks "ThresholdList"')
    entries = document["ThresholdList"]
    if not isinstance(entries, list):
        raise InvalidThresholds(f"ThresholdList must be a list, not {type(entries).__name__}")
    result: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for index, raw in enumerate(entries):
        item_id, value = _entry(index, raw)
        if item_id in result:
            raise InvalidThresholds(
                f"entry {index} (ItemId {_short(item_id)}) repeats the ItemId of entry {first_index[item_id]}"
            )
        result[item_id] = value
        first_index[item_id] = index
    return result
