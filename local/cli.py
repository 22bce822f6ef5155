"""The `inventory` command line. Global options come before the subcommand.

Heavy imports happen inside commands, so `inventory --help` starts fast.
"""

from __future__ import annotations

import logging
import re
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adapters.limits import LEVEL_BOUND

if TYPE_CHECKING:
    from adapters.ports import Ports
    from local.cli_aws import AwsRuntime
    from local.wiring import LocalRuntime


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 1."""


app = typer.Typer(
    name="inventory",
    help="Serverless Inventory: stock levels, restock alerts and reports for many warehouses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
report_app = typer.Typer(help="Reports: a warehouse's items, an item's total, the restock list.", no_args_is_help=True)
app.add_typer(report_app, name="report")


class Backend(str, Enum):
    local = "local"
    aws = "aws"


class State:
    def __init__(
        self,
        home: Path | None,
        fmt: Format,
        backend: Backend = Backend.local,
        endpoint_url: str | None = None,
        stack: str | None = None,
    ) -> None:
        self.home = home
        self.format = fmt.value
        self.backend = backend.value
        self.endpoint_url = endpoint_url
        self.stack = stack
        self._runtime: LocalRuntime | None = None
        self._aws: AwsRuntime | None = None

    def settings(self) -> Any:
        from adapters.settings import Settings

        return Settings.from_env(home=self.home)

    def runtime(self, apply_default: bool = False) -> LocalRuntime:
        """The local runtime; `apply_default` only for the commands that run the services (see bootstrap)."""
        if self.backend != "local":
            raise UserError("this command works on the local runtime only (drop --backend aws)")
        if self._runtime is None:
            from local.wiring import bootstrap

            settings = self.settings()
            self._runtime = bootstrap(settings, apply_default=apply_default)
            in_force = self._runtime.ports.table.default_threshold
            if in_force != settings.default_threshold:
                print(
                    f"note: the default threshold in force is {in_force} (set by the last `process` or "
                    f"`serve`), not INVENTORY_DEFAULT_THRESHOLD={settings.default_threshold}; "
                    "`inventory process` or `inventory serve` applies it",
                    file=sys.stderr,
                )
        return self._runtime

    def aws(self) -> AwsRuntime:
        if self._aws is None:
            from local.cli_aws import AwsRuntime

            self._aws = AwsRuntime.connect(self.settings(), self.endpoint_url, self.stack)
        return self._aws

    def ports(self) -> Ports:
        if self.backend == "aws":
            return self.aws().ports
        return self.runtime().ports


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Home folder of the local runtime (default: $INVENTORY_HOME, else ./.inventory)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    backend: Annotated[
        Backend, typer.Option("--backend", help="Which runtime: the embedded local one, or AWS.")
    ] = Backend.local,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="AWS endpoint, e.g. a moto server (default: $AWS_ENDPOINT_URL, else AWS)."),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option("--stack", help="Read the AWS resource names from this CloudFormation stack's outputs."),
    ] = None,
) -> None:
    if backend is Backend.local and (endpoint_url or stack):
        raise UserError("--endpoint-url and --stack need --backend aws")
    if backend is Backend.aws:
        import os

        # botocore checks the endpoint only when the first client is made, deep inside a command, and
        # says so with a traceback: check both sources it may come from here, where they can be named.
        if endpoint_url is not None:
            _check_endpoint(endpoint_url, "--endpoint-url")
        elif os.environ.get("AWS_ENDPOINT_URL"):
            _check_endpoint(os.environ["AWS_ENDPOINT_URL"], "AWS_ENDPOINT_URL")
    ctx.obj = State(home, fmt, backend, endpoint_url, stack)


def _check_endpoint(url: str, name: str) -> None:
    """UserError unless `url` is an http(s) URL with a host (and a valid port), as botocore needs it."""
    from urllib.parse import urlsplit

    problem = f"{name} must be an http(s) URL with a host, such as http://127.0.0.1:5000, not {url!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise UserError(problem) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError(problem)
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    # botocore's own test (host name characters, IPv6 forms), so nothing that passes here fails there
    if not is_valid_endpoint_url(url) and not is_valid_ipv6_endpoint_url(url):
        raise UserError(problem)


# ---------------------------------------------------------------------------------------------- put


@app.command()
def put(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file, or a folder: laid out like the bucket keys, or flat.")],
    key: Annotated[str | None, typer.Option("--key", help="Object key (default: derived from the file name).")] = None,
) -> None:
    """Store a file in the bucket; `process` then applies it."""
    from services.files.keys import day_of, key_for_upload
    from services.files.logic import FileConflict, upload

    st = state(ctx)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        if key:
            raise UserError("--key applies to a single file, not a folder")
        uploads = _folder_uploads(path)
    else:
        uploads = [(path, key or key_for_upload(path.name, day_of(path.stat().st_mtime)))]
    stored: list[dict[str, object]] = []
    conflicts: list[str] = []
    for file_path, file_key in uploads:
        try:
            info = upload(st.ports(), file_key, file_path)
        except FileConflict as exc:
            if len(uploads) == 1:
                raise
            conflicts.append(str(exc))  # the other files of a folder still go in
            continue
        stored.append({"key": info.key, "size": info.size, "etag": info.etag})
    from local.output import emit

    emit(stored, st.format, ["key", "size", "etag"], title="Stored")
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise UserError(f"{len(stored)} stored, {len(conflicts)} refused: {conflicts[0]}{more}")


def _folder_uploads(folder: Path) -> list[tuple[Path, str]]:
    """A folder's files with their keys; UserError, before anything is stored, if any key is unusable.

    A file laid out under a prefix keeps its path as key; any other gets the key `put FILE` would give it.
    """
    from services.files.keys import BadKey, day_of, key_in_folder

    # Hidden files (.DS_Store, ._x from macOS, .git/...) are not uploads, as in serve's inbox.
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not files:
        raise UserError(f"no files under {folder}")
    uploads, refused = [], []
    for file_path in files:
        try:
            relative = file_path.relative_to(folder).as_posix()
            uploads.append((file_path, key_in_folder(relative, day_of(file_path.stat().st_mtime))))
        except BadKey as exc:
            refused.append(str(exc))
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UserError(f"nothing stored: {refused[0]}{more}")
    return uploads


# ------------------------------------------------------------------------------------------ process


@app.command()
def process(
    ctx: typer.Context,
    invoke_local: Annotated[
        bool | None,
        typer.Option(
            "--invoke-local/--no-invoke-local",
            help="AWS: receive from the queues and run the handlers here, as Lambda would "
            "(the default with --endpoint-url).",
        ),
    ] = None,
) -> None:
    """Handle everything that arrived, in arrival order, then exit."""
    from local.delivery import ONE_SHOT_PATIENCE_SECONDS, deliveries, left_waiting, run_until_idle

    st = state(ctx)
    if st.backend == "aws":
        from local.cli_aws import process_aws

        process_aws(st, invoke_local=invoke_local)
        return
    runtime = st.runtime(apply_default=True)
    stats = run_until_idle(runtime.ports, runtime.bus, patience=ONE_SHOT_PATIENCE_SECONDS)
    summary = {
        "delivered": stats.delivered,
        "retried": stats.retried,
        "dead": stats.dead,
        "waiting": stats.waiting,
        **stats.by_target,
    }
    from local.output import emit

    emit(summary, st.format, title="Processed")
    if stats.dead:
        raise UserError(f"{deliveries(stats.dead)} failed for good; see `inventory events dead`")
    waiting = left_waiting(stats)
    if waiting:
        raise UserError(waiting)


# ------------------------------------------------------------------------------------------ reports

ROW_COLUMNS = ["warehouse", "item_id", "item_name", "level", "threshold", "below"]


@report_app.command("warehouse")
def report_warehouse(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Warehouse name, e.g. 'Berlin 1'.")],
    min_level: Annotated[
        int | None,
        typer.Option(
            "--min-level",
            min=-LEVEL_BOUND,
            max=LEVEL_BOUND,
            help="Only items with a level strictly greater than this.",
        ),
    ] = None,
) -> None:
    """Every item of a warehouse (or those above a level)."""
    from local.output import emit
    from services.reports.logic import warehouse_report

    st = state(ctx)
    emit(warehouse_report(st.ports().table, name, min_level), st.format, ROW_COLUMNS, title=f"Warehouse {name}")


@report_app.command("item")
def report_item(ctx: typer.Context, item_id: Annotated[str, typer.Argument(help="Item id, e.g. a123v5.")]) -> None:
    """An item's total across warehouses, with the per-warehouse split."""
    from local.output import emit
    from services.reports.logic import item_report

    st = state(ctx)
    result = item_report(st.ports().table, item_id)
    if st.format == "json":
        emit(result, "json")
        return
    rows = [{"item_id": result["item_id"], "item_name": result["item_name"], **w} for w in result["warehouses"]]
    rows.append(
        {
            "item_id": result["item_id"],
            "item_name": result["item_name"],
            "warehouse": "TOTAL",
            "level": result["total"],
        }
    )
    emit(rows, st.format, ["item_id", "item_name", "warehouse", "level"], title=f"Item {item_id}")


