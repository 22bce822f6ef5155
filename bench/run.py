"""`make bench`: each target measured against a baseline taken in the same run, printed as one table.

Not tests: these machines are shared and noisy, so targets are ratios to a baseline measured right
beside them, each the median of several runs. The latest table goes to bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUICK = os.environ.get("BENCH_QUICK") == "1"  # smaller data, for trying the harness itself


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None
    target: str
    passed: bool
    note: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.value / self.baseline:.2f}" if self.baseline else "-"


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss


BASELINE_SCRIPT = """
import csv, sys
sums = {}
with open(sys.argv[1], newline="", encoding="utf-8-sig") as fh:
    rows = csv.reader(fh, delimiter="\\t")
    next(rows)
    for row in rows:
        key = (row[1], row[2])
        sums[key] = sums.get(key, 0) + int(row[4])
print(len(sums))
"""


def bench_ingest(work: Path, env: dict[str, str]) -> list[Figure]:
    rows = 100_000 if QUICK else 1_000_000
    data = work / "data"
    subprocess.run(
        [
            str(BIN / "inventory"),
            "generate",
            "--out",
            str(data),
            "--files",
            "1",
            "--rows",
            str(rows),
            "--warehouses",
            "50",
            "--items",
            "5000",
            "--no-thresholds",
            "--seed",
            "11",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (path,) = list(data.rglob("*_inventory.csv"))
    key = path.relative_to(data).as_posix()
    baseline = median_of(3, lambda: run_child([sys.executable, "-c", BASELINE_SCRIPT, str(path)], env)[0])
    peaks: list[int] = []

    def once() -> float:
        home = work / f"home-{time.monotonic_ns()}"
        run_env = dict(env, INVENTORY_HOME=str(home))
        put_s, put_rss = run_child([str(BIN / "inventory"), "put", str(path), "--key", key], run_env)
        proc_s, proc_rss = run_child([str(BIN / "inventory"), "process"], run_env)
        peaks.extend([put_rss, proc_rss])
        shutil.rmtree(home)
        return put_s + proc_s

    value = median_of(3, once)
    peak_mb = max(peaks) / 1024
    return [
        Figure(
            f"ingest {rows:,} rows: put + process",
            value,
            "s",
            baseline,
            "≤ 2× baseline",
            value <= 2 * baseline,
            "baseline: csv module + dict sum, no checks, no persistence",
        ),
        Figure("ingest peak RSS (put, process)", peak_mb, "MB", None, "< 250 MB", peak_mb < 250),
    ]


def bench_reports(work: Path) -> list[Figure]:
    from datetime import UTC, datetime

    from adapters.ports import FileStats, PairDelta, to_micros
    from adapters.settings import Settings
    from local.wiring import bootstrap

    sizes = [10_000, 100_000] if QUICK else [10_000, 100_000, 1_000_000]
    now = to_micros(datetime.now(UTC))
    figures: list[Figure] = []
    curve: dict[str, list[float]] = {"warehouse": [], "warehouse --min-level": [], "item": [], "restock": []}
    home = work / "reports-home"
    rt = bootstrap(Settings(home=home))
    loaded = 0
    items_per_warehouse = 1000
    for target in sizes:
        batch = []
        for n in range(loaded, target):
            # 1,000 items per warehouse; a fixed 100 pairs below the default threshold whatever the size,
            # because the restock list is what purchasing works through, not a dump of the table
            level = 5 if n < sizes[0] and n % (sizes[0] // 100) == 0 else 10 + (n * 7919) % 1000
            batch.append(
                PairDelta(f"W{n // items_per_warehouse:05d}", f"i{n % items_per_warehouse:05d}", "name", now, level)
            )
        rt.ports.table.apply_file(f"bench/{target}", batch, [], FileStats())
        loaded = target
        warehouses = target // items_per_warehouse
        for name, query in report_queries(rt.ports.table, warehouses, items_per_warehouse).items():
            # Untimed first calls: the first queries after a big write read cold pages and fill
            # SQLite's statement cache; a report server answers warm.
            for i in range(20):
                query(i)
            samples = []
            for i in range(200 if name != "restock" else 30):
                started = time.perf_counter()
                query(i)
                samples.append(time.perf_counter() - started)
            samples.sort()
            curve[name].append(samples[int(len(samples) * 0.99) - 1] * 1000)
    for name, values in curve.items():
        p99 = values[-1]
        flat = values[-1] <= max(3 * values[0], values[0] + 2)
        figures.append(
            Figure(
                f"report {name} p99 at {sizes[-1]:,} pairs",
                p99,
                "ms",
                None,
                "< 10 ms, flat",
                p99 < 10 and flat,
                "curve "
                + " → ".join(f"{v:.2f}" for v in values)
                + f" ms for {', '.join(f'{s:,}' for s in sizes)} pairs",
            )
        )
    rt.close()
    return figures


def report_queries(table: Any, warehouses: int, items: int) -> dict[str, Callable[[int], object]]:
    from services.reports.logic import item_report, restock_report, warehouse_report

    return {
        "warehouse": lambda i: warehouse_report(table, f"W{i % warehouses:05d}"),
        "warehouse --min-level": lambda i: warehouse_report(table, f"W{i % warehouses:05d}", 900),
        "item": lambda i: item_report(table, f"i{i % items:05d}"),
        "restock": lambda i: restock_report(table),
    }


def bench_cli_startup(env: dict[str, str]) -> list[Figure]:
    value = median_of(7, lambda: run_child([str(BIN / "inventory"), "--help"], env)[0])
    baseline = median_of(7, lambda: run_child([sys.executable, "-c", "pass"], env)[0])
    return [Figure("inventory --help", value, "s", baseline, "< 0.3 s", value < 0.3, "baseline: python -c pass")]


HANDLERS = ("files", "ingest", "thresholds", "alerts", "sweep", "notify", "reports")


def bench_handler_imports(env: dict[str, str]) -> list[Figure]:
    """Cold start proxy: a fresh interpreter importing one Lambda handler module, against `python -c pass`."""
    runs = 3 if QUICK else 5
    baseline = median_of(runs, lambda: run_child([sys.executable, "-c", "pass"], env)[0])
    figures = []
    for name in HANDLERS:
        args = [sys.executable, "-c", f"import services.{name}.handler"]
        value = median_of(runs, lambda args=args: run_child(args, env)[0])  # type: ignore[misc]
        figures.append(
            Figure(f"import services.{name}.handler", value, "s", baseline, "< 0.5 s", value < 0.5, "baseline: -c pass")
        )
    return figures


def bench_aws_cost(env: dict[str, str]) -> list[Figure]:
    """DynamoDB writes and PutEvents entries of one file through the whole pipeline under moto.

    Counts are deterministic for the generated file, so one run is enough (moto is slow: minutes).
    """
    rows, warehouses, items = (2_000, 4, 100) if QUICK else (10_000, 4, 500)
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "aws_cost.py"), str(rows), str(warehouses), str(items)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    c = json.loads(out.strip().splitlines()[-1])
    pairs, writes = c["pairs"], c["writes"]
    pair_writes = c["writes_by_kind"].get("pair", 0)
    markers = writes - pair_writes
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(c["writes_by_kind"].items()))
    # Markers (ledger, arrival counter, warehouse registry, one per chunk of ≤ 99 pairs, one per consumed
    # event) must not grow with rows: allow one per 10 pairs, far below one per row.
    passed = pair_writes <= pairs and markers <= pairs / 10
    entries_note = ", ".join(f"{k} {v}" for k, v in sorted(c["entries_by_type"].items()))
    return [
        Figure(
            f"AWS DynamoDB writes, {c['rows']:,}-row file, {pairs:,} pairs",
            writes,
            "items",
            pairs,
            "≤ 1 per pair + markers",
            passed,
            f"baseline: touched pairs; writes = {pair_writes} pair + {markers} markers ({kinds})",
        ),
        Figure(
            "AWS PutEvents entries, same file",
            c["entries"],
            "entries",
            None,
            "each ≤ 256 KB",
            c["max_entry_bytes"] <= 256 * 1024,
            f"{entries_note}; {c['put_events_calls']} calls; largest entry {c['max_entry_bytes'] / 1024:.1f} KB",
        ),
    ]


def bench_validator(work: Path, env: dict[str, str]) -> list[Figure]:
    """The checks' own rate (no slow check) on parsed rows, against a dict update per row."""
    from adapters.ports import FileRecord
    from local.generate import generate
    from services.ingest.parsing import Row, parse_inventory
    from validator.checks import TransactionChecks

    rows_n = 50_000 if QUICK else 200_000
    data = work / "validator-data"
    generated = generate(data, files=1, rows=rows_n, warehouses=50, items=5000, seed=5, thresholds=False)
    (key,) = generated.inventory_keys
    rows = list(parse_inventory([(data / key).read_bytes()]))
    good = [r for r in rows if isinstance(r, Row)]
    record = FileRecord(key, "inventory", "etag", 1, datetime.now(UTC), "applied")

    def checks_once() -> float:
        checks = TransactionChecks("bench")
        checks.begin_file(record)
        items = iter(rows)
        started = time.perf_counter()
        # In batches of 1024, as validator.run drives it without a slow check.
        while checks.check(items, 1024):
            pass
        return len(rows) / (time.perf_counter() - started)

    def baseline_once() -> float:
        sums: dict[tuple[str, str], int] = {}
        started = time.perf_counter()
        for row in good:
            key = (row.warehouse, row.item_id)
            sums[key] = sums.get(key, 0) + row.change
        return len(rows) / (time.perf_counter() - started)

    value = median_of(5, checks_once)
    baseline = median_of(5, baseline_once)
    figures = [
        Figure(
            "validator checks (no slow check)",
            value,
            "tx/s",
            baseline,
            "> 200,000 tx/s",
            value > 200_000,
            f"{len(rows):,} parsed rows; baseline: dict update per row",
        )
    ]
    # The whole command, for information: start-up, decrypting and parsing, checkpoints, report, mail.
    home = work / "validator-home"
    run_env = dict(env, INVENTORY_HOME=str(home))
    run_child([str(BIN / "inventory"), "put", str(data / key), "--key", key], run_env)
    run_child([str(BIN / "inventory"), "process"], run_env)
    seconds, _ = run_child([str(BIN / "inventory"), "validate", "--check-delay", "0"], run_env)
    figures.append(
        Figure(
            "inventory validate --check-delay 0",
            len(rows) / seconds,
            "tx/s",
            None,
            "information",
            True,
            f"end to end over {len(rows):,} rows, process start-up included",
        )
    )
    return figures


