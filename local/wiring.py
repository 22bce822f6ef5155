"""bootstrap() for the local runtime: SQLite, a folder as the bucket, the outbox bus, SMTP or .eml."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.local.bus import LocalBus
from adapters.local.database import Database, is_plain_sqlite
from adapters.local.mailer import OutboxMailer, SmtpMailer
from adapters.local.object_store import FolderObjectStore, rewrap_file
from adapters.local.stock_table import SqliteStockTable
from adapters.ports import Mailer, ObjectInfo, Ports
from adapters.settings import Settings
from events.rules import DEFAULT_BUS
from kms.envelope import EncryptionError, MasterKeyring, ObjectCipher
from services.files.logic import object_created_event
from services.sweep import logic as sweep
from services.thresholds.logic import apply_default_threshold

DB_CONTEXT = "state.db"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class LocalRuntime:
    ports: Ports
    db: Database
    bus: LocalBus
    keyring: MasterKeyring | None = None
    cipher: ObjectCipher | None = None

    def close(self) -> None:
        self.db.close()


def _database_key(home: Path, keyring: MasterKeyring) -> bytes:
    """The database's data key, kept in the home only in wrapped form (like a KMS ciphertext blob)."""
    keys_file = home / "keys.json"
    if keys_file.exists():
        wrapped = base64.b64decode(json.loads(keys_file.read_text())[DB_CONTEXT])
        return keyring.decrypt_data_key(wrapped, DB_CONTEXT)
    if (home / "state.db").exists():
        # A plain database was refused earlier (bootstrap): this one is encrypted under a key that is gone.
        raise EncryptionError(f"{home} has a database but no keys.json: its data key is lost, or the home is damaged")
    data_key, wrapped = keyring.generate_data_key(DB_CONTEXT)
    try:
        write_keys_file(home, wrapped, exclusive=True)
    except FileExistsError:
        return _database_key(home, keyring)  # another process set the home up first: use its key
    return data_key


def write_keys_file(home: Path, wrapped: bytes, exclusive: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".keys-")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({DB_CONTEXT: base64.b64encode(wrapped).decode()}))
    try:
        if exclusive:
            os.link(tmp, home / "keys.json")
        else:
            os.replace(tmp, home / "keys.json")
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_encryption_matches(settings: Settings) -> None:
    """Refuse a home created with the other INVENTORY_ENCRYPT, before any key is looked for.

    Otherwise an encrypted home opened in clear fails deep in SQLite ("file is not a database"), and a
    clear home opened encrypted reports a missing master key, which sends the user hunting for a key
    that never existed.
    """
    db = settings.home / "state.db"
    if settings.encrypt and is_plain_sqlite(db):
        raise EncryptionError(
            f"{settings.home} is not encrypted (it was created with INVENTORY_ENCRYPT=false); "
            "set INVENTORY_ENCRYPT=false to open it"
        )
    # An empty file is what an interrupted first start leaves: SQLite makes it a database either way.
    if not settings.encrypt and db.exists() and db.stat().st_size > 0 and not is_plain_sqlite(db):
        raise EncryptionError(
            f"the database of {settings.home} is encrypted; INVENTORY_ENCRYPT=false cannot open it "
            "(unset INVENTORY_ENCRYPT)"
        )


def open_home(settings: Settings) -> SmtpMailer | None:
    """The home, created if need be; a bad INVENTORY_SMTP_URL is refused before it is created or touched."""
    smtp = SmtpMailer(settings.smtp_url) if settings.smtp_url else None
    settings.home.mkdir(parents=True, exist_ok=True)
    return smtp


def bootstrap(settings: Settings, apply_default: bool = True) -> LocalRuntime:
    """The local runtime on `settings.home`.

    apply_default: make INVENTORY_DEFAULT_THRESHOLD the default in force (announced and swept if it
    changed). Of the commands, only those that run the services (`process`, `serve`, `demo`) do; the
    others follow the default the state records, so a shell with another setting cannot change the
    alert states by reading a report.
    """
    home = settings.home
    smtp = open_home(settings)
    keyring: MasterKeyring | None = None
    cipher: ObjectCipher | None = None
    db_key: bytes | None = None
    _check_encryption_matches(settings)
    if settings.encrypt:
        fresh = not (home / "keys.json").exists() and not (home / "state.db").exists()
        keyring = MasterKeyring.load(settings.master_key, settings.master_key_file, create=fresh)
        cipher = ObjectCipher(keyring)
        db_key = _database_key(home, keyring)
    db = Database(home / "state.db", db_key)
    bus = LocalBus(db)
    objects = FolderObjectStore(home / "bucket", settings.bucket_name, cipher)

    # The folder announces new objects the way S3 does through EventBridge's default bus.
    def announce(info: ObjectInfo) -> None:
        bus.publish([object_created_event(settings.bucket_name, info)], bus=DEFAULT_BUS)

    objects.on_put = announce
    mailer: Mailer = smtp or OutboxMailer(home / "outbox", cipher)
    table = SqliteStockTable(db, settings.default_threshold)
    ports = Ports(objects=objects, table=table, bus=bus, mailer=mailer, clock=SystemClock(), settings=settings)
    if apply_default:
        # A start with another INVENTORY_DEFAULT_THRESHOLD: announced, and swept at once in the same
        # transaction (the restock list is right before anything is delivered; the delivery is a no-op).
        with table.transaction():
            for event in apply_default_threshold(ports):
                sweep.handle(ports, event)
    else:
        recorded = table.recorded_default_threshold()
        if recorded is not None:
            table.default_threshold = recorded
        else:
            # A new home: whatever this command delivers (validate and replay run pending deliveries)
            # sets alert states with this default, so it is the one to record; a later start with
            # another one is then a change, announced and swept.
            with table.transaction():
                table.record_default_threshold()
    return LocalRuntime(ports=ports, db=db, bus=bus, keyring=keyring, cipher=cipher)


def rotate_keys(runtime: LocalRuntime) -> dict[str, int | str]:
    """Add a new master key, re-wrap every data key under it, then retire the old key.

    Data keys stay the same, so readers never stop: until an object is re-wrapped its old key is still
    in the keyring, and a reader that meets a key id it does not know reloads the keyring file.
    """
    keyring, cipher = runtime.keyring, runtime.cipher
    if keyring is None or cipher is None:
        raise EncryptionError("this home is not encrypted (INVENTORY_ENCRYPT=false); there is nothing to rotate")
    home = runtime.ports.settings.home
    old = keyring.active
    new = keyring.add_key()
    wrapped = base64.b64decode(json.loads((home / "keys.json").read_text())[DB_CONTEXT])
    write_keys_file(home, keyring.wrap(keyring.decrypt_data_key(wrapped, DB_CONTEXT), DB_CONTEXT))
    objects = runtime.ports.objects
    assert isinstance(objects, FolderObjectStore)
    count = objects.rewrap_all()
    mailer = runtime.ports.mailer
    mails = mailer.rewrap_all() if isinstance(mailer, OutboxMailer) else 0
    rejected = home / "inbox-rejected"
    for path in sorted(rejected.rglob("*.enc")) if rejected.exists() else []:
        rewrap_file(cipher, path, "inbox-rejected/" + path.relative_to(rejected).as_posix())
    keyring.retire_others()
    return {"old_key": old, "new_key": new, "objects": count, "mails": mails, "database_keys": 1}