@report_app.command("restock")
def report_restock(ctx: typer.Context) -> None:
    """Every pair below its item's restock threshold."""
    from local.output import emit
    from services.reports.logic import restock_report

    st = state(ctx)
    emit(restock_report(st.ports().table), st.format, ROW_COLUMNS, title="Restock list")


# ----------------------------------------------------------------------------------------- generate


@app.command()
def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to (laid out like the bucket).")],
    files: Annotated[int, typer.Option("--files", min=1, max=10_000)] = 6,
    rows: Annotated[int, typer.Option("--rows", min=1, max=100_000_000, help="Rows over all files.")] = 200,
    warehouses: Annotated[int, typer.Option("--warehouses", min=1, max=100_000)] = 5,
    items: Annotated[int, typer.Option("--items", min=1, max=10_000_000)] = 40,
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    bad_rows: Annotated[float, typer.Option("--bad-rows", min=0.0, max=1.0, help="Fraction of bad rows.")] = 0.0,
    thresholds: Annotated[bool, typer.Option("--thresholds/--no-thresholds")] = True,
) -> None:
    """Write realistic sample files (inventory files and a thresholds file)."""
    from local.generate import generate as run_generate
    from local.output import emit

    result = run_generate(
        out,
        files=files,
        rows=rows,
        warehouses=warehouses,
        items=items,
        seed=seed,
        days=days,
        bad_row_rate=bad_rows,
        thresholds=thresholds,
    )
    emit(
        [{"key": k} for k in [*result.inventory_keys, *result.thresholds_keys]],
        state(ctx).format,
        ["key"],
        title=f"Generated {result.rows} rows ({result.bad_rows} bad) in {out}",
    )


