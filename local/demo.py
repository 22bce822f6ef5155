"""What `inventory demo` shows: several days of files, a thresholds change, alerts, mails, reports."""

from __future__ import annotations

import email
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.local.mailer import OutboxMailer
from local.delivery import ONE_SHOT_PATIENCE_SECONDS, left_waiting, run_until_idle
from local.generate import generate
from local.output import cell
from local.wiring import LocalRuntime
from services.files.logic import upload
from services.reports.logic import item_report, restock_report, warehouse_report


def _rows_table(title: str, rows: list[dict[str, object]], columns: list[str], limit: int = 12) -> Table:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for row in rows[:limit]:
        table.add_row(*(str(cell(row[c])) for c in columns))  # true/false, as `inventory report` shows them
    if len(rows) > limit:
        table.caption = f"... {len(rows) - limit} more"
    return table


def run_demo(runtime: LocalRuntime, console: Console, seed: int = 7) -> None:
    with tempfile.TemporaryDirectory(prefix="inventory-demo-") as folder:
        _run(runtime, console, seed, Path(folder))


def _run(runtime: LocalRuntime, console: Console, seed: int, samples: Path) -> None:
    # Samples live outside the home: the home holds only encrypted data.
    ports = runtime.ports
    home = ports.settings.home
    console.rule("1. Sample data")
    result = generate(samples, files=8, rows=400, warehouses=5, items=40, days=3, seed=seed, bad_row_rate=0.01)
    console.print(
        f"Generated {len(result.inventory_keys)} inventory files ({result.rows} rows, {result.bad_rows} bad) "
        f"and {len(result.thresholds_keys)} thresholds file(s)"
    )
    console.rule("2. Upload and process, in arrival order")
    keys = sorted(result.inventory_keys + result.thresholds_keys)
    for key in keys:
        upload(ports, key, (samples / key).read_bytes())
    stats = run_until_idle(ports, runtime.bus, patience=ONE_SHOT_PATIENCE_SECONDS)
    console.print(f"Delivered {stats.delivered} events: {stats.by_target}")
    waiting = left_waiting(stats)
    if waiting:
        console.print(waiting, style="yellow", markup=False)

    columns = ["warehouse", "item_id", "item_name", "level", "threshold", "below"]
    warehouses = ports.table.warehouses()
    console.rule("3. Reports")
    first = warehouses[0]
    console.print(_rows_table(f"inventory report warehouse '{first}'", warehouse_report(ports.table, first), columns))
    console.print(
        _rows_table(
            f"inventory report warehouse '{first}' --min-level 100",
            warehouse_report(ports.table, first, min_level=100),
            columns,
        )
    )
    some_item = warehouse_report(ports.table, first)[0]["item_id"]
    item = item_report(ports.table, str(some_item))
    console.print(
        _rows_table(
            f"inventory report item {some_item} — {item['item_name']}: total {item['total']}",
            item["warehouses"],
            ["warehouse", "level"],
        )
    )
    restock = restock_report(ports.table)
    console.print(_rows_table(f"inventory report restock ({len(restock)} pairs below threshold)", restock, columns))

    console.rule("4. Alerts and mails")
    alerts = runtime.bus.archived(detail_type="BelowThreshold")
    by_cause: dict[str, int] = {}
    for a in alerts:
        by_cause[a.detail["cause"]] = by_cause.get(a.detail["cause"], 0) + 1
    console.print(f"BelowThreshold events: {len(alerts)} {by_cause}")
    rejected = runtime.bus.archived(detail_type="FileRejected")
    whole = sum(1 for e in rejected if e.detail.get("reason") != "bad_rows")
    console.print(
        f"FileRejected events: {len(rejected)}: {len(rejected) - whole} file(s) with bad rows (the good rows "
        f"applied, the bad kept with line and reason: `inventory files bad-rows KEY`), {whole} file(s) refused whole"
    )
    if isinstance(ports.mailer, OutboxMailer):
        mails = ports.mailer.messages()
        console.print(f"{len(mails)} mail(s) in {ports.mailer.outbox.resolve()}:")
        for mail_id, data in mails[:8]:
            console.print(f"  {mail_id}  {str(email.message_from_bytes(data)['Subject']).strip()}")
        console.print(
            f"  read one: {command_name()} --home {home} mail show {mails[0][0] if mails else 'ID'} > mail.eml"
        )
    else:
        console.print(f"Mails went to the SMTP server {(ports.settings.smtp_url or '').split('@')[-1]}")
    console.rule("Try it yourself")
    cmd = command_name()
    console.print(
        f"  {cmd} --home {home} report warehouse '{first}' --min-level 50\n"
        f"  {cmd} --home {home} --format json report restock\n"
        f"  {cmd} --home {home} events list --type BelowThreshold\n"
        f"  {cmd} --home {home} serve    # dashboard on http://127.0.0.1:8080/, inbox {home / 'inbox'}"
    )


def command_name() -> str:
    """How the user can call us again: `inventory` when it is on PATH, else the path make used."""
    invoked = Path(sys.argv[0])
    on_path = shutil.which("inventory")
    if on_path and invoked.name == "inventory" and Path(on_path).resolve() == invoked.resolve():
        return "inventory"
    return str(invoked) if invoked.name == "inventory" else "inventory"
