"""`inventory events ...`: the archive, dead letters, replays, and putting events from other systems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.limits import MAX_ARCHIVE_DAYS

events_app = typer.Typer(help="The event bus: archive, dead letters, replay, put.", no_args_is_help=True)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    from local.cli import UserError

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} must be an ISO 8601 time such as 2021-02-15T12:00:00Z, not {text!r}") from None
    try:
        # The archive compares UTC times: a time near year 1 or 9999 whose offset pushes it past the
        # calendar fails here, where the option can still be named, not deep in a query.
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise UserError(f"{option} is out of range: {text!r} is not between years 1 and 9999 in UTC") from None


def _detail_type(detail_type: str | None) -> str | None:
    """The option's detail-type, refused when the contract has no such type (it would only ever match nothing)."""
    if detail_type is None:
        return None
    from events import DETAIL_MODELS
    from local.cli import UserError

    if detail_type not in DETAIL_MODELS:
        raise UserError(f"unknown detail-type {detail_type!r} for --type; one of: {', '.join(DETAIL_MODELS)}")
    return detail_type


def _event_dict(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time.isoformat(),
        "source": event.source,
        "detail_type": event.detail_type,
        "detail": event.detail,
    }


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    detail_type: Annotated[str | None, typer.Option("--type", help="Only this detail-type.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 time.")] = None,
) -> None:
    """Archived events of the custom bus, oldest first."""
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    detail_type = _detail_type(detail_type)
    since_at = _when(since, "--since")
    if st.backend == "aws":
        from local.cli_aws import audit_events

        events = audit_events(st.aws(), detail_type=detail_type, since=since_at)
    else:
        events = st.runtime().bus.archived(detail_type=detail_type, since=since_at)
    rows = [_event_dict(e) for e in events]
    if st.format == "table":
        for row in rows:
            row["detail"] = json.dumps(row["detail"], ensure_ascii=False)[:120]
    emit(rows, st.format, ["id", "time", "source", "detail_type", "detail"], title="Events")


@events_app.command("put")
def put_event(
    ctx: typer.Context,
    detail_type: Annotated[str, typer.Argument(help="One of the contract's detail-types, e.g. BelowThreshold.")],
    detail: Annotated[str, typer.Option("--detail", help="The detail as JSON, or @FILE to read it from a file.")],
    source: Annotated[str | None, typer.Option("--source", help="Event source (default: the type's producer).")] = None,
) -> None:
    """Put an event on the bus; its detail is validated against the contract first."""
    from pydantic import ValidationError

    from events import DETAIL_MODELS, SOURCES, new_event
    from local.cli import UserError, state
    from local.output import emit

    st = state(ctx)
    model = DETAIL_MODELS.get(detail_type)
    if model is None:
        raise UserError(f"unknown detail-type {detail_type!r}; one of: {', '.join(DETAIL_MODELS)}")
    text = detail
    if detail.startswith("@"):
        try:
            text = Path(detail[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {detail[1:]}: {exc}") from None
    try:
        parsed = model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "detail"
        raise UserError(f"detail does not fit {detail_type}: {where}: {first['msg']}") from None
    allowed = SOURCES[detail_type]
    source = source or allowed[0]
    if source not in allowed:
        raise UserError(f"source {source!r} does not emit {detail_type}; one of: {', '.join(allowed)}")
    event = new_event(parsed, source=source, id_parts=("put", parsed.model_dump_json(), datetime.now(UTC)))
    st.runtime().bus.publish([event])
    emit({"id": event.id, "detail_type": detail_type}, st.format)


@events_app.command("dead")
def dead(ctx: typer.Context) -> None:
    """Deliveries that failed too often and wait for a redrive."""
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    rows = [
        {
            "delivery": d.id,
            "target": d.target,
            "rule": d.rule,
            "attempts": d.attempts,
            "error": d.last_error,
            **_event_dict(d.event),
        }
        for d in st.runtime().bus.dead()
    ]
    if st.format == "table":
        for row in rows:
            row.pop("detail")
    emit(
        rows,
        st.format,
        ["delivery", "target", "detail_type", "id", "attempts", "error"],
        title="Dead letters",
    )


@events_app.command("redrive")
def redrive(ctx: typer.Context) -> None:
    """Queue every dead delivery again (run `inventory process` to deliver)."""
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    emit({"redriven": st.runtime().bus.redrive()}, st.format)


@events_app.command("replay")
def replay(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="ISO 8601 time.")],
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 time.")] = None,
    detail_type: Annotated[str | None, typer.Option("--type", help="Only this detail-type.")] = None,
) -> None:
    """Re-deliver archived events to their rules (consumers ignore what they already handled)."""
    from local.cli import UserError, state
    from local.delivery import ONE_SHOT_PATIENCE_SECONDS, left_waiting, run_until_idle
    from local.output import emit

    st = state(ctx)
    since_at = _when(since, "--since")
    assert since_at is not None
    until_at = _when(until, "--until")
    # The window is since <= time < until, so an --until not after --since can only replay nothing.
    if until_at is not None and until_at <= since_at:
        raise UserError(f"--until {until} is not after --since {since}: no event could be replayed")
    detail_type = _detail_type(detail_type)
    runtime = st.runtime()
    name = "replay-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    queued = runtime.bus.replay(name, since_at, until_at, detail_type)
    stats = run_until_idle(runtime.ports, runtime.bus, patience=ONE_SHOT_PATIENCE_SECONDS)
    emit(
        {
            "replay": name,
            "deliveries": queued,
            "delivered": stats.delivered,
            "dead": stats.dead,
            "waiting": stats.waiting,
        },
        st.format,
    )
    waiting = left_waiting(stats)
    if waiting:
        raise UserError(waiting)


@events_app.command("prune")
def prune(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=MAX_ARCHIVE_DAYS,
            help="Keep this many days (default: INVENTORY_ARCHIVE_DAYS, 365).",
        ),
    ] = None,
) -> None:
    """Forget delivered events older than the archive's retention (`serve` does this once a day)."""
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    runtime = st.runtime()
    keep = days or runtime.ports.settings.archive_days
    before = datetime.now(UTC) - timedelta(days=keep)
    emit({"pruned": runtime.bus.prune(before), "before": before.isoformat(timespec="seconds")}, st.format)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
