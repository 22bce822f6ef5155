"""`inventory get KEY`: a stored object as it was put, decrypted (a data file or a validation report)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from local.wiring import LocalRuntime

SET_ASIDE = "inbox-rejected/"  # where serve keeps files its inbox refused, in the home


def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The object's key, e.g. as `files list` or a validation mail shows it.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print a stored object (an inventory or thresholds file, a validation report) as it was put.

    Objects are encrypted at rest, so this is how to read them: `inventory get KEY > copy.csv`. A file
    serve's inbox refused is read the same way, by its path in the home (inbox-rejected/...), with or
    without the .enc of its sealed copy.
    """
    from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX
    from local.cli import UserError, state
    from validator.report import PREFIX as REPORTS_PREFIX

    prefixes = (INVENTORY_PREFIX, THRESHOLDS_PREFIX, REPORTS_PREFIX, SET_ASIDE)
    if not key.startswith(prefixes) or any(part in ("", ".", "..") for part in key.split("/")):
        raise UserError(f"key {key!r} must name a file under {', '.join(prefixes)}")
    st = state(ctx)
    if key.startswith(SET_ASIDE):
        _write(_set_aside(st.runtime(), key), out)
        return
    objects = st.ports().objects
    if objects.head(key) is None:
        raise UserError(f"no object with key {key!r} (see `inventory files list`)")
    _write(objects.stream(key), out)


def _set_aside(runtime: LocalRuntime, key: str) -> Iterator[bytes]:
    """A file serve's inbox refused, kept (sealed) under <home>/inbox-rejected/: its key is that path,
    with or without the .enc of the sealed copy."""
    from local.cli import UserError

    home = runtime.ports.settings.home
    # Sealed, X.csv is kept as X.csv.enc (its reason as X.csv.enc.reason.txt); serve's log names it
    # X.csv, so that name is the one to take, and the name on disk works as well.
    reason = ".reason.txt"
    names = [key, key + ".enc"] + ([key.removesuffix(reason) + ".enc" + reason] if key.endswith(reason) else [])
    key = next((name for name in names if (home / name).is_file()), key)
    path = home / key
    if not path.is_file():
        raise UserError(f"no set-aside file {key!r} (see the folder {SET_ASIDE} in the home)")
    if runtime.cipher is None or not key.endswith(".enc"):
        return iter([path.read_bytes()])
    return runtime.cipher.decrypt_stream(key, iter([path.read_bytes()]))


def _write(chunks: Iterator[bytes], out: Path | None) -> None:
    from local.cli import UserError

    if out is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    # Written next to the target and renamed, so a failed read never leaves half a file behind.
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("get")(get)
