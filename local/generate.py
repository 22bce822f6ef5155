"""Realistic sample data laid out like the bucket: inventory files and a restock thresholds file.

Deterministic for a seed (one random.Random, no clock). Fast enough for a million rows: lines are
built with f-strings and written in one go, timestamps are formatted from integers.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange"
BOM = "\ufeff"

# Rows carry the warehouses' local time; February in Germany is CET.
_LOCAL = timezone(timedelta(hours=1))
_OFFSET = "+01:00"
# Files of a day share its business hours, 06:00 to 22:00 local time.
_DAY_START = 6 * 3600
_DAY_SECONDS = 16 * 3600

_CITIES = (
    "Aachen", "Berlin", "Bielefeld", "Bochum", "Bonn", "Borkum", "Braunschweig", "Bremen", "Chemnitz",
    "Darmstadt", "Dortmund", "Dresden", "Duisburg", "Düsseldorf", "Erfurt", "Essen", "Frankfurt",
    "Freiburg", "Göttingen", "Hamburg", "Hannover", "Kiel", "Köln", "Leipzig", "Lübeck", "Mainz",
    "Mannheim", "München", "Münster", "Nürnberg", "Osnabrück", "Potsdam", "Regensburg", "Rostock",
    "Saarbrücken", "Stuttgart", "Ulm", "Würzburg",
)  # fmt: skip
_ADJECTIVES = (
    "tecRacer", "AWS", "Classic", "Premium", "Eco", "Mini", "Super", "Grüne", "Schwere", "Leichte",
    "Blaue", "Rote", "Bio", "Smart", "Retro",
)  # fmt: skip
_NOUNS = (
    "T-Shirt", "Sticker", "Kaffeebohnen", "Hoodie", "Tasse", "Notizbuch", "Kugelschreiber", "Rucksack",
    "Regenschirm", "Thermoskanne", "Mütze", "Socken", "Schlüsselband", "Mauspad", "Powerbank",
    "Book of tecRacer", "Wasserflasche", "Brotdose", "Schal", "Handtuch",
)  # fmt: skip
_SIZES = (
    "",
    "",
    " Größe S",
    " Größe M",
    " Größe L",
    " XL",
    " 500 g",
    " 1 kg",
    " (2er-Pack)",
    " – Edition 2021",
)
# Names that exercise quoting, markup escaping and unicode downstream; the first items get them.
_SPECIAL_NAMES = ('5" Nails', "Tom & Jerry <Mug>", "Kaffeebohnen Größe L", "Crème brûlée Set ☕")
_THRESHOLD_CHOICES = (5, 15, 20, 25, 50, 100, 200)
_BAD_TIMESTAMPS = ("15.02.2021 12:00", "yesterday", "2021-02-30T10:00:00", "2021-13-01T00:00:00+01:00", "")
_BAD_CHANGES = ("4.5", "-3,5", "five", "1e3", "--2", "")  # "4.0" is 4, not a bad row


@dataclass
class GeneratedSet:
    inventory_keys: list[str]
    thresholds_keys: list[str]
    rows: int  # data rows over all files, bad ones included
    bad_rows: int


def _warehouses(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        number = 1 + int(rng.random() * (9 if count <= len(_CITIES) * 9 else count))
        name = f"{rng.choice(_CITIES)} {number}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _items(rng: random.Random, count: int) -> list[tuple[str, str]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        # Shaped like the scenario's a123v5 (room for 6.76 million distinct ids).
        number = int(rng.random() * 1000)
        item_id = f"{rng.choice(letters)}{number:03d}{rng.choice(letters)}{int(rng.random() * 10)}"
        if item_id not in seen:
            seen.add(item_id)
            ids.append(item_id)
    names = [
        _SPECIAL_NAMES[i] if i < len(_SPECIAL_NAMES) else
        f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}{rng.choice(_SIZES)}"
        for i in range(count)
    ]  # fmt: skip
    return list(zip(ids, names, strict=True))


def _timestamps(rng: random.Random, day: date, begin: int, end: int, count: int) -> list[str]:
    """`count` sorted local timestamps with milliseconds in [begin, end) seconds after midnight."""
    prefix = f"{day.isoformat()}T"
    span_ms = (end - begin) * 1000
    offsets = sorted(int(rng.random() * span_ms) for _ in range(count))
    out: list[str] = []
    append = out.append
    for off in offsets:
        seconds, ms = divmod(off, 1000)
        seconds += begin
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        append(f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}{_OFFSET}")
    return out


def _bad_line(rng: random.Random, ts: str, warehouse: str, item_id: str, name: str, change: int) -> str:
    kind = rng.random()
    if kind < 0.25:
        return f"{rng.choice(_BAD_TIMESTAMPS)}\t{warehouse}\t{item_id}\t{name}\t{change}"
    if kind < 0.5:
        return f"{ts}\t \t{item_id}\t{name}\t{change}"
    if kind < 0.75:
        return f"{ts}\t{warehouse}\t{item_id}\t{name}\t{rng.choice(_BAD_CHANGES)}"
    return f"{ts}\t{warehouse}\t{item_id}\t{change}"  # ItemName left out


def _file_days(start: date, days: int, files: int) -> list[date]:
    return [start + timedelta(days=i * days // files) for i in range(files)]


def generate(
    out_dir: Path,
    *,
    files: int = 6,
    rows: int = 200,
    warehouses: int = 5,
    items: int = 40,
    seed: int = 1,
    days: int = 3,
    start: date = date(2021, 2, 15),
    bad_row_rate: float = 0.0,
    thresholds: bool = True,
    variants: bool = True,
) -> GeneratedSet:
    """Write `files` inventory files with `rows` data rows in all, spread over `days` days.

    With `variants`, every third file (from the second) uses CRLF, every fourth (from the third) starts
    with a UTF-8 BOM and the last of several files has a 12-digit (minute) stamp.
    """
    if files < 1 or days < 1 or warehouses < 1 or items < 1 or rows < 0:
        raise ValueError("files, days, warehouses and items must be at least 1 and rows at least 0")
    if items > 1_000_000:
        raise ValueError("at most 1,000,000 items")
    if not 0.0 <= bad_row_rate <= 1.0:
        raise ValueError("bad_row_rate must be between 0 and 1")
    rng = random.Random(seed)
    warehouse_names = _warehouses(rng, warehouses)
    item_list = _items(rng, items)
    levels: dict[tuple[int, int], int] = {}
    file_days = _file_days(start, days, files)
    per_day = {d: file_days.count(d) for d in file_days}
    slot_of_day: dict[date, int] = {}
    inventory_keys: list[str] = []
    bad_total = 0
    for index, day in enumerate(file_days):
        slot = slot_of_day.get(day, 0)
        slot_of_day[day] = slot + 1
        width = _DAY_SECONDS // per_day[day]
        if width < 1:
            raise ValueError("too many files per day for distinct second stamps")
        begin = _DAY_START + slot * width
        count = rows * (index + 1) // files - rows * index // files
        stamps = _timestamps(rng, day, begin, begin + width, count)
        lines: list[str] = [HEADER]
        append = lines.append
        random_ = rng.random
        for ts in stamps:
            # Skewed towards low indices so popular items repeat and their stock actually runs down.
            w = int(random_() * warehouses)
            i = int(random_() ** 2 * items)
            level = levels.get((w, i), 0)
            if (level < 10 and (level <= 0 or random_() < 0.5)) or random_() < 0.03:
                change = 100 * (1 + int(random_() * 5))
            else:
                change = -(1 + int(random_() * min(level, 40)))
            item_id, name = item_list[i]
            if bad_row_rate and random_() < bad_row_rate:
                append(_bad_line(rng, ts, warehouse_names[w], item_id, name, change))
                bad_total += 1
                continue
            levels[w, i] = level + change
            append(f"{ts}\t{warehouse_names[w]}\t{item_id}\t{name}\t{change}")
        crlf = variants and index % 3 == 1
        bom = variants and index % 4 == 2
        short_stamp = variants and files > 1 and index == files - 1
        end_local = datetime.combine(day, datetime.min.time(), _LOCAL) + timedelta(seconds=begin + width - 1)
        stamp = end_local.astimezone(UTC).strftime("%Y%m%d%H%M" if short_stamp else "%Y%m%d%H%M%S")
        key = f"{INVENTORY_PREFIX}{day:%Y/%m/%d}/{stamp}_inventory.csv"
        newline = "\r\n" if crlf else "\n"
        _write(out_dir / key, (BOM if bom else "") + newline.join(lines) + newline)
        inventory_keys.append(key)
    thresholds_keys: list[str] = []
    if thresholds:
        day = start + timedelta(days=days // 2)
        chosen = rng.sample(range(items), max(1, items // 4))
        document = {
            "ThresholdList": [
                {"ItemId": item_list[i][0], "RestockIfBelow": rng.choice(_THRESHOLD_CHOICES)} for i in sorted(chosen)
            ]
        }
        key = f"{THRESHOLDS_PREFIX}{day:%Y/%m/%d}/restock_thresholds.json"
        _write(out_dir / key, json.dumps(document, indent=4, ensure_ascii=False) + "\n")
        thresholds_keys.append(key)
    return GeneratedSet(inventory_keys, thresholds_keys, rows, bad_total)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # newline="" so the CRLF variant is written exactly as built.
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write sample inventory and thresholds files.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rows", type=int, default=200, help="data rows over all files")
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--bad-row-rate", type=float, default=0.0)
    parser.add_argument("--plain", action="store_true", help="no CRLF/BOM/short-stamp variants")
    args = parser.parse_args(argv)
    result = generate(
        args.out_dir,
        files=args.files,
        rows=args.rows,
        warehouses=args.warehouses,
        items=args.items,
        seed=args.seed,
        days=args.days,
        bad_row_rate=args.bad_row_rate,
        variants=not args.plain,
    )
    print(f"{len(result.inventory_keys)} inventory files, {result.rows} rows ({result.bad_rows} bad)")


if __name__ == "__main__":
    main()
