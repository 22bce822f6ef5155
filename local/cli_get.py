"""`inventory get KEY`: a stored object as it was put, decrypted (a data file or a validation report)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The object's key, e.g. as `files list` or a validation mail shows it.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print a stored object (an inventory or thresholds file, a validation report) as it was put.

    Objects are encrypted at rest, so this is how to read them: `inventory get KEY > copy.csv`.
    """
    from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX
    from local.cli import UserError, state
    from validator.report import PREFIX as REPORTS_PREFIX

    prefixes = (INVENTORY_PREFIX, THRESHOLDS_PREFIX, REPORTS_PREFIX)
    if not key.startswith(prefixes) or any(part in ("", ".", "..") for part in key.split("/")):
        raise UserError(f"key {key!r} must name a file under {', '.join(prefixes)}")
    st = state(ctx)
    objects = st.ports().objects
    if objects.head(key) is None:
        raise UserError(f"no object with key {key!r} (see `inventory files list`)")
    if out is not None:
        # Written next to the target and renamed, so a failed read never leaves half a file behind.
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("wb") as fh:
                for chunk in objects.stream(key):
                    fh.write(chunk)
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
        return
    for chunk in objects.stream(key):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def register(app: typer.Typer) -> None:
    app.command("get")(get)
