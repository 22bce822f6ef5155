"""The run's report, stored next to the data: JSON (everything) and CSV (the findings, for a spreadsheet)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from validator.checks import FindingRecord, finding_dict

PREFIX = "validation_reports/"
# Text a spreadsheet would run as a formula. The same rule as local.output; repeated here so the
# validator's container does not need the local runtime's package.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_key(run_id: str, started_at: datetime) -> str:
    return f"{PREFIX}{started_at:%Y/%m/%d}/{run_id}.json"


def csv_key(json_key: str) -> str:
    return json_key.removesuffix(".json") + ".csv"


def _neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def findings_csv(findings: Sequence[FindingRecord]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["kind", "file_key", "line", "message"])
    for f in findings:
        writer.writerow([_neutralise(f.kind), _neutralise(f.file_key), f.line or "", _neutralise(f.message)])
    return buffer.getvalue().encode("utf-8")


def report_json(summary: dict[str, Any], files: Sequence[dict[str, Any]], findings: Sequence[FindingRecord]) -> bytes:
    body = {
        **summary,
        "files_checked": list(files),
        "findings_listed": len(findings),
        "findings_list": [finding_dict(f) for f in findings],
    }
    return json.dumps(body, indent=1, ensure_ascii=False, default=str).encode("utf-8")
