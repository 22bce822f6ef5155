"""`inventory validate`: the nightly validation, run now (the local scheduler runs the same at 03:00 UTC)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.limits import MAX_CHECK_DELAY

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar

    from adapters.ports import FileRecord


class RichProgress:
    """A progress bar over the files of the run, with the transaction count, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar: RichBar = Progress(
            TextColumn("validating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[transactions]} transactions · {task.fields[file]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("files", total=None, transactions=0, file="")
        self.transactions = 0

    def start(self, files: int, resumed_transactions: int) -> None:
        self.transactions = resumed_transactions
        self.bar.update(self.task, total=files, transactions=self.transactions)
        self.bar.start()

    def file_started(self, record: FileRecord) -> None:
        self.bar.update(self.task, file=record.key.rsplit("/", 1)[-1])

    def advance(self, transactions: int) -> None:
        self.transactions += transactions
        self.bar.update(self.task, transactions=self.transactions)

    def file_done(self, record: FileRecord, transactions: int, findings: int, seconds: float) -> None:
        self.bar.advance(self.task)

    def finish(self) -> None:
        self.bar.stop()  # idempotent in rich: safe when the run ends after a failure


def validate(
    ctx: typer.Context,
    check_delay: Annotated[
        float | None,
        typer.Option(
            "--check-delay",
            min=0.0,
            max=MAX_CHECK_DELAY,
            help="Seconds the spec's slow check takes per transaction (default: $INVENTORY_CHECK_DELAY, else 10).",
        ),
    ] = None,
    checkpoint_every: Annotated[
        int,
        typer.Option("--checkpoint-every", min=1, help="Checkpoint after this many transactions (and every file)."),
    ] = 1000,
) -> None:
    """Check every transaction since the last run, in arrival order; store a report and mail a summary.

    Resumable: a run that was killed continues where it stopped. Only one runs at a time; a second one
    exits at once saying so.
    """
    from adapters.local.validator_state import SqliteValidatorState
    from local.cli import UserError, state
    from local.delivery import ONE_SHOT_PATIENCE_SECONDS, left_waiting, run_until_idle
    from local.output import emit
    from validator.run import NoProgress, Progress, RunActive, run_validation, stop_on_sigterm
    from validator.state import LeaseLost

    st = state(ctx)
    runtime = st.runtime()
    progress: Progress = RichProgress() if st.format == "table" and sys.stderr.isatty() else NoProgress()
    with stop_on_sigterm() as stop:
        try:
            summary = run_validation(
                runtime.ports,
                SqliteValidatorState(runtime.db),
                runtime.ports.settings,
                check_delay=check_delay,
                checkpoint_every=checkpoint_every,
                progress=progress,
                stop=stop,
            )
        except LeaseLost as exc:
            raise UserError(f"{exc}: another run took over; this one stopped without saving more") from None
        except RunActive as exc:
            # Not an error: the scheduler may start a run while the last one is still going.
            if st.format == "json":
                sys.stdout.write(json.dumps({"status": "active", "message": str(exc)}) + "\n")
            else:
                sys.stdout.write(f"{exc}\n")
            return
    if summary.status == "completed":
        # Deliver ValidationCompleted (and whatever else waits) so the summary mail goes out now.
        waiting = left_waiting(run_until_idle(runtime.ports, runtime.bus, patience=ONE_SHOT_PATIENCE_SECONDS))
        if waiting:
            sys.stderr.write(f"note: {waiting}\n")  # the validation itself completed; its mail waits
    out = summary.to_dict()
    if st.format == "table":
        out["findings_by_kind"] = ", ".join(f"{k}: {v}" for k, v in out["findings_by_kind"].items()) or "-"
        rows = [{"field": k, "value": "" if v is None else str(v)} for k, v in out.items()]
        emit(rows, "table", ["field", "value"], title="Validation")
    else:
        emit(out, st.format)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