# --------------------------------------------------------------------------------------------- main


def _register_subcommands() -> None:
    from local import cli_api, cli_aws, cli_events, cli_files, cli_get, cli_keys, cli_runtime, cli_sql, cli_validate

    cli_events.register(app)
    cli_runtime.register(app)
    cli_keys.register(app)
    cli_sql.register(app)
    cli_api.register(app)
    cli_aws.register(app)
    cli_validate.register(app)
    cli_files.register(app)
    cli_get.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error a user can cause becomes one line on stderr and a non-zero exit."""
    _register_subcommands()
    # A one-shot command sums up retries and dead letters in its last line; `serve` logs each (it sets up
    # logging, whose handlers still get them: a NullHandler only keeps Python's bare stderr fallback away).
    logging.getLogger("inventory.delivery").addHandler(logging.NullHandler())
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="inventory", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if _is_usage_error(exc):
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.stderr.write(_ctx_help(exc))
                sys.exit(2)
            option = str(getattr(exc, "option_name", "") or "")
            if type(exc).__name__ == "NoSuchOption" and option.startswith("--") and any(c.isspace() for c in option):
                # not an option at all: an argument that starts with "--", such as SQL that opens with a comment
                sys.stderr.write("error: an argument that starts with '--' (an SQL comment?) goes after a lone --: ")
                sys.stderr.write("inventory sql -- '-- …'\n")
                sys.exit(2)
            sys.stderr.write(f"error: {_usage_message(exc.format_message())}\n")  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        message = _user_message(exc)
        if message is None:
            raise
        sys.stderr.write(f"error: {message}\n")
        sys.exit(1)


def _usage_message(text: str) -> str:
    """click's message on one line, without pydantic's "Value error, " prefix; a date that has the right
    shape but does not exist (2021-02-30) is called what it is, not a mismatch of the format."""
    line = " ".join(text.split()).replace("Value error, ", "")
    return re.sub(
        r"'([^']*)' does not match the formats? '%Y-%m-%d'\.?",
        r"'\1' is not a real date (YYYY-MM-DD).",
        line,
    )


def _is_usage_error(exc: Exception) -> bool:
    # typer vendors click: match its ClickException by shape rather than by a private import path
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "format_message")


def _ctx_help(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    return ctx.get_help() + "\n" if ctx is not None else ""


def _user_message(exc: Exception) -> str | None:
    """The one line for errors a user can cause; None for bugs (which keep their traceback)."""
    from adapters.local.database import WrongDatabaseKey
    from adapters.settings import SettingsError
    from kms.envelope import EncryptionError
    from services.files.keys import BadKey
    from services.files.logic import FileConflict
    from services.reports.logic import NotFound

    if isinstance(exc, (UserError, BadKey, FileConflict, SettingsError, EncryptionError, WrongDatabaseKey)):
        return str(exc)
    if isinstance(exc, NotFound):
        return str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, FileExistsError):  # mkdir of a folder (the home, a bucket folder) where a file is
        return f"not a directory: {exc.filename}"
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return f"{exc.strerror}: {exc.filename}"
    aws = _aws_message(exc)
    if aws is not None:
        return aws
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return None


# AWS errors a user causes (nothing bootstrapped or deployed, wrong names, no access): one line, no traceback.
_AWS_USER_ERRORS = (
    "ResourceNotFoundException",
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "ValidationError",  # CloudFormation: no such stack
)


def _aws_message(exc: Exception) -> str | None:
    if "botocore" not in sys.modules:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _AWS_USER_ERRORS:
            return f"AWS: {exc} (was `inventory --backend aws ... bootstrap` run, or --stack given?)"
        return None
    if isinstance(exc, BotoCoreError):  # no credentials, endpoint unreachable, ...
        return f"AWS: {exc}"
    return None


if __name__ == "__main__":
    main()
