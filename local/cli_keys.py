"""`inventory keys rotate` and `inventory mail list|show`: what encryption at rest adds to the CLI."""

from __future__ import annotations

import email
import email.policy
import sys
from typing import Annotated

import typer

keys_app = typer.Typer(help="Encryption keys of the local home.", no_args_is_help=True)
mail_app = typer.Typer(help="Mails in the local outbox (decrypted in memory).", no_args_is_help=True)


@keys_app.command("rotate")
def rotate(ctx: typer.Context) -> None:
    """Re-wrap every data key under a new master key; reads go on meanwhile."""
    from local.cli import state
    from local.output import emit
    from local.wiring import rotate_keys

    st = state(ctx)
    emit(rotate_keys(st.runtime()), st.format, title="Rotated")


def _outbox(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from adapters.local.mailer import OutboxMailer
    from local.cli import UserError, state

    # runtime() refuses --backend aws in the words `status` uses: SES keeps no outbox to read.
    mailer = state(ctx).runtime().ports.mailer
    if not isinstance(mailer, OutboxMailer):
        raise UserError("mail goes to SMTP (INVENTORY_SMTP_URL is set); there is no local outbox")
    return mailer


@mail_app.command("list")
def list_mail(ctx: typer.Context) -> None:
    """Every mail in the outbox, oldest first."""
    from local.cli import state
    from local.output import emit

    rows = []
    for mail_id, data in _outbox(ctx).messages():
        message = email.message_from_bytes(data, policy=email.policy.default)
        rows.append(
            {
                "id": mail_id,
                "date": str(message["Date"]).strip(),
                "to": str(message["To"]).strip(),
                "subject": str(message["Subject"]).strip(),
            }
        )
    emit(rows, state(ctx).format, ["id", "date", "to", "subject"], title="Outbox")


@mail_app.command("show")
def show_mail(ctx: typer.Context, mail_id: Annotated[str, typer.Argument(help="An id from `mail list`.")]) -> None:
    """Print one mail as a standard .eml message (pipe it to a file to open it in a mail client)."""
    from local.cli import UserError

    for found, data in _outbox(ctx).messages():
        if found == mail_id:
            sys.stdout.buffer.write(data)
            return
    raise UserError(f"no mail with id {mail_id} in the outbox")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(mail_app, name="mail")
