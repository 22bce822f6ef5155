"""The CLI through several files and a thresholds change: the exact alerts and mails, and a harmless replay."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"


def run(env: dict[str, str], *args: str) -> Any:
    proc = subprocess.run(["inventory", "--format", "json", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def put(env: dict[str, str], tmp: Path, key: str, text: str) -> None:
    path = tmp / Path(key).name
    path.write_text(text, encoding="utf-8")
    run(env, "put", str(path), "--key", key)
    run(env, "process")


def subjects(env: dict[str, str]) -> list[str]:
    return sorted(m["subject"] for m in run(env, "mail", "list"))


def test_exact_alerts_and_mails_then_replay_changes_nothing(tmp_path: Path, cli_env: dict[str, str]) -> None:
    day = "inventory_files/2021/02/15/"
    put(
        cli_env,
        tmp_path,
        day + "20210215080000_inventory.csv",
        HEADER
        + "2021-02-15T08:00:00+01:00\tBerlin 1\ta123v5\ttecRacer T-Shirt\t30\n"
        + "2021-02-15T08:01:00+01:00\tBerlin 1\tg45678\tAWS Sticker\t500\n"
        + "2021-02-15T08:02:00+01:00\tBremen 4\ta123v5\ttecRacer T-Shirt\t12\n",
    )
    put(
        cli_env,
        tmp_path,
        day + "202102150900_inventory.csv",
        HEADER  # a 12-digit stamp
        + "2021-02-15T09:00:00Z\tBerlin 1\ta123v5\ttecRacer T-Shirt\t-22\n"  # 30 → 8: crosses 10
        + "2021-02-15T09:01:00Z\tBremen 4\ta123v5\ttecRacer T-Shirt\t-1\n"  # 12 → 11: stays above
        + "not a time\tBremen 4\ta123v5\ttecRacer T-Shirt\t-1\n",
    )  # a bad row
    put(
        cli_env,
        tmp_path,
        "restock_thresholds/2021/02/15/restock_thresholds.json",
        json.dumps(
            {"ThresholdList": [{"ItemId": "a123v5", "RestockIfBelow": 25}, {"ItemId": "g45678", "RestockIfBelow": 200}]}
        ),
    )
    put(
        cli_env,
        tmp_path,
        day + "20210215100000_inventory.csv",
        HEADER
        + "2021-02-15T10:00:00Z\tBerlin 1\ta123v5\ttecRacer T-Shirt\t-1\n"  # still below: no repeat
        + "2021-02-15T10:01:00Z\tBerlin 1\tg45678\tAWS Sticker\t-350\n",
    )  # 500 → 150 < 200: crosses

    alerts = run(cli_env, "events", "list", "--type", "BelowThreshold")
    got = sorted(
        (
            a["detail"]["warehouse"],
            a["detail"]["item_id"],
            a["detail"]["level"],
            a["detail"]["threshold"],
            a["detail"]["cause"],
        )
        for a in alerts
    )
    assert got == [
        ("Berlin 1", "a123v5", 8, 10, "stock_change"),
        ("Berlin 1", "g45678", 150, 200, "stock_change"),
        ("Bremen 4", "a123v5", 11, 25, "threshold_update"),
    ]
    expected_subjects = [
        "Bad rows in 202102150900_inventory.csv: 1",
        "Restock needed: 1 item(s) below threshold",
        "Restock needed: 1 item(s) below threshold",
        "Restock needed: 1 item(s) below threshold",
    ]
    assert subjects(cli_env) == expected_subjects
    levels_before = run(cli_env, "report", "restock")
    assert [(r["warehouse"], r["item_id"], r["level"]) for r in levels_before] == [
        ("Berlin 1", "a123v5", 7),
        ("Berlin 1", "g45678", 150),
        ("Bremen 4", "a123v5", 11),
    ]

    # WHEN everything is replayed from the archive
    replay = run(cli_env, "events", "replay", "--since", "2000-01-01T00:00:00Z")
    assert replay["deliveries"] > 0 and replay["dead"] == 0
    # THEN no level changes and no second mail goes out
    assert run(cli_env, "report", "restock") == levels_before
    assert run(cli_env, "report", "item", "a123v5")["total"] == 7 + 11
    assert subjects(cli_env) == expected_subjects
    assert len(run(cli_env, "events", "list", "--type", "BelowThreshold")) == 3


def test_other_systems_put_validated_events(tmp_path: Path, cli_env: dict[str, str]) -> None:
    detail = {
        "warehouse": "Aachen 1",
        "item_id": "r345v7",
        "item_name": "Kaffeebohnen",
        "level": 2,
        "threshold": 10,
        "cause": "stock_change",
        "file_key": "external",
    }
    (tmp_path / "d.json").write_text(json.dumps(detail))
    put_result = run(
        cli_env,
        "events",
        "put",
        "BelowThreshold",
        "--detail",
        f"@{tmp_path / 'd.json'}",
        "--source",
        "inventory.alerts",
    )
    run(cli_env, "process")
    (event,) = run(cli_env, "events", "list", "--type", "BelowThreshold")
    assert event["id"] == put_result["id"] and event["detail"] == detail
    assert subjects(cli_env) == ["Restock needed: 1 item(s) below threshold"]
