"""`inventory sql`: DuckDB over the applied files of the bucket (views `transactions` and `rejected_rows`).

Loading parses every inventory file (about 10 s for a million rows), so one command can run many
statements: several in the argument, or a script or an interactive session on stdin.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import typer

PROMPT, MORE = "sql> ", "...> "
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


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
    """Run SQL over every good row of every applied inventory file (read-only outside memory)."""
    from local.cli import UserError, state
    from services.reports.sql import SqlError, connect

    st = state(ctx)
    if first_day and last_day and first_day > last_day:
        raise UserError("--from is after --to")
    interactive = query is None and sys.stdin.isatty()
    if query is None and not interactive:
        query = sys.stdin.read()
    ports = st.ports()
    con, stats = connect(
        ports.objects,
        ports.table,
        first_day=first_day.date() if first_day else None,
        last_day=last_day.date() if last_day else None,
    )
    try:
        if query is None:
            _note_left_out(stats.not_applied, stats.changed)
            _prompt(con, st.format)
            return
        script = _statements(con, query)
        if not script.statements and script.error is None:
            raise UserError("no SQL statement given")
        try:
            _run(con, script.statements, st.format, several=script.several)
        except SqlError as exc:
            raise UserError(str(exc)) from None
        if script.error is not None:
            raise UserError(script.error)
        # After the results, and only when nothing failed: an error stays the one line on stderr.
        _note_left_out(stats.not_applied, stats.changed)
    finally:
        con.close()


def _note_left_out(not_applied: int, changed: int) -> None:
    """Say on stderr which stored files the views leave out, so a sum that misses them is no surprise."""
    if not_applied:
        print(
            f"note: {not_applied} stored inventory file(s) left out: not applied yet "
            "(`inventory process` applies them)",
            file=sys.stderr,
        )
    if changed:
        print(
            f"note: {changed} stored inventory file(s) left out: their content is not what was applied under "
            "the key (see `inventory events list --type FileRejected`)",
            file=sys.stderr,
        )


@dataclass
class Script:
    statements: list[str]  # to run, in order
    several: bool  # the text holds more than one statement: results and errors are numbered
    error: str | None = None  # the first statement that does not parse, numbered when several


def _statements(con: Any, text: str) -> Script:
    """The statements of a text; on a parse error, those before the failing one and the numbered error."""
    try:
        parsed = [s.query for s in con.extract_statements(text)]
        return Script(parsed, several=len(parsed) > 1)
    except Exception as exc:  # duckdb.ParserException
        whole_error = _first_line(str(exc))
    # DuckDB refuses the whole text for one bad statement and does not say which: cut it at the ';'
    # between statements and parse piece by piece to find it, running what came before.
    pieces = [p for p in _split_sql(text) if p.strip()]
    statements: list[str] = []
    several = len(pieces) > 1
    for piece in pieces:
        try:
            statements.extend(s.query for s in con.extract_statements(piece))
        except Exception as exc:
            several = several or bool(statements)
            number = len(statements) + 1
            message = _first_line(str(exc))
            return Script(statements, several, f"statement {number}: {message}" if several else message)
    # The pieces parse although the whole did not (a ';' this splitter misread): run nothing.
    return Script([], several=False, error=whole_error)


def _split_sql(text: str) -> list[str]:
    """Cut a script after each ';' that is outside quotes, comments and $$ strings."""
    pieces: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            backslash = c == "'" and i > 0 and text[i - 1] in "eE" and (i < 2 or not text[i - 2].isalnum())
            i += 1
            while i < n:
                if backslash and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == c:
                    if i + 1 < n and text[i + 1] == c:  # a doubled quote stands for itself
                        i += 2
                        continue
                    break
                i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif c == "$":
            match = _DOLLAR_TAG.match(text, i)
            if match:
                end = text.find(match.group(0), match.end())
                i = n if end < 0 else end + len(match.group(0)) - 1
        elif c == ";":
            pieces.append(text[start : i + 1])
            start = i + 1
        i += 1
    pieces.append(text[start:])
    return pieces


def _run(con: Any, statements: list[str], fmt: str, several: bool | None = None) -> None:
    """One statement prints its rows as before; several print one result each (JSON: a list of them).

    When a statement fails, the results of those before it are printed, then SqlError names it.
    """
    from local.output import emit
    from services.reports.sql import SqlError, iter_dicts, run_query

    several = len(statements) > 1 if several is None else several
    results = []
    try:
        for number, statement in enumerate(statements, start=1):
            try:
                result = run_query(con, statement)
            except SqlError as exc:
                raise SqlError(f"statement {number}: {exc}" if several else str(exc)) from None
            rows = [{k: plain(v, fmt) for k, v in row.items()} for row in iter_dicts(result)]
            if not several:
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
    finally:
        # JSON is one document: what ran before a failure is printed as the list of its results.
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
        script = _statements(con, text)
        try:
            _run(con, script.statements, fmt, several=script.several)
        except SqlError as exc:
            console.print(f"error: {exc}", style="red", markup=False)
            continue
        if script.error is not None:
            console.print(f"error: {script.error}", style="red", markup=False)


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.strip().splitlines() if line.strip()), "query failed")


def plain(value: Any, fmt: str) -> Any:
    """A value as the output formats can hold it, the same text in each (docs/reports.md lists them).

    DuckDB hands over Python objects whose str() is a repr (b'x', 1 day, 0:00:00): BLOB becomes upper-case
    hex (what DuckDB's hex() returns), INTERVAL an ISO 8601 duration, times ISO 8601, DECIMAL its digits
    as text (no float rounding); lists, structs and maps keep their shape with their values converted.
    """
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinities; json.dumps would write them anyway, and parsers refuse them.
        if fmt == "json" and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v, fmt) for v in value]
    if isinstance(value, dict):
        return {_key(plain(k, fmt)): plain(v, fmt) for k, v in value.items()}
    return str(value)  # Decimal, UUID, ...


def _key(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def iso_duration(value: timedelta) -> str:
    """An ISO 8601 duration in days, hours, minutes and seconds: P1D, PT1H30M, -PT0.5S, P32DT3H.

    DuckDB's Python conversion has already turned months into 30 days, so no month part is written.
    """
    sign = "-" if value < timedelta(0) else ""
    micros = abs(value) // timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    clock = "".join(f"{n}{unit}" for n, unit in ((hour, "H"), (minute, "M")) if n)
    if second or micro:
        clock += f"{second}.{micro:06d}".rstrip("0").rstrip(".") + "S" if micro else f"{second}S"
    text = (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return f"{sign}P{text or '0D'}"


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
