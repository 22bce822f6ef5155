"""bootstrap() for the local runtime: SQLite, a folder as the bucket, the outbox bus, SMTP or .eml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.local.bus import LocalBus
from adapters.local.database import Database
from adapters.local.mailer import OutboxMailer, SmtpMailer
from adapters.local.object_store import FolderObjectStore
from adapters.local.stock_table import SqliteStockTable
from adapters.ports import Mailer, ObjectInfo, Ports
from adapters.settings import Settings
from events.rules import DEFAULT_BUS
from services.files.logic import object_created_event


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class LocalRuntime:
    ports: Ports
    db: Database
    bus: LocalBus

    def close(self) -> None:
        self.db.close()


def bootstrap(settings: Settings) -> LocalRuntime:
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    db = Database(home / "state.db")
    bus = LocalBus(db)
    objects = FolderObjectStore(home / "bucket", settings.bucket_name)

    # The folder announces new objects the way S3 does through EventBridge's default bus.
    def announce(info: ObjectInfo) -> None:
        bus.publish([object_created_event(settings.bucket_name, info)], bus=DEFAULT_BUS)

    objects.on_put = announce
    mailer: Mailer = SmtpMailer(settings.smtp_url) if settings.smtp_url else OutboxMailer(home / "outbox")
    table = SqliteStockTable(db, settings.default_threshold)
    ports = Ports(objects=objects, table=table, bus=bus, mailer=mailer, clock=SystemClock(), settings=settings)
    return LocalRuntime(ports=ports, db=db, bus=bus)
