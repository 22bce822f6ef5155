"""`inventory demo` and `inventory serve`: the embedded runtime, whole."""

from __future__ import annotations

import time
from typing import Annotated

import typer


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sample data.")] = 7,
) -> None:
    """From an empty home: generate sample data, process it, and show what a user would see."""
    from rich.console import Console

    from local.cli import UserError, state
    from local.demo import run_demo

    st = state(ctx)
    settings = st.settings()
    if (settings.home / "state.db").exists():
        raise UserError(f"{settings.home} is not empty; the demo starts from an empty home (use --home DIR)")
    started = time.monotonic()
    run_demo(st.runtime(), Console(), seed=seed)
    Console().print(f"\nDemo finished in {time.monotonic() - started:.1f} s. Home: {settings.home.resolve()}")


def serve(
    ctx: typer.Context,
    poll: Annotated[float, typer.Option("--poll", min=0.05, max=60, help="Seconds between inbox scans.")] = 0.5,
) -> None:
    """Run the local system: watch <home>/inbox, deliver events, validate nightly at 03:00 UTC."""
    import logging

    from rich.console import Console

    from local.cli import state
    from local.serve import Server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    st = state(ctx)
    runtime = st.runtime()
    server = Server(runtime, nightly=_nightly_job, poll_seconds=poll)
    server.install_signal_handlers()
    console = Console(stderr=True)
    console.print(
        f"Serving {runtime.ports.settings.home.resolve()}: drop files into {server.inbox} "
        f"(laid out like the bucket keys). Next validation {server.next_run:%Y-%m-%d %H:%M} UTC. "
        "Ctrl-C stops."
    )
    server.serve_forever()
    console.print(f"Stopped cleanly after delivering {server.stats.delivered} event(s).")
    runtime.close()


def _nightly_job(runtime: object) -> None:
    import logging

    logging.getLogger("inventory.serve").info("nightly validation: the validator is not installed yet")


def status(ctx: typer.Context) -> None:
    """Files by status, pending and dead deliveries."""
    from local.cli import state
    from local.output import emit

    st = state(ctx)
    runtime = st.runtime()
    conn = runtime.db.conn
    files = dict(conn.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
    emit(
        {
            "files_applied": files.get("applied", 0),
            "files_rejected": files.get("rejected", 0),
            "files_waiting": files.get("arrived", 0),
            "deliveries_pending": runtime.bus.pending_count(),
            "deliveries_dead": len(runtime.bus.dead()),
        },
        st.format,
        title="Status",
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("serve")(serve)
    app.command("status")(status)
