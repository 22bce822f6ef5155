"""A local home with processed sample data, built the way a user would, for the reports tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The console script, not `python -m local.cli`: run as __main__, the CLI module would exist twice and
# subcommand modules would see a different State class.
INVENTORY = str(Path(sys.executable).with_name("inventory"))


def inventory(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the `inventory` CLI in a subprocess against `home`."""
    return subprocess.run(
        [INVENTORY, "--home", str(home), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def inventory_json(home: Path, *args: str) -> Any:
    return json.loads(inventory(home, "--format", "json", *args).stdout)


def build_home(tmp: Path, rows: int = 3000, bad_rows: float = 0.03) -> Path:
    """GIVEN sample files generated, put and processed through the CLI."""
    home = tmp / "home"
    data = tmp / "data"
    inventory(
        home,
        "generate",
        "--out",
        str(data),
        "--files",
        "5",
        "--rows",
        str(rows),
        "--warehouses",
        "4",
        "--items",
        "60",
        "--bad-rows",
        str(bad_rows),
    )
    inventory(home, "put", str(data))
    inventory(home, "process")
    return home
