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
    run_demo(st.runtime(apply_default=True), Console(), seed=seed)
    Console().print(f"\nDemo finished in {time.monotonic() - started:.1f} s. Home: {settings.home.resolve()}")


def serve(
    ctx: typer.Context,
    poll: Annotated[float, typer.Option("--poll", min=0.05, max=60, help="Seconds between inbox scans.")] = 0.5,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Reports API and dashboard port.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address of the API; anything but loopback needs INVENTORY_API_TOKEN.")
    ] = "127.0.0.1",
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the reports API and dashboard.")] = True,
) -> None:
    """Run the local system: watch <home>/inbox, deliver events, serve the API, validate at 03:00 UTC."""
    import logging

    from rich.console import Console

    from local.cli import UserError, state
    from local.http_server import TokenRequired, make_server, serve_in_thread
    from local.serve import HomeServed, NightlyValidation, ServeLock, Server, stop_on_signals
    from local.wiring import bootstrap, open_home

    stop = stop_on_signals()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    st = state(ctx)
    if st.backend != "local":
        raise UserError("this command works on the local runtime only (drop --backend aws)")
    # One serve per home, checked before the runtime starts: a second one changes nothing, not even the
    # default threshold in force. The lock goes with the process, however it ends.
    open_home(st.settings())
    try:
        lock = ServeLock.acquire(st.settings().home)
    except HomeServed as exc:
        raise UserError(str(exc)) from None
    runtime = st.runtime(apply_default=True)
    settings = runtime.ports.settings
    nightly = NightlyValidation(settings)
    server = Server(runtime, nightly=nightly.start, poll_seconds=poll, stop_event=stop)
    nightly.stop_event = server.stop_event
    console = Console(stderr=True)
    http = None
    if api:
        # Its own connection: a report never sees a file half-applied by the delivery thread.
        api_runtime = bootstrap(settings, apply_default=False)
        try:
            http = make_server(api_runtime.ports, host, port, token=settings.api_token)
        except TokenRequired as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        serve_in_thread(http)
    console.print(
        f"Serving {settings.home.resolve()}: drop files into {server.inbox} (as for `inventory put FOLDER`)."
        + (f" Dashboard and API on {http.url}/." if http else "")
        + f" Next validation {server.next_run:%Y-%m-%d %H:%M} UTC. Ctrl-C stops."
    )
    server.serve_forever()
    if http is not None:
        http.shutdown()
    nightly.join()
    console.print(f"Stopped cleanly after delivering {server.stats.delivered} event(s).")
    runtime.close()
    lock.release()


def status(ctx: typer.Context) -> None:
    """Files by status (waiting: stored or arrived, not yet applied), pending and dead deliveries."""
    from local.cli import state
    from local.cli_files import stored_files
    from local.output import emit

    st = state(ctx)
    runtime = st.runtime()
    conn = runtime.db.conn
    files = dict(conn.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
    # A file put but not processed is not in the ledger yet, yet it waits as much as one that arrived.
    stored = len(stored_files(runtime.ports))
    emit(
        {
            "files_applied": files.get("applied", 0),
            "files_rejected": files.get("rejected", 0),
            "files_waiting": files.get("arrived", 0) + stored,
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
