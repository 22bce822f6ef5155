"""Helpers shared by the validator's tests: a local runtime in a temp folder and crafted files."""

from __future__ import annotations

from pathlib import Path

from adapters.local.validator_state import SqliteValidatorState
from adapters.settings import Settings
from local.delivery import run_until_idle
from local.wiring import LocalRuntime, bootstrap
from services.files.logic import upload
from validator.run import RunOptions, RunSummary, run_validation

HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange"


def runtime(tmp_path: Path) -> LocalRuntime:
    return bootstrap(Settings(home=tmp_path / "home", check_delay=0))


def tsv(*rows: str) -> bytes:
    """rows as 'ts|warehouse|item|name|change'."""
    return ("\n".join([HEADER, *(r.replace("|", "\t") for r in rows)]) + "\n").encode()


def put(rt: LocalRuntime, key: str, data: bytes, process: bool = True) -> None:
    upload(rt.ports, key, data)
    if process:
        run_until_idle(rt.ports, rt.bus)


def validate(rt: LocalRuntime, **options: object) -> RunSummary:
    opts = RunOptions(check_delay=0, **options)  # type: ignore[arg-type]
    return run_validation(rt.ports, SqliteValidatorState(rt.db), rt.ports.settings, options=opts)


def day_key(day: int, name: str) -> str:
    return f"inventory_files/2021/02/{day:02d}/{name}"
