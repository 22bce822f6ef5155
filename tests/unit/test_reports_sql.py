"""SQL over the raw files: the transactions view holds exactly what ingest applied."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from adapters.settings import Settings
from local.delivery import run_until_idle
from local.generate import generate
from local.wiring import LocalRuntime, bootstrap
from services.files.logic import upload
from services.reports.history import DuckDbHistory
from services.reports.sql import SqlError, connect, run_query


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    # GIVEN files with bad rows (and one unusable file) stored and processed by the local runtime
    data = tmp_path / "data"
    generated = generate(data, files=4, rows=1500, warehouses=3, items=30, bad_row_rate=0.05, seed=3)
    rt = bootstrap(Settings(home=tmp_path / "home"))
    for key in [*generated.inventory_keys, *generated.thresholds_keys]:
        upload(rt.ports, key, (data / key).read_bytes())
    upload(rt.ports, "inventory_files/2021/02/16/unusable_inventory.csv", b"Foo\tBar\nx\ty\n")
    tricky = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n" + (
        '2021-02-16T10:00:00Z\tBerlin 1\tq1\t"A ""quoted"" name, with comma"\t5\r\n'
        "2021-02-16T10:00:01Z\tBerlin 1\tq1\t\t2\n"  # empty name is fine
        "2021-02-16T10:00:02Z\tBerlin 1\tq1\tx\x01y\t7\r\n"  # a bad row whose raw text holds odd bytes
    )
    upload(rt.ports, "inventory_files/2021/02/16/20210216100002_inventory.csv", tricky.encode())
    stats = run_until_idle(rt.ports, rt.bus)
    assert stats.dead == 0
    yield rt
    rt.close()


def levels_from_table(rt: LocalRuntime) -> dict[tuple[str, str], int]:
    table = rt.ports.table
    return {(r.warehouse, r.item_id): r.level for w in table.warehouses() for r in table.warehouse_items(w)}


def test_sum_of_transactions_equals_the_levels(runtime: LocalRuntime) -> None:
    # small batches: several loads per file
    con, stats = connect(runtime.ports.objects, runtime.ports.table, batch_rows=500)
    result = run_query(con, "SELECT warehouse, item_id, sum(change) FROM transactions GROUP BY ALL")
    assert {(w, i): int(s) for w, i, s in result.rows} == levels_from_table(runtime)
    assert stats.unusable_files == 1


def test_rejected_rows_are_exactly_the_bad_rows_ingest_kept(runtime: LocalRuntime) -> None:
    con, _ = connect(runtime.ports.objects, runtime.ports.table)
    table = runtime.ports.table
    kept = {
        (b.file_key, b.line, b.reason, b.raw)
        for info in runtime.ports.objects.list("inventory_files/")
        for b in table.bad_rows(info.key)
    }
    rows = run_query(con, "SELECT file_key, line, reason, raw FROM rejected_rows WHERE line IS NOT NULL").rows
    assert set(rows) == kept and len(rows) == len(kept) > 10
    # The unusable file shows as one row without a line, with ingest's reason.
    (whole,) = run_query(con, "SELECT reason FROM rejected_rows WHERE line IS NULL").rows
    assert "lacks column" in whole[0]


def test_columns_types_and_awkward_values(runtime: LocalRuntime) -> None:
    con, _ = connect(runtime.ports.objects, runtime.ports.table)
    described = run_query(con, "DESCRIBE transactions").rows
    assert [(r[0], r[1]) for r in described] == [
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("warehouse", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("item_name", "VARCHAR"),
        ("change", "INTEGER"),
        ("file_key", "VARCHAR"),
        ("year", "INTEGER"),
        ("month", "INTEGER"),
        ("day", "INTEGER"),
    ]
    names = run_query(con, "SELECT item_name FROM transactions WHERE item_id = 'q1' ORDER BY ts").rows
    assert names == [('A "quoted" name, with comma',), ("",)]
    (raw,) = run_query(con, "SELECT raw FROM rejected_rows WHERE file_key LIKE '%100002%'").rows
    assert raw[0].endswith("x\x01y\t7")  # the control character survives the load; the CRLF is no part of it
    parts = run_query(con, "SELECT DISTINCT year, month, day FROM transactions WHERE item_id = 'q1'").rows
    assert parts == [(2021, 2, 16)]


@pytest.mark.parametrize(
    "query",
    [
        "COPY transactions TO '/tmp/inventory-sql-escape.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH '/tmp/inventory-sql-escape.db'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "selec 1",
    ],
)
def test_refuses_anything_outside_memory_with_one_line(runtime: LocalRuntime, query: str) -> None:
    con, _ = connect(runtime.ports.objects, runtime.ports.table)
    with pytest.raises(SqlError) as info:
        run_query(con, query)
    assert "\n" not in str(info.value)
    assert not Path("/tmp/inventory-sql-escape.csv").exists()


def test_history_ends_at_the_current_level(runtime: LocalRuntime) -> None:
    history = DuckDbHistory(runtime.ports.objects, runtime.ports.table)
    for (warehouse, item_id), level in list(levels_from_table(runtime).items())[:5]:
        points = history.pair_history(warehouse, item_id)
        assert points and points[-1].level == level
        assert [p.ts for p in points] == sorted(p.ts for p in points)
    assert history.pair_history("nowhere", "nothing") == []


def documented_queries() -> list[str]:
    text = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```sql\n")[1:]]


def test_the_documented_queries_run_and_agree_with_the_levels(runtime: LocalRuntime) -> None:
    # GIVEN the three example queries of docs/reports.md
    top_movers, per_day, per_warehouse = documented_queries()
    con, _ = connect(runtime.ports.objects, runtime.ports.table)
    levels = levels_from_table(runtime)
    # THEN each runs, and their answers fit the stock table
    movers = run_query(con, top_movers)
    assert movers.columns == ["item_id", "item_name", "moved", "net_change"] and 0 < len(movers.rows) <= 10
    daily = run_query(con, per_day).rows
    last_per_pair = {(w, i): int(level) for w, i, _day, level in daily}  # ordered by day: the last one wins
    assert last_per_pair == levels
    net = {w: int(n) for w, n, _count in run_query(con, per_warehouse).rows}
    by_warehouse: dict[str, int] = {}
    for (w, _i), level in levels.items():
        by_warehouse[w] = by_warehouse.get(w, 0) + level
    assert net == by_warehouse  # all sample data is from February 2021


def test_a_date_range_loads_only_the_files_dated_within_it(runtime: LocalRuntime) -> None:
    # WHEN only 2021-02-16 is asked for (the key's date, both ends inclusive)
    day = date(2021, 2, 16)
    con, stats = connect(runtime.ports.objects, runtime.ports.table, first_day=day, last_day=day)
    whole, _ = connect(runtime.ports.objects, runtime.ports.table)
    # THEN exactly that day's files are read: good rows and bad ones (the unusable file is dated the 16th)
    keys = {k for (k,) in run_query(con, "SELECT DISTINCT file_key FROM transactions").rows}
    rejected = {k for (k,) in run_query(con, "SELECT DISTINCT file_key FROM rejected_rows").rows}
    assert keys and all("/2021/02/16/" in k for k in keys)
    assert "inventory_files/2021/02/16/unusable_inventory.csv" in rejected
    assert all("/2021/02/16/" in k for k in rejected)
    everything = {k for (k,) in run_query(whole, "SELECT DISTINCT file_key FROM transactions").rows}
    assert keys == {k for k in everything if "/2021/02/16/" in k} and keys != everything
    assert stats.files == len(keys | rejected)


def test_a_file_put_but_not_processed_is_left_out_of_sql_and_history_until_applied(runtime: LocalRuntime) -> None:
    # GIVEN a processed runtime, and one more file put (stored) but not processed yet
    levels = levels_from_table(runtime)
    warehouse, item_id = next(iter(levels))
    history = DuckDbHistory(runtime.ports.objects, runtime.ports.table)
    before = history.pair_history(warehouse, item_id)
    late = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n" + (
        f"2021-02-17T10:00:00Z\t{warehouse}\t{item_id}\tlate\t1000\n"
    )
    upload(runtime.ports, "inventory_files/2021/02/17/20210217100000_inventory.csv", late.encode())
    # WHEN SQL and the history are asked before `process`
    con, stats = connect(runtime.ports.objects, runtime.ports.table)
    sums = run_query(con, "SELECT warehouse, item_id, sum(change) FROM transactions GROUP BY ALL").rows
    # THEN they show what the stock table shows, and the file left out is counted
    assert {(w, i): int(s) for w, i, s in sums} == levels
    assert (stats.not_applied, stats.changed) == (1, 0)
    assert history.pair_history(warehouse, item_id) == before
    # AND once it is applied both include it
    assert run_until_idle(runtime.ports, runtime.bus).dead == 0
    con, stats = connect(runtime.ports.objects, runtime.ports.table)
    (total,) = run_query(
        con, f"SELECT sum(change) FROM transactions WHERE warehouse = '{warehouse}' AND item_id = '{item_id}'"
    ).rows
    assert int(total[0]) == levels[(warehouse, item_id)] + 1000 == levels_from_table(runtime)[(warehouse, item_id)]
    assert stats.not_applied == 0
    assert history.pair_history(warehouse, item_id)[-1].level == levels[(warehouse, item_id)] + 1000


def test_a_file_overwritten_after_it_was_applied_is_left_out_and_counted(runtime: LocalRuntime) -> None:
    # GIVEN an applied file whose object is then overwritten behind the CLI's back (as S3 allows)
    key = "inventory_files/2021/02/16/20210216100002_inventory.csv"
    runtime.ports.objects.put(key, b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n")
    # WHEN SQL loads the bucket
    con, stats = connect(runtime.ports.objects, runtime.ports.table)
    # THEN the new content, which ingest never applied, is not read as if it had been, and it is counted
    assert stats.changed == 1
    assert run_query(con, f"SELECT count(*) FROM transactions WHERE file_key = '{key}'").rows == [(0,)]


def test_a_file_overwritten_between_the_listing_and_the_read_is_left_out(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an applied file that another tool overwrites just after SQL chose it (between list and read)
    import services.reports.sql as sql

    key = "inventory_files/2021/02/16/20210216100002_inventory.csv"
    chosen = sql.select_files

    def choose_then_overwrite(*args: object, **kwargs: object) -> sql.Selection:
        selection = chosen(*args, **kwargs)  # type: ignore[arg-type]
        runtime.ports.objects.put(key, b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n")
        return selection

    monkeypatch.setattr(sql, "select_files", choose_then_overwrite)
    # WHEN SQL loads the files it chose
    con, stats = connect(runtime.ports.objects, runtime.ports.table)
    # THEN the replacement, which ingest never applied, is not loaded under the file's key, and it is counted
    assert stats.changed == 1
    assert run_query(con, f"SELECT count(*) FROM transactions WHERE file_key = '{key}'").rows == [(0,)]
