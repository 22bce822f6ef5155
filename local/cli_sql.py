"""`inventory sql`: DuckDB over the local bucket (views `transactions` and `rejected_rows`).

Loading parses every inventory file (about 10 s for a million rows), so one command can run many
statements: several in the argument, or a script or an interactive session on stdin.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer

PROMPT, MORE = "sql> ", "...> "


def sql(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(
            help="SQL over the views transactions(ts, warehouse, item_id, item_name, change, file_key, year, "
            "month, day) and rejected_rows(file_key, line, reason, raw); several statements end with ';'. "
            "Without it, statements are read from stdin (a script, or a prompt in a terminal).",
        ),
    ] = None,
    first_day: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="Only files dated this day or later (the key's date)."),
    ] = None,
    last_day: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Only files dated this day or earlier."),
    ] = None,
) -> None:
    """Run SQL over every good row of every inventory file in the bucket (read-only outside memory)."""
    from local.cli import UserError, state
    from services.reports.sql import SqlError, connect

    st = state(ctx)
    if first_day and last_day and first_day > last_day:
        raise UserError("--from is after --to")
    interactive = query is None and sys.stdin.isatty()
    if query is None and not interactive:
        query = sys.stdin.read()
    con, _stats = connect(
        st.ports().objects,
        first_day=first_day.date() if first_day else None,
        last_day=last_day.date() if last_day else None,
    )
    try:
        if query is None:
            _prompt(con, st.format)
            return
        try:
            statements = [s.query for s in con.extract_statements(query)]
        except Exception as exc:  # duckdb.ParserException: one line, like any query error
            raise UserError(_first_line(str(exc))) from None
        if not statements:
            raise UserError("no SQL statement given")
        try:
            _run(con, statements, st.format)
        except SqlError as exc:
            raise UserError(str(exc)) from None
    finally:
        con.close()


def _run(con: Any, statements: list[str], fmt: str) -> None:
    """One statement prints its rows as before; several print one result each (JSON: a list of them)."""
    from local.output import emit
    from services.reports.sql import iter_dicts, run_query

    results = []
    for statement in statements:
        result = run_query(con, statement)
        rows = [{k: _plain(v) if fmt != "json" else v for k, v in row.items()} for row in iter_dicts(result)]
        if len(statements) == 1:
            emit(rows, fmt, result.columns, title=None)
        elif fmt == "json":
            results.append({"query": statement.strip(), "rows": rows})
        elif fmt == "table":
            from rich.console import Console

            Console().print(statement.strip(), style="bold", markup=False, highlight=False)
            emit(rows, fmt, result.columns, title=None)
        else:
            emit(rows, fmt, result.columns, title=None)
            sys.stdout.write("\n")  # a blank line between the CSV tables
    if results:
        emit(results, fmt)


def _prompt(con: Any, fmt: str) -> None:
    """Statements typed at a prompt until EOF (Ctrl-D) or .quit; an error is shown and the session goes on."""
    from rich.console import Console

    from services.reports.sql import SqlError

    console = Console(stderr=True)
    console.print("Loaded. End statements with ';'. Ctrl-D or .quit leaves.")
    buffer = ""
    while True:
        try:
            # The prompt goes to stderr with the messages, so `inventory sql > out.txt` keeps only results.
            line = console.input(PROMPT if not buffer else MORE, markup=False, emoji=False)
        except EOFError:
            break
        if not buffer and line.strip() in (".quit", ".exit"):
            break
        buffer += line + "\n"
        if not buffer.rstrip().endswith(";"):
            continue
        text, buffer = buffer, ""
        try:
            _run(con, [s.query for s in con.extract_statements(text)], fmt)
        except SqlError as exc:
            console.print(f"error: {exc}", style="red", markup=False)
        except Exception as exc:  # a parser error from extract_statements
            console.print(f"error: {_first_line(str(exc))}", style="red", markup=False)


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.strip().splitlines() if line.strip()), "query failed")


def _plain(value: Any) -> Any:
    """Timestamps and decimals as text for the table and CSV; JSON gets them through its default=str."""
    from datetime import datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
