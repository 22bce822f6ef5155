"""`inventory serve` as a real process: the inbox, clean stops, and a SIGKILL mid-file."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from local.generate import generate
from tests.oracle import levels

pytestmark = pytest.mark.slow


def status(env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run(["inventory", "--format", "json", "status"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result: dict[str, int] = json.loads(out.stdout)
    return result


def wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def start_serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["inventory", "serve", "--poll", "0.1", "--port", "0"],
        env=dict(env, INVENTORY_INBOX_SETTLE_SECONDS="0.5"),  # the copies here are complete at once
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def all_levels(env: dict[str, str]) -> dict[tuple[str, str], int]:
    got: dict[tuple[str, str], int] = {}
    raw = subprocess.run(
        ["inventory", "--format", "json", "events", "list", "--type", "StockChanged"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    warehouses = {p["warehouse"] for e in json.loads(raw) for p in e["detail"]["pairs"]}
    for warehouse in sorted(warehouses):
        rows = json.loads(
            subprocess.run(
                ["inventory", "--format", "json", "report", "warehouse", warehouse],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        got |= {(r["warehouse"], r["item_id"]): r["level"] for r in rows}
    return got


def test_sigkill_in_the_middle_then_restart_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    home = Path(cli_env["INVENTORY_HOME"])
    samples = tmp_path / "samples"
    generated = generate(samples, files=12, rows=120_000, warehouses=20, items=2000, seed=5, bad_row_rate=0.01)
    inbox = home / "inbox"
    for key in generated.inventory_keys + generated.thresholds_keys:
        (inbox / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples / key, inbox / key)
    files_total = len(generated.inventory_keys) + len(generated.thresholds_keys)

    # GIVEN serve is working through the inbox WHEN it is killed with SIGKILL part way
    first = start_serve(cli_env)
    wait_for(lambda: status(cli_env)["files_applied"] >= 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert status(cli_env)["files_applied"] < files_total

    # THEN a restart finishes the work
    second = start_serve(cli_env)
    wait_for(
        lambda: (
            (s := status(cli_env))["files_applied"] == files_total
            and s["deliveries_pending"] == 0
            and not any(p.is_file() for p in inbox.rglob("*"))
        )
    )
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=20)
    assert second.returncode == 0 and "Stopped cleanly" in err

    # AND every file was applied exactly once, with its events once
    expected = levels([samples / k for k in generated.inventory_keys])
    assert all_levels(cli_env) == expected
    arrived = json.loads(
        subprocess.run(
            ["inventory", "--format", "json", "events", "list", "--type", "FileArrived"],
            env=cli_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert sorted(e["detail"]["key"] for e in arrived) == sorted(generated.inventory_keys + generated.thresholds_keys)
    assert status(cli_env)["deliveries_dead"] == 0


def test_serve_puts_files_dropped_into_the_inbox_and_sets_aside_bad_keys(cli_env: dict[str, str]) -> None:
    home = Path(cli_env["INVENTORY_HOME"])
    good = home / "inbox" / "inventory_files/2021/02/15/20210215120000_inventory.csv"
    bad = home / "inbox" / "elsewhere" / "notes.txt"
    for path, text in (
        (
            good,
            "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
            "2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t4\n",
        ),
        (bad, "hello"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = start_serve(cli_env)
    try:
        wait_for(lambda: status(cli_env)["files_applied"] == 1 and status(cli_env)["deliveries_pending"] == 0, 30)
        wait_for(lambda: (home / "inbox-rejected" / "elsewhere" / "notes.txt.enc.reason.txt").exists(), 30)
    finally:
        proc.send_signal(signal.SIGINT)
        _, log = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "must start with" in (home / "inbox-rejected" / "elsewhere" / "notes.txt.enc.reason.txt").read_text()
    assert b"hello" not in (home / "inbox-rejected" / "elsewhere" / "notes.txt.enc").read_bytes()  # sealed
    # AND the log names the refused file as `inventory get` takes it, which reads it back in clear
    assert "set aside elsewhere/notes.txt as inbox-rejected/elsewhere/notes.txt: key 'elsewhere/notes.txt'" in log
    kept = subprocess.run(
        ["inventory", "get", "inbox-rejected/elsewhere/notes.txt"], env=cli_env, capture_output=True, check=True
    )
    assert kept.stdout == b"hello"
    mails = subprocess.run(
        ["inventory", "--format", "json", "mail", "list"], env=cli_env, capture_output=True, text=True, check=True
    ).stdout
    assert [m["subject"] for m in json.loads(mails)] == ["Restock needed: 1 item(s) below threshold"]  # 4 < 10


def test_a_second_serve_on_the_same_home_refuses_to_start_in_one_line(cli_env: dict[str, str]) -> None:
    home = Path(cli_env["INVENTORY_HOME"])
    # GIVEN a serve running on the home
    first = start_serve(cli_env)
    try:
        wait_for(lambda: (home / "serve.lock").is_file() and (home / "serve.lock").read_text() == f"{first.pid}\n", 30)
        # WHEN a second one is started on the same home
        second = subprocess.run(
            ["inventory", "serve", "--port", "0"], env=cli_env, capture_output=True, text=True, timeout=60
        )
        # THEN it refuses in one line naming the first one's pid, and the first one goes on serving the inbox
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"error: {home} is already served by another `inventory serve` (pid {first.pid})"
        ]
        dropped = home / "inbox" / "20210215120000_inventory.csv"
        dropped.write_text(
            "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tW\ta1\tShirt\t4\n"
        )
        wait_for(lambda: status(cli_env)["files_applied"] == 1, 30)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=20)
    assert first.returncode == 0
    # AND once it has stopped, the home can be served again
    again = start_serve(cli_env)
    try:
        wait_for(lambda: (home / "serve.lock").read_text() == f"{again.pid}\n", 30)
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=20)
    assert again.returncode == 0


def test_the_nightly_validation_starts_at_three_utc_in_its_own_thread(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from adapters.settings import Settings
    from local.serve import NightlyValidation, Server
    from local.wiring import bootstrap
    from services.files.logic import upload

    settings = Settings(home=tmp_path / "home", check_delay=0)
    runtime = bootstrap(settings)
    upload(
        runtime.ports,
        "inventory_files/2021/02/15/20210215120000_inventory.csv",
        b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tW\ti\tN\t50\n",
    )
    clock = [datetime(2021, 2, 16, 2, 59, tzinfo=UTC)]
    nightly = NightlyValidation(settings)
    server = Server(runtime, nightly=nightly.start, now=lambda: clock[0])
    server.tick()  # 02:59: processes the file, no validation yet
    assert nightly.thread is None
    clock[0] += timedelta(minutes=2)
    server.tick()  # 03:01: the validation starts
    nightly.join()
    server.tick()
    (done,) = runtime.bus.archived(detail_type="ValidationCompleted")
    assert done.detail["transactions"] == 1 and done.detail["report_key"].startswith("validation_reports/")
    assert server.next_run == datetime(2021, 2, 17, 3, 0, tzinfo=UTC)
    runtime.close()
