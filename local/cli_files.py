"""`inventory files list|bad-rows`: what became of each uploaded file, and the rows it kept aside."""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.limits import SQLITE_MAX_INTEGER

if TYPE_CHECKING:
    from adapters.ports import ObjectInfo, Ports

files_app = typer.Typer(help="Files received: their status, row counts and bad rows.", no_args_is_help=True)

FILE_COLUMNS = [
    "sequence",
    "key",
    "kind",
    "status",
    "good_rows",
    "bad_rows",
    "applied_total",
    "reason",
    "message",
    "arrived_at",
    "etag",
]
TABLE_COLUMNS = ["sequence", "key", "status", "good_rows", "bad_rows", "reason"]
BAD_ROW_COLUMNS = ["line", "reason", "raw"]


class FileStatus(str, Enum):
    arrived = "arrived"
    applied = "applied"
    rejected = "rejected"
    stored = "stored"  # in the bucket, not yet seen by the files service (not in the ledger)


STORED_MESSAGE = "waiting for `inventory process`"


@files_app.command("list")
def list_files(
    ctx: typer.Context,
    status: Annotated[FileStatus | None, typer.Option("--status", help="Only files in this state.")] = None,
    after: Annotated[
        int,
        typer.Option(
            "--after", min=0, max=SQLITE_MAX_INTEGER, help="Only files that arrived after this sequence number."
        ),
    ] = 0,
) -> None:
    """Every file in arrival order: applied, rejected (with the reason) or still waiting.

    Files stored but not processed yet come last, with status `stored`; finding them lists the bucket
    (on AWS a long bucket takes a while).
    """
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    rows = [
        {**asdict(f), "arrived_at": f.arrived_at.isoformat()}
        for f in st.ports().table.files_since(after)
        if status is None or f.status == status.value
    ]
    if status in (None, FileStatus.stored):
        # Not in the ledger, so no sequence yet: they will arrive after every file listed, whatever --after.
        rows += [stored_row(info) for info in stored_files(st.ports())]
    if st.format == "table":
        # The terminal table keeps what fits on a line, and a rejection's sentence says more than its
        # code; JSON and CSV carry both, and every other column.
        rows = [{**r, "reason": r["message"] or r["reason"]} for r in rows]
        emit(rows, st.format, TABLE_COLUMNS, title="Files")
        return
    emit(rows, st.format, FILE_COLUMNS, title="Files")


def stored_files(ports: Ports) -> list[ObjectInfo]:
    """The files put in the bucket that the ledger does not know yet (read the ledger first, then list:
    a file recorded meanwhile is then listed as stored, never twice or not at all)."""
    from services.files.logic import stored_not_recorded

    recorded = {f.key for f in ports.table.files_since(0)}
    return stored_not_recorded(ports.objects, recorded)


def stored_row(info: ObjectInfo) -> dict[str, object]:
    from services.files.keys import classify_key

    return {
        "sequence": None,
        "key": info.key,
        "kind": classify_key(info.key),
        "status": FileStatus.stored.value,
        "good_rows": None,  # unknown until the file is read
        "bad_rows": None,
        "applied_total": None,
        "reason": "",
        "message": STORED_MESSAGE,
        "arrived_at": info.modified.isoformat(),
        "etag": info.etag,
    }


@files_app.command("bad-rows")
def bad_rows(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The file's key, as `files list` shows it.")],
) -> None:
    """The rows of one inventory file that were kept aside, with the line number and the reason."""
    from local.cli import UserError, state
    from local.output import emit

    st = state(ctx)
    table = st.ports().table
    record = table.file(key)
    if record is None:
        raise UserError(f"no file with key {key!r} (see `inventory files list`)")
    rows = [{"line": b.line, "reason": b.reason, "raw": b.raw} for b in table.bad_rows(key)]
    emit(rows, st.format, BAD_ROW_COLUMNS, title=f"Bad rows of {key}")
    if record.status == "rejected":
        # No row of it was used, so no row is listed: say why the whole file was refused.
        print(f"note: the whole file was rejected: {record.message or record.reason}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(files_app, name="files")
