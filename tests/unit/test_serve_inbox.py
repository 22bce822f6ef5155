"""serve's inbox: when a dropped file is taken, and what happens to refused ones."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from adapters.settings import Settings
from local import serve
from local.delivery import run_until_idle
from local.serve import Server
from local.wiring import bootstrap
from services.reports.logic import item_report
from tests.inbox_support import drop_refused_twice

KEY = "inventory_files/2021/02/15/20210215120000_inventory.csv"
HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(serve.time, "monotonic", lambda: now[0])
    return now


def test_a_file_whose_copy_stalls_is_taken_only_once_it_has_been_quiet(tmp_path: Path, clock: list[float]) -> None:
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=5))
    server = Server(runtime)
    path = server.inbox / KEY
    path.parent.mkdir(parents=True)
    rows = [f"2021-02-15T12:00:{n:02d}Z\tW\ta1\tA\t1\n" for n in range(40)]
    # GIVEN a copy that writes half the file, then stalls for 4 s (longer than two polls)
    path.write_text(HEADER + "".join(rows[:20]))
    assert server.scan_inbox() == 0
    clock[0] += 4
    assert server.scan_inbox() == 0
    # WHEN it writes the rest and then stays quiet
    with path.open("a") as fh:
        fh.write("".join(rows[20:]))
    clock[0] += 1
    assert server.scan_inbox() == 0
    clock[0] += 4.9
    assert server.scan_inbox() == 0
    clock[0] += 0.2
    # THEN the whole file is taken, once, and every row counts
    assert server.scan_inbox() == 1
    run_until_idle(runtime.ports, runtime.bus)
    assert item_report(runtime.ports.table, "a1")["total"] == 40
    runtime.close()


def test_two_refused_files_of_the_same_name_are_both_kept(tmp_path: Path, clock: list[float]) -> None:
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0, encrypt=False))
    server = Server(runtime)
    drop_refused_twice(server)  # each is gone from the inbox once refused
    kept = sorted(p.name for p in (server.rejected / "elsewhere").iterdir())
    assert kept == ["notes.txt", "notes.txt.2", "notes.txt.2.reason.txt", "notes.txt.reason.txt"]
    folder = server.rejected / "elsewhere"
    assert {(folder / n).read_text() for n in ("notes.txt", "notes.txt.2")} == {"first", "second"}
    runtime.close()


def test_a_correctly_named_file_at_the_top_of_the_inbox_gets_the_key_put_derives(
    tmp_path: Path, clock: list[float]
) -> None:
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0))
    server = Server(runtime)
    # GIVEN a file named like the scenario's, copied to the top of the inbox (no dated folders)
    flat = server.inbox / "20210219110000_inventory.csv"
    flat.parent.mkdir(parents=True)
    flat.write_text(HEADER + "2021-02-19T11:00:00Z\tW\ta1\tA\t7\n")
    # WHEN the inbox is scanned until the file has settled
    server.scan_inbox()
    stored = server.scan_inbox()
    # THEN it is stored under the key `inventory put` gives that name, nothing is set aside, and it applies
    assert stored == 1 and not flat.exists() and not server.rejected.exists()
    assert runtime.ports.objects.head("inventory_files/2021/02/19/20210219110000_inventory.csv") is not None
    run_until_idle(runtime.ports, runtime.bus)
    assert item_report(runtime.ports.table, "a1")["total"] == 7
    runtime.close()


@pytest.mark.parametrize("relative", [KEY, "20210215120000_inventory.csv", "elsewhere/notes.txt"])
def test_a_file_that_goes_away_before_it_is_taken_is_skipped_quietly(
    tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch, relative: str
) -> None:
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0))
    server = Server(runtime)
    path = server.inbox / relative
    path.parent.mkdir(parents=True)
    path.write_text(HEADER + "2021-02-15T12:00:00Z\tW\ta1\tA\t1\n")
    server.scan_inbox()  # seen
    # GIVEN another tool (or another serve) that moves the file away after the listing, before it is read
    real = serve.key_in_folder

    def moved_away_meanwhile(name: str, today: date) -> str:
        (server.inbox / name).rename(tmp_path / "elsewhere.csv")
        return real(name, today)

    monkeypatch.setattr(serve, "key_in_folder", moved_away_meanwhile)
    # WHEN the inbox is scanned
    stored = server.scan_inbox()
    # THEN the file is passed over: nothing stored, nothing set aside, no error, and it is forgotten
    assert stored == 0
    assert not server.rejected.exists() or not any(p.is_file() for p in server.rejected.rglob("*"))
    assert runtime.ports.objects.head("inventory_files/2021/02/15/20210215120000_inventory.csv") is None
    assert server.scan_inbox() == 0
    runtime.close()


def test_a_folder_that_goes_away_while_the_inbox_is_listed_is_passed_over(
    tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0))
    server = Server(runtime)
    for folder in ("a", "b"):
        (server.inbox / folder).mkdir(parents=True)
        (server.inbox / folder / "20210215120000_inventory.csv").write_text(HEADER)
    # GIVEN a tool that moves one folder away once the listing has found both, before it is read
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        name = Path(path).name
        if name in ("a", "b") and all((server.inbox / n).exists() for n in ("a", "b")):
            other = "b" if name == "a" else "a"
            (server.inbox / other).rename(tmp_path / other)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    # WHEN the inbox is scanned
    server.scan_inbox()
    # THEN the scan goes on with the files still there and takes them
    assert server.scan_inbox() == 1
    runtime.close()


def test_a_file_without_a_stamp_taken_again_after_midnight_keeps_its_key(
    tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a thresholds file named as the scenario names it (no date), last written at 23:59:59 UTC
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0))
    server = Server(runtime)
    path = server.inbox / "restock_thresholds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 25}]}')
    written = datetime(2024, 1, 2, 23, 59, 59, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    # WHEN it is taken, but the inbox copy survives (a crash, or a drop folder that cannot be cleaned)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
    assert server.scan_inbox() == 0 and server.scan_inbox() == 1
    # AND it is taken again after midnight
    monkeypatch.setattr(server, "now", lambda: datetime(2024, 1, 3, 0, 0, 5, tzinfo=UTC))
    clock[0] += 1
    server.scan_inbox()
    server.scan_inbox()
    run_until_idle(runtime.ports, runtime.bus)
    # THEN it has one key, dated by the day it was written
    keys = [info.key for info in runtime.ports.objects.list("restock_thresholds/")]
    assert keys == ["restock_thresholds/2024/01/02/restock_thresholds.json"]
    runtime.close()


def test_an_inventory_file_without_a_date_in_its_name_is_set_aside_with_the_reason(
    tmp_path: Path, clock: list[float]
) -> None:
    # GIVEN an inventory file whose name says no day: a guessed one would count it twice if sent again
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0, encrypt=False))
    server = Server(runtime)
    path = server.inbox / "inventory.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "2024-01-02T23:00:00Z\tW\ta1\tA\t7\n")
    # WHEN the inbox takes it THEN it is set aside, saying how to name it, and nothing is stored
    assert server.scan_inbox() == 0 and server.scan_inbox() == 0
    reason = (server.rejected / "inventory.csv.reason.txt").read_text()
    assert "cannot tell which day 'inventory.csv' is from" in reason
    assert list(runtime.ports.objects.list("inventory_files/")) == []
    runtime.close()


def test_hidden_folders_in_the_inbox_are_not_uploads(tmp_path: Path, clock: list[float]) -> None:
    # GIVEN a file that looks like an upload inside a hidden folder (.git, a sync tool's temp folder)
    runtime = bootstrap(Settings(home=tmp_path / "home", inbox_settle_seconds=0))
    server = Server(runtime)
    hidden = server.inbox / ".sync-tmp" / "20210215120000_inventory.csv"
    hidden.parent.mkdir(parents=True)
    hidden.write_text(HEADER + "2021-02-15T12:00:00Z\tW\ta1\tA\t1\n")
    # WHEN the inbox is scanned THEN it is left alone
    assert server.scan_inbox() == 0 and server.scan_inbox() == 0
    assert hidden.exists() and list(runtime.ports.objects.list("inventory_files/")) == []
    runtime.close()
