"""Object keys of the data bucket: validation, classification and the dates they carry.

The scenario writes keys with a leading slash (/inventory_files/2021/02/15/...); S3 keys have none, so
one leading slash is dropped and everything else must already be clean.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal

from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX

MAX_KEY_BYTES = 1024  # S3's limit

Kind = Literal["inventory", "thresholds"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# 14 digits (yyyymmddHHMMSS) or 12 (yyyymmddHHMM), not followed by yet another digit.
_STAMP = re.compile(r"(\d{14}|\d{12})(?!\d)", re.ASCII)
_INVENTORY_SUFFIXES = (".csv", ".tsv", ".txt")


class BadKey(ValueError):
    """The key (or file name) cannot be used; str(exc) is one clear sentence."""


class UndatedName(BadKey):
    """An inventory file's name without a real date stamp, outside a dated folder."""


def normalize_key(key: str) -> str:
    """The key without its optional leading slash, or BadKey if it is not a clean data key."""
    if key.startswith("/"):
        key = key[1:]
    if not key:
        raise BadKey("key is empty")
    if _CONTROL.search(key):
        raise BadKey(f"key {key!r} contains a control character")
    if "\\" in key:
        raise BadKey(f"key {key!r} contains a backslash")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadKey(f"key {key!r} is not valid Unicode") from None
    if size > MAX_KEY_BYTES:
        raise BadKey(f"key is {size} bytes long, more than {MAX_KEY_BYTES}")
    if not key.startswith((INVENTORY_PREFIX, THRESHOLDS_PREFIX)):
        raise BadKey(f"key {key!r} must start with {INVENTORY_PREFIX} or {THRESHOLDS_PREFIX}")
    if key.endswith("/"):
        raise BadKey(f"key {key!r} ends in / and names a folder, not a file")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise BadKey(f"key {key!r} has an empty, '.' or '..' path segment")
    return key


_LAYOUT = re.compile(r"([^/]+/)(\d{4})/(\d{2})/(\d{2})/[^/]+", re.ASCII)


def check_layout(key: str) -> None:
    """BadKey unless the key is <prefix>/YYYY/MM/DD/<file name> with a real date.

    Checked where files are stored locally (`put`, the inbox), not where they are processed: a file
    already in the bucket is applied wherever it lies, since nothing may be dropped. Only in this layout
    do Athena's partitions and `inventory sql --from/--to` find a file.
    """
    key = normalize_key(key)
    match = _LAYOUT.fullmatch(key)
    if match is not None:
        prefix, year, month, day = match.groups()
        try:
            date(int(year), int(month), int(day))
            return
        except ValueError:
            pass
    else:
        prefix = INVENTORY_PREFIX if key.startswith(INVENTORY_PREFIX) else THRESHOLDS_PREFIX
    raise BadKey(f"key {key!r} must look like {prefix}YYYY/MM/DD/<file name>, with a real date")


def is_data_key(key: str) -> bool:
    """Whether the files service takes this key (an object under any other key is refused as bad_key)."""
    try:
        classify_key(key)
    except BadKey:
        return False
    return True


def classify_key(key: str) -> Kind:
    """Which kind of file a key holds, or BadKey."""
    key = normalize_key(key)
    if key.startswith(INVENTORY_PREFIX):
        return "inventory"
    if not key.lower().endswith(".json"):
        raise BadKey(f"thresholds key {key!r} must end with .json")
    return "thresholds"


def _parse_stamp(digits: str) -> datetime | None:
    try:
        return datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def file_stamp(key: str) -> datetime | None:
    """The UTC time stamp (yyyymmddHHMMSS or yyyymmddHHMM) at the start of the file name, if any."""
    match = _STAMP.match(key.rsplit("/", 1)[-1])
    return _parse_stamp(match.group(1)) if match else None


def key_date(key: str) -> date | None:
    """The date of the key's <prefix>/<year>/<month>/<day>/ folders, else of its file stamp, else None."""
    parts = key.removeprefix("/").split("/")
    if len(parts) >= 5:
        folders = parts[1:4]
        widths_ok = len(folders[0]) == 4 and len(folders[1]) <= 2 and len(folders[2]) <= 2
        if widths_ok and all(p.isascii() and p.isdigit() for p in folders):
            try:
                return date(*(int(p) for p in folders))
            except ValueError:
                pass
    stamp = file_stamp(key)
    return stamp.date() if stamp else None


def day_of(mtime: float) -> date:
    """The UTC day of a file's modification time: the date of a file whose name carries no stamp. Not the
    day it is put: a file put again (after a crash, or on another day) must get the same key, or the
    same content would be applied twice under two keys."""
    return datetime.fromtimestamp(mtime, UTC).date()


def key_for_upload(filename: str, today: date) -> str:
    """The bucket key for a local file: prefix by kind, dated by the file's stamp; a thresholds file
    without one by `today` (the callers pass `day_of` the file's modification time).

    Only the last path component of `filename` is used.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    lower = name.lower()
    if lower.endswith(".json"):
        prefix = THRESHOLDS_PREFIX
    elif "inventory" in lower and lower.endswith(_INVENTORY_SUFFIXES):
        prefix = INVENTORY_PREFIX
    else:
        raise BadKey(f"cannot tell from the name {name!r} whether it is an inventory or a thresholds file; pass --key")
    stamp = file_stamp(name)
    if stamp is None and prefix == INVENTORY_PREFIX:
        # A day guessed for an inventory file (today, or its modification day) changes when the same file
        # is sent again, and under a second key its rows would count twice. A thresholds file applied
        # again changes nothing, so it may take `today`.
        raise UndatedName(
            f"cannot tell which day {name!r} is from: name it YYYYMMDDHHMMSS_inventory.csv (a real date and "
            f"time, as the scenario's files are) or pass --key inventory_files/YYYY/MM/DD/{name}"
        )
    day = stamp.date() if stamp else today
    return normalize_key(f"{prefix}{day.year:04d}/{day.month:02d}/{day.day:02d}/{name}")


def key_in_folder(relative: str, today: date) -> str:
    """The bucket key of a file at `relative` (a '/'-separated path) in a folder: `put FOLDER`, serve's inbox.

    A path under one of the two prefixes is the key itself and must be laid out like one (check_layout).
    Any other path gets the key `put FILE` gives its file name (key_for_upload), so a flat folder of
    20210219110000_inventory.csv files needs no dated subfolders. A path that is neither is refused for
    not being under a prefix, which says how to lay it out.
    """
    if not relative.startswith((INVENTORY_PREFIX, THRESHOLDS_PREFIX)):
        try:
            return key_for_upload(relative, today)
        except UndatedName:
            raise  # an inventory file by its name: what it lacks is the date, say so
        except BadKey:
            pass  # not derivable either: normalize_key below names the prefixes it must start with
    key = normalize_key(relative)
    classify_key(key)
    check_layout(key)
    return key