def render(figures: list[Figure]) -> str:
    lines = [
        "| figure | value | baseline | ratio | target | result | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f"{_number(f.baseline)} {f.unit}" if f.baseline is not None else "-"
        lines.append(
            f"| {f.name} | {_number(f.value)} {f.unit} | {baseline} | {f.ratio} | {f.target} | "
            f"{'pass' if f.passed else 'FAIL'} | {f.note} |"
        )
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.3f}"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="inventory-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    env["XDG_CONFIG_HOME"] = str(work / "config")
    os.environ["XDG_CONFIG_HOME"] = env["XDG_CONFIG_HOME"]
    figures: list[Figure] = []
    try:
        figures += bench_cli_startup(env)
        figures += bench_handler_imports(env)
        # Ingest before anything that grows this process: a child forked from a big parent reports
        # the parent's pages in its peak RSS (ru_maxrss survives exec).
        figures += bench_ingest(work, env)
        figures += bench_reports(work)
        figures += bench_validator(work, env)
        figures += bench_aws_cost(env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = render(figures)
    print(table)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (ROOT / "bench" / "RESULTS.md").write_text(
        f"# Benchmark results\n\nLatest `make bench` on a 2-core machine, {stamp}"
        f"{' (BENCH_QUICK)' if QUICK else ''}. Medians of several runs; baselines measured in the same run.\n\n"
        + table
        + "\n"
    )


if __name__ == "__main__":
    main()
