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


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
