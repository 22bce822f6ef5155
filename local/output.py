"""Print results as a rich table, JSON or CSV (CSV cells that a spreadsheet would run are neutralised)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix text a spreadsheet would treat as a formula with a quote; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(cell(row.get(c))) for c in columns])
    return buffer.getvalue()


def cell(value: Any) -> Any:
    """A value as every table and CSV shows it (booleans as `true`/`false`, as in JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def emit(data: Any, fmt: str, columns: Sequence[str] | None = None, title: str | None = None) -> None:
    rows = data if isinstance(data, list) else [data]
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt == "csv":
        sys.stdout.write(to_csv(rows, cols))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for c in cols:
        numeric = bool(rows) and isinstance(rows[0].get(c), int) and not isinstance(rows[0].get(c), bool)
        # Fold, never cut: keys and ids in a table are there to be copied into the next command.
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(cell(row.get(c)))) for c in cols))
    Console().print(table)
    if not rows:
        Console(stderr=True).print("(no rows)")
