"""A real `inventory validate` process killed mid-run (SIGKILL) or stopped (SIGTERM), then run again.

The subprocess runs the installed CLI's `main` with the spec's slow check wrapped to append one line per
transaction it finished checking to a trace file, so the test can count exactly what was checked twice.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.validator_support import day_key, put, runtime, tsv

pytestmark = pytest.mark.slow

EVERY = 5
WRAPPER = """
import os, sys
import validator.checks as checks
real = checks.check_transaction
trace = sys.argv[1]
def traced(file_key, row, delay):
    real(file_key, row, delay=delay)
    with open(trace, "a") as fh:
        fh.write(f"{os.getpid()} {file_key} {row.line}\\n")
checks.check_transaction = traced
from local.cli import main
main(sys.argv[2:])
"""


def prepare(tmp_path: Path) -> tuple[Path, Path]:
    """Two identical homes with 3 files of 20 rows (some bad, some going negative), processed."""
    rt = runtime(tmp_path / "a")
    for f in range(3):
        rows = [
            f"2021-02-15T{10 + f:02d}:{r:02d}:00Z|W{r % 2}|i{r % 4}|Item {r % 4}|{(-1) ** r * (r + f)}"
            for r in range(20)
        ]
        rows[7] = "not a row"
        put(rt, day_key(15, f"{f}_inventory.csv"), tsv(*rows))
    rt.close()
    home_a = rt.ports.settings.home
    home_b = tmp_path / "b" / "home"
    shutil.copytree(home_a, home_b)
    return home_a, home_b


def start(home: Path, trace: Path, delay: float) -> subprocess.Popen[str]:
    args = ["--home", str(home), "--format", "json", "validate", "--check-delay", str(delay)]
    args += ["--checkpoint-every", str(EVERY)]
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(trace), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(trace: Path, n: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trace.exists() and len(trace.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"fewer than {n} transactions checked in {timeout} s")


def finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out)


def traced(trace: Path) -> list[tuple[str, str, int]]:
    return [(pid, key, int(line)) for pid, key, line in (t.split() for t in trace.read_text().splitlines())]


SAME = ("files", "transactions", "findings", "findings_by_kind")


def test_sigkill_mid_run_then_rerun_redoes_at_most_n(tmp_path):
    home, reference_home = prepare(tmp_path)
    # GIVEN the totals of an uninterrupted run over the same data
    reference = finish(start(reference_home, tmp_path / "ref.trace", 0))
    assert reference["transactions"] == 60 and reference["findings_by_kind"]["bad_row"] == 3
    # WHEN a run is killed with SIGKILL after 23 transactions (checkpoints every 5)
    trace = tmp_path / "run.trace"
    proc = start(home, trace, 0.05)
    wait_for_lines(trace, 23, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed = traced(trace)
    # and run again (the dead process's lease is taken over at once)
    resumed = finish(start(home, trace, 0.05))
    # THEN the rerun resumed, its totals are those of the uninterrupted run
    assert resumed["resumed"] is True
    assert {k: resumed[k] for k in SAME} == {k: reference[k] for k in SAME}
    # every transaction was checked, and at most N of them twice
    everything = traced(trace)
    done = [(key, line) for _, key, line in everything]
    assert len(set(done)) == 60
    redone = len(done) - 60
    assert len(killed) >= 23 and 0 <= redone <= EVERY
    assert resumed["checked_now"] == len(everything) - len(killed)


def test_sigterm_stops_after_the_current_transaction_with_a_checkpoint(tmp_path):
    home, _ = prepare(tmp_path)
    trace = tmp_path / "run.trace"
    proc = start(home, trace, 0.05)
    wait_for_lines(trace, 7, proc)
    # WHEN SIGTERM arrives (Fargate stopping the task)
    proc.send_signal(signal.SIGTERM)
    stopped = finish(proc)
    # THEN the process ends cleanly, having saved everything it checked
    assert stopped["status"] == "stopped" and stopped["report_key"] is None
    assert stopped["transactions"] == len(traced(trace))
    # and the next run continues right after it: nothing checked twice
    resumed = finish(start(home, trace, 0))
    assert resumed["status"] == "completed" and resumed["transactions"] == 60
    assert resumed["checked_now"] == 60 - stopped["transactions"]
