"""Running the real `inventory` command from tests."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["inventory", *args], env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(run(env, "--format", "json", *args).stdout)
