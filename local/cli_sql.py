"""`inventory sql "QUERY"`: DuckDB over the local bucket (views `transactions` and `rejected_rows`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def sql(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            help="One SQL statement over the views transactions(ts, warehouse, item_id, item_name, change, "
            "file_key, year, month, day) and rejected_rows(file_key, line, reason, raw)."
        ),
    ],
) -> None:
    """Run SQL over every good row of every inventory file in the bucket (read-only outside memory)."""
    from local.cli import UserError, state
    from local.output import emit
    from services.reports.sql import SqlError, connect, iter_dicts, run_query

    st = state(ctx)
    con, _stats = connect(st.ports().objects)
    try:
        result = run_query(con, query)
    except SqlError as exc:
        raise UserError(str(exc)) from None
    finally:
        con.close()
    rows: list[dict[str, Any]] = [
        {k: _plain(v) if st.format != "json" else v for k, v in row.items()} for row in iter_dicts(result)
    ]
    emit(rows, st.format, result.columns, title=None)


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
