"""The run loop: arrival order, checkpoints and resume, stop requests, the lease, the report and the event."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.local.mailer import OutboxMailer
from adapters.local.validator_state import SqliteValidatorState
from local.delivery import run_until_idle
from tests.validator_support import day_key, put, runtime, tsv, validate
from validator import checks
from validator.run import RunActive, RunOptions, run_validation

INVENTORY = str(Path(sys.executable).parent / "inventory")  # the installed command, as users run it


class Recorder:
    """An extra row check that records what it saw, and can fail or ask to stop at a given transaction."""

    def __init__(self, fail_at: int | None = None, stop: threading.Event | None = None, stop_at: int | None = None):
        self.seen: list[tuple[str, int]] = []
        self.fail_at, self.stop, self.stop_at = fail_at, stop, stop_at

    def __call__(self, file_key, row) -> None:
        if self.fail_at is not None and len(self.seen) + 1 == self.fail_at:
            raise RuntimeError("killed")  # before this transaction counts as checked
        self.seen.append((file_key, row.line))
        if self.stop is not None and len(self.seen) == self.stop_at:
            self.stop.set()


def some_files(rt, files: int = 3, rows: int = 10) -> list[str]:
    keys = []
    for f in range(files):
        key = day_key(15, f"{f}_inventory.csv")
        lines = [
            f"2021-02-15T{10 + f:02d}:{r:02d}:00Z|W{r % 2}|i{r % 3}|Item {r % 3}|{(-1) ** r * r}" for r in range(rows)
        ]
        lines[3] = "broken"
        put(rt, key, tsv(*lines))
        keys.append(key)
    return keys


def test_files_in_arrival_order_not_key_order(tmp_path):
    # GIVEN files arriving in an order their keys do not sort in
    rt = runtime(tmp_path)
    late_name = day_key(15, "z_inventory.csv")
    early_name = day_key(15, "a_inventory.csv")
    put(rt, late_name, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|-3", "2021-02-15T10:00:01Z|W1|i1|Mug|1"))
    put(rt, early_name, tsv("2021-02-15T09:00:00Z|W1|i1|Mug|10"))
    seen = Recorder()
    # WHEN validated
    summary = validate(rt, extra_checks=[seen])
    # THEN z (first to arrive) is checked first, rows in file order, and goes negative
    assert seen.seen == [(late_name, 2), (late_name, 3), (early_name, 2)]
    assert summary.report_key is not None
    report = json.loads(rt.ports.objects.read(summary.report_key))
    assert [f["key"] for f in report["files_checked"]] == [late_name, early_name]
    assert summary.findings_by_kind == {"negative_level": 1}


def test_ties_in_arrival_order_go_by_key(tmp_path, monkeypatch):
    # GIVEN a ledger (as on AWS) where two files share a sequence number
    rt = runtime(tmp_path)
    b, a, c = day_key(15, "b_inventory.csv"), day_key(15, "a_inventory.csv"), day_key(15, "c_inventory.csv")
    for key in (b, a, c):
        put(rt, key, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|1"))
    real = rt.ports.table.files_since
    tied = {b: 1, a: 1, c: 2}
    monkeypatch.setattr(
        rt.ports.table,
        "files_since",
        lambda seq: (dataclasses.replace(f, sequence=tied[f.key]) for f in real(0) if tied[f.key] > seq),
    )
    seen = Recorder()
    validate(rt, extra_checks=[seen])
    assert [k for k, _ in seen.seen] == [a, b, c]


@pytest.mark.parametrize("max_deltas", [500, 2], ids=["deltas", "compacted-midway"])
def test_killed_run_resumes_and_redoes_at_most_n(tmp_path, monkeypatch, max_deltas):
    monkeypatch.setattr(checks, "MAX_DELTAS", max_deltas)
    # GIVEN 3 files of 10 rows, and an uninterrupted run of the same data for reference
    reference = runtime(tmp_path / "ref")
    some_files(reference)
    expected = validate(reference)
    rt = runtime(tmp_path / "run")
    some_files(rt)
    # WHEN a run dies at its 17th transaction, checkpointing every 4
    first = Recorder(fail_at=17)
    with pytest.raises(RuntimeError, match="killed"):
        validate(rt, extra_checks=[first], checkpoint_every=4)
    # and the lease of the dead run is released by its finally (an in-process crash), so it resumes
    second = Recorder()
    summary = validate(rt, extra_checks=[second], checkpoint_every=4)
    # THEN the totals are those of the uninterrupted run, and at most 4 transactions were done twice
    assert summary.resumed is True
    for field in ("files", "transactions", "findings", "findings_by_kind"):
        assert getattr(summary, field) == getattr(expected, field), field
    redone = set(first.seen) & set(second.seen)
    assert len(first.seen) == 16 and 0 < len(redone) <= 4
    assert len(set(first.seen) | set(second.seen)) == 30
    assert summary.checked_now == len(second.seen)


def test_stop_request_checkpoints_after_the_current_transaction(tmp_path):
    rt = runtime(tmp_path)
    some_files(rt)
    stop = threading.Event()
    first = Recorder(stop=stop, stop_at=12)
    opts = RunOptions(check_delay=0, checkpoint_every=1000, extra_checks=[first])
    stopped = run_validation(rt.ports, SqliteValidatorState(rt.db), rt.ports.settings, options=opts, stop=stop)
    assert stopped.status == "stopped" and stopped.transactions == 12 and stopped.report_key is None
    # the lease is free again and the next run starts exactly after the 12th transaction
    second = Recorder()
    summary = validate(rt, extra_checks=[second])
    assert summary.resumed and summary.transactions == 30 and len(second.seen) == 18
    assert not set(first.seen) & set(second.seen)


def test_second_run_while_one_is_active_is_refused(tmp_path):
    rt = runtime(tmp_path)
    state = SqliteValidatorState(rt.db)
    now = datetime.now(UTC)
    # a live holder (this very process, another run id)
    assert state.acquire(f"{socket.gethostname()}:{os.getpid()}:other", now, timedelta(minutes=5))
    with pytest.raises(RunActive, match="already active"):
        validate(rt)


def test_lease_of_a_dead_local_process_is_taken_over(tmp_path):
    rt = runtime(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = SqliteValidatorState(rt.db)
    assert state.acquire(f"{socket.gethostname()}:{dead.pid}:x", datetime.now(UTC), timedelta(minutes=5))
    assert validate(rt).status == "completed"
    assert state.lease() is None  # released at the end


def test_expired_lease_is_taken(tmp_path):
    rt = runtime(tmp_path)
    state = SqliteValidatorState(rt.db)
    assert state.acquire("elsewhere:1:x", datetime.now(UTC) - timedelta(hours=1), timedelta(minutes=5))
    assert validate(rt).status == "completed"


def test_report_stored_event_published_and_mailed(tmp_path):
    rt = runtime(tmp_path)
    some_files(rt, files=2)
    summary = validate(rt)
    started = summary.started_at
    assert summary.report_key == f"validation_reports/{started:%Y/%m/%d}/{summary.run_id}.json"
    report = json.loads(rt.ports.objects.read(summary.report_key))
    assert report["transactions"] == 20 and report["findings_by_kind"]["bad_row"] == 2
    assert report["findings_listed"] == report["findings"] == summary.findings
    csv_text = rt.ports.objects.read(summary.report_key.replace(".json", ".csv")).decode()
    assert csv_text.count("\r\n") == summary.findings + 1 and "bad_row" in csv_text
    events = rt.bus.archived(detail_type="ValidationCompleted")
    assert len(events) == 1 and events[0].detail["report_key"] == summary.report_key
    assert {f["kind"] for f in events[0].detail["top_findings"]} >= {"bad_row"}
    run_until_idle(rt.ports, rt.bus)
    assert isinstance(rt.ports.mailer, OutboxMailer)  # sealed at rest: read through the mailer
    mails = [data.decode() for _, data in rt.ports.mailer.messages()]
    summary_mails = [m for m in mails if "Nightly validation finished" in m]
    assert len(summary_mails) == 1 and summary.report_key in summary_mails[0]


def test_cli_prints_json_summary_and_a_second_start_exits_cleanly(tmp_path):
    rt = runtime(tmp_path)
    some_files(rt, files=1)
    home = str(rt.ports.settings.home)
    cli = [INVENTORY, "--home", home, "--format", "json", "validate", "--check-delay", "0"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"run_id", "files", "transactions", "findings", "report_key"} <= out.keys()
    assert (out["files"], out["transactions"], out["findings_by_kind"]["bad_row"]) == (1, 10, 1)
    # WHEN another run holds the lease (pid 1 never dies)
    SqliteValidatorState(rt.db).acquire(f"{socket.gethostname()}:1:x", datetime.now(UTC), timedelta(minutes=5))
    busy = subprocess.run([*cli[:4], "table", *cli[5:]], capture_output=True, text=True, timeout=60)
    # THEN the second start says so in one line and exits 0
    assert busy.returncode == 0, busy.stderr
    assert busy.stdout.count("\n") == 1 and "already active" in busy.stdout


def test_a_run_whose_lease_was_taken_stops_without_saving(tmp_path):
    from validator.state import LeaseLost

    # GIVEN a run checkpointing every 4 transactions
    rt = runtime(tmp_path)
    some_files(rt)
    state = SqliteValidatorState(rt.db)

    class Thief:
        def __call__(self, file_key, row):
            lease = state.lease()
            if lease is not None and lease.owner != "thief":
                # WHEN another run takes the lease over (as if this one had been declared dead)
                assert state.acquire("thief", datetime.now(UTC), timedelta(minutes=5), replace=lease.owner)

    # THEN its next checkpoint fails, and the thief keeps the lease
    with pytest.raises(LeaseLost):
        validate(rt, extra_checks=[Thief()], checkpoint_every=4)
    lease = state.lease()
    assert lease is not None and lease.owner == "thief"
