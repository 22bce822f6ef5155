"""An independent, deliberately naive reading of inventory files, used to check the system's numbers."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

_INT = re.compile(r"[+-]?[0-9]+")
COLUMNS = ("timestamp", "warehousename", "itemid", "itemname", "stocklevelchange")


def good_rows(data: bytes) -> list[tuple[str, str, int]]:
    """(warehouse, item_id, change) of each row a careful reader would accept."""
    text_lines = data.split(b"\n")
    out: list[tuple[str, str, int]] = []
    header: list[str] | None = None
    for raw in text_lines:
        try:
            line = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r")
        except UnicodeDecodeError:
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if header is None:
            header = [f.strip().lower() for f in fields]
            continue
        if len(fields) != len(header):
            continue
        row = dict(zip(header, fields, strict=True))
        ts, wh, item, change = (
            row[c].strip().strip('"') for c in ("timestamp", "warehousename", "itemid", "stocklevelchange")
        )
        try:
            datetime.fromisoformat(ts)
        except ValueError:
            continue
        if not wh or not item or not _INT.fullmatch(change) or abs(int(change)) > 1_000_000_000:
            continue
        out.append((wh, item, int(change)))
    return out


def levels(files: list[Path]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for path in files:
        for wh, item, change in good_rows(path.read_bytes()):
            totals[(wh, item)] += change
    return dict(totals)
