"""Encryption at rest of the local home: nothing readable in a copy of it, and keys that rotate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import as_json, run
from tests.oracle import good_rows

pytestmark = pytest.mark.slow


def secrets_in(samples: Path) -> set[bytes]:
    found: set[bytes] = set()
    for path in samples.rglob("*_inventory.csv"):
        for line in path.read_bytes().decode("utf-8-sig").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == 5:
                found |= {f.strip().encode() for f in fields[1:4] if len(f.strip()) >= 4}
    for wh, item, _ in (r for p in samples.rglob("*_inventory.csv") for r in good_rows(p.read_bytes())):
        found |= {wh.encode(), item.encode()}
    return found


def every_report(env: dict[str, str]) -> Any:
    restock = as_json(env, "report", "restock")
    warehouses = sorted({r["warehouse"] for r in restock})
    return restock, [as_json(env, "report", "warehouse", w) for w in warehouses], as_json(env, "mail", "list")


def test_a_used_home_has_no_clear_text_and_works_after_key_rotation(tmp_path: Path, cli_env: dict[str, str]) -> None:
    samples = tmp_path / "samples"
    run(cli_env, "generate", "--out", str(samples), "--files", "5", "--rows", "500", "--bad-rows", "0.02")
    run(cli_env, "put", str(samples))
    run(cli_env, "process")
    before = every_report(cli_env)
    assert before[0] and before[2]

    # THEN a copy of the home holds none of the names or ids in clear text
    copy = tmp_path / "copy"
    shutil.copytree(cli_env["INVENTORY_HOME"], copy)
    secrets = secrets_in(samples)
    assert len(secrets) > 20
    for path in (p for p in copy.rglob("*") if p.is_file()):
        content = path.read_bytes()
        leaked = [s for s in secrets if s in content]
        assert not leaked, f"{path.relative_to(copy)} holds {leaked[:3]}"

    # WHEN the master key is rotated THEN everything still reads, and new files still apply
    key_file = Path(cli_env["INVENTORY_MASTER_KEY_FILE"])
    old_key = json.loads(key_file.read_text())["active"]
    rotated = as_json(cli_env, "keys", "rotate")
    assert rotated["old_key"] == old_key and rotated["objects"] >= 6 and rotated["mails"] == len(before[2])
    assert list(json.loads(key_file.read_text())["keys"]) == [rotated["new_key"]]
    assert every_report(cli_env) == before
    first_mail = before[2][0]["id"]
    assert "Subject:" in run(cli_env, "mail", "show", first_mail).stdout
    extra = tmp_path / "late_inventory.csv"
    extra.write_text(
        "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-03-01T00:00:00Z\tNew 1\tz9\tZ\t42\n"
    )
    run(cli_env, "put", str(extra), "--key", "inventory_files/2021/03/01/late_inventory.csv")
    run(cli_env, "process")
    assert as_json(cli_env, "report", "item", "z9")["total"] == 42


def test_a_wrong_or_missing_master_key_is_one_clear_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    data = tmp_path / "20210215000000_inventory.csv"
    data.write_text("Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T00:00:00Z\tW\ti\tN\t1\n")
    run(cli_env, "put", str(data))
    wrong = dict(cli_env, INVENTORY_MASTER_KEY_FILE=str(tmp_path / "other" / "master.key"))
    proc = run(wrong, "report", "restock", ok=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "no master key" in proc.stderr

    import base64
    import os

    env_key = dict(cli_env, INVENTORY_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    proc = run(env_key, "report", "restock", ok=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "wrong master key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_home_opened_with_the_other_inventory_encrypt_says_which_way_it_is(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN an encrypted home, and a clear one (INVENTORY_ENCRYPT=false) whose user never had a master key
    run(cli_env, "status")
    clear = dict(
        cli_env,
        INVENTORY_HOME=str(tmp_path / "clear"),
        INVENTORY_MASTER_KEY_FILE=str(tmp_path / "none" / "master.key"),
    )
    run(dict(clear, INVENTORY_ENCRYPT="false"), "status")

    # WHEN the encrypted one is opened with INVENTORY_ENCRYPT=false
    proc = run(dict(cli_env, INVENTORY_ENCRYPT="false"), "status", ok=False)
    # THEN one line says it is encrypted and what to unset (not SQLite's "file is not a database")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is encrypted" in proc.stderr and "unset INVENTORY_ENCRYPT" in proc.stderr

    # WHEN the clear one is opened without it
    proc = run(clear, "status", ok=False)
    # THEN one line says it is not encrypted and what to set, not that a master key is missing
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is not encrypted" in proc.stderr and "set INVENTORY_ENCRYPT=false" in proc.stderr
    assert "master key" not in proc.stderr
    assert not (tmp_path / "none" / "master.key").exists()
    # and both still open the way they were made
    run(cli_env, "status")
    run(dict(clear, INVENTORY_ENCRYPT="false"), "status")
