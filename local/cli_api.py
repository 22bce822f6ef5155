"""`inventory api`: the reports API and dashboard alone, on 127.0.0.1 (no bus, no scheduler)."""

from __future__ import annotations

from typing import Annotated

import typer


def api(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0 picks a free one).")] = 8080,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind; other than 127.0.0.1 exposes the data to the network."),
    ] = "127.0.0.1",
    quiet: Annotated[bool, typer.Option("--quiet/--log", help="Log each request with its latency.")] = False,
) -> None:
    """Serve the reports HTTP API (/docs, /openapi.json) and the dashboard (/) until interrupted."""
    import sys

    from local.cli import UserError, state
    from local.http_server import TokenRequired, make_server, serve_forever

    st = state(ctx)
    ports = st.ports()
    try:
        server = make_server(ports, host, port, quiet=quiet, token=ports.settings.api_token)
    except TokenRequired as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sys.stderr.write(f"Reports API and dashboard on {server.url}/  (API docs: {server.url}/docs; Ctrl+C stops)\n")
    sys.stderr.flush()
    serve_forever(server)


def register(app: typer.Typer) -> None:
    app.command("api")(api)
