"""`inventory serve`: the embedded runtime as one long-running process.

It watches `<home>/inbox/` (files are put as by `inventory put FOLDER`, and processed within seconds),
runs the bus, and starts the nightly validation at 03:00 UTC. SIGTERM or Ctrl-C stop it between
batches; because every state change commits together with its events, a SIGKILL loses nothing either.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.settings import Settings
from local.delivery import DeliveryStats, deliver_once
from local.wiring import LocalRuntime
from services.files.keys import BadKey, day_of, key_in_folder
from services.files.logic import FileConflict, upload

log = logging.getLogger("inventory.serve")

NIGHTLY_HOUR_UTC = 3


def next_nightly(after: datetime) -> datetime:
    slot = after.astimezone(UTC).replace(hour=NIGHTLY_HOUR_UTC, minute=0, second=0, microsecond=0)
    return slot if slot > after else slot + timedelta(days=1)


LOCK_FILE = "serve.lock"  # in the home: held by the one `inventory serve` of that home


class HomeServed(Exception):
    """Another `inventory serve` holds the home; str(exc) is one clear sentence."""


class ServeLock:
    """One `inventory serve` per home: two would race each other for the inbox's files.

    An OS lock (flock) on <home>/serve.lock, held while the process runs. The kernel drops it when the
    process ends in any way, SIGKILL included, so a lock is never stale; the file stays, with the pid of
    its last holder, which only serves to name the holder.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, home: Path) -> ServeLock:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise HomeServed(f"{home} is already served by another `inventory serve`{pid}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor of the open file drops the lock
            self._fd = None


def stop_on_signals() -> threading.Event:
    """An event that SIGINT (Ctrl-C) and SIGTERM set, installed first thing: a signal while the runtime is
    still starting (the database opening, the API thread starting) then ends it cleanly once started,
    where a KeyboardInterrupt in the middle of that could crash the process on its way out."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class Server:
    def __init__(
        self,
        runtime: LocalRuntime,
        nightly: Callable[[LocalRuntime], Any] | None = None,
        poll_seconds: float = 0.5,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        stop_event: threading.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.home = runtime.ports.settings.home
        self.inbox = self.home / "inbox"
        self.rejected = self.home / "inbox-rejected"
        self.nightly = nightly
        self.poll_seconds = poll_seconds
        self.now = now
        self.stop_event = stop_event or threading.Event()
        self.stats = DeliveryStats()
        # path -> (size, mtime, when that pair was first seen): a file is taken once it has been quiet
        self._seen: dict[Path, tuple[int, int, float]] = {}
        self.settle_seconds = runtime.ports.settings.inbox_settle_seconds
        self.next_run = next_nightly(self.now())
        self.next_prune = self.now()  # at start, then once a day

    def scan_inbox(self) -> int:
        """Put every file that has not changed for `settle_seconds`; one still being copied waits.

        Two equal sizes a poll apart are not enough: a copy that stalls for a moment (a network share,
        scp) would be taken half-written, and the rest of it lost. A writer that can rename is safer
        still: write under a hidden name (.x.partial), which the inbox ignores, then rename.

        A file laid out like a key is stored under that key; any other gets the key `inventory put FILE`
        gives its name. One that another tool moves away before it is taken is skipped.
        """
        self.inbox.mkdir(parents=True, exist_ok=True)
        stored = 0
        now = time.monotonic()
        for path in self._listing():
            try:
                stat = path.stat()
            except FileNotFoundError:
                self._seen.pop(path, None)
                continue  # renamed or removed since the listing
            seen = self._seen.get(path)
            if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
                self._seen[path] = (stat.st_size, stat.st_mtime_ns, now)
                continue
            if now - seen[2] < self.settle_seconds:
                continue
            relative = path.relative_to(self.inbox).as_posix()
            try:
                stored += self._take(path, relative, day_of(stat.st_mtime))
            except FileNotFoundError:
                if path.exists():
                    raise  # something else is missing: not a file that went away
                log.debug("%s went away before it was taken; skipped", relative)
            self._seen.pop(path, None)
        return stored

    def _listing(self) -> list[Path]:
        """The inbox's files but hidden ones, sorted; a folder removed meanwhile is passed over (os.walk
        ignores it, where Path.rglob raises)."""
        found = []
        for folder, folders, names in os.walk(self.inbox):
            # Hidden folders (.git, .Trash-1000, a sync tool's temp folder) hold no uploads, as for `put FOLDER`.
            folders[:] = [f for f in folders if not f.startswith(".")]
            found += [Path(folder, n) for n in names if not n.startswith(".") and os.path.isfile(Path(folder, n))]
        return sorted(found)

    def _take(self, path: Path, relative: str, day: date) -> int:
        """Store one settled inbox file, or set it aside if refused; 1 if it was stored.

        `day` dates a file whose name has no stamp: its modification day, so the same file taken again
        (after a crash, even past midnight) gets the same key and changes nothing."""
        try:
            upload(self.runtime.ports, key_in_folder(relative, day), path)
        except (BadKey, FileConflict) as exc:
            self._set_aside(path, relative, str(exc))
            return 0
        # The object is stored and announced before the inbox copy goes, so a crash here only means the
        # same content is put again under the same key, which changes nothing.
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a drop folder we may read but not clean: it is taken again, harmlessly
            log.warning("stored %s but cannot remove it from the inbox: %s", relative, exc)
        return 1

    def _set_aside(self, path: Path, relative: str, reason: str) -> None:
        """Keep a refused file (nothing is dropped), sealed like everything else in the home."""
        target = self.rejected / relative.replace("..", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Another refused file of the same name must not replace this one's copy: number them.
        base, n = target, 1
        while any(target.parent.glob(glob.escape(target.name) + "*")):
            n += 1
            target = base.with_name(f"{base.name}.{n}")
        # The name `inventory get` takes (the sealed copy gets .enc on disk; get finds it without).
        shown = "inbox-rejected/" + target.relative_to(self.rejected).as_posix()
        cipher = self.runtime.cipher
        if cipher is None:
            shutil.move(str(path), target)
        else:
            target = target.with_name(target.name + ".enc")
            context = "inbox-rejected/" + target.relative_to(self.rejected).as_posix()
            target.write_bytes(cipher.encrypt(context, path.read_bytes(), {}))
            path.unlink(missing_ok=True)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        log.warning("set aside %s as %s: %s", relative, shown, reason)

    def tick(self) -> None:
        self.scan_inbox()
        deadline = time.monotonic() + 2.0
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            if not deliver_once(self.runtime.ports, self.runtime.bus, self.stats):
                break
        if self.now() >= self.next_prune:
            self.prune_archive()
        if self.now() >= self.next_run:
            self.next_run = next_nightly(self.now())
            if self.nightly is not None:
                self.nightly(self.runtime)

    def prune_archive(self) -> int:
        self.next_prune = self.now() + timedelta(days=1)
        keep = timedelta(days=self.runtime.ports.settings.archive_days)
        pruned = self.runtime.bus.prune(self.now() - keep)
        if pruned:
            log.info("pruned %d archived event(s) older than %d days", pruned, keep.days)
        return pruned

    def serve_forever(self) -> None:
        while not self.stop_event.is_set():
            self.tick()
            self.stop_event.wait(self.poll_seconds)


class NightlyValidation:
    """Starts the validator in a thread of its own (a run takes 40-50 minutes) with its own database
    connection; the inbox and the bus keep going meanwhile. A stop request ends the run after the
    current transaction, with a checkpoint."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, _runtime: LocalRuntime | None = None) -> None:
        if self.thread is not None and self.thread.is_alive():
            log.info("nightly validation: the previous run is still going")
            return
        self.thread = threading.Thread(target=self._run, name="nightly-validation", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from adapters.local.validator_state import SqliteValidatorState
        from local.delivery import run_until_idle
        from local.wiring import bootstrap
        from validator.run import RunActive, run_validation

        runtime = bootstrap(self.settings, apply_default=False)  # the serving runtime applied it
        try:
            summary = run_validation(runtime.ports, SqliteValidatorState(runtime.db), stop=self.stop_event)
            log.info(
                "nightly validation %s: %d file(s), %d transaction(s), %d finding(s), report %s",
                summary.run_id,
                summary.files,
                summary.transactions,
                summary.findings,
                summary.report_key,
            )
            run_until_idle(runtime.ports, runtime.bus, should_stop=self.stop_event.is_set)
        except RunActive as exc:
            log.info("nightly validation skipped: %s", exc)
        except Exception:
            log.exception("nightly validation failed; the next run resumes from its checkpoint")
        finally:
            runtime.close()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
