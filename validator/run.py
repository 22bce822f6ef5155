"""The run loop: every file since the checkpoint in arrival order, every transaction in file order.

One run at a time: a lease with an expiry in the state store, renewed at every checkpoint. A holder that
died on this host (its pid is gone) is replaced at once; elsewhere (a Fargate task) its lease expires.

Checkpoints: after every file, and after every `checkpoint_every` transactions or `checkpoint_seconds`,
whichever comes first. A run killed at any moment resumes from the last checkpoint and so redoes at
most `checkpoint_every` transactions; the time bound keeps that small in wall-clock terms when each
check takes seconds. A stop request (SIGTERM) is honoured after the current transaction, with a
checkpoint. At the end the report goes to the bucket, ValidationCompleted onto the bus (its id is the
run's, so a run that dies after publishing and finishes again is mailed once), and the run is closed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from itertools import dropwhile
from typing import Any, Protocol, TextIO

from adapters.ports import FileRecord, NoSuchObject, ObjectChanged, Ports
from adapters.settings import Settings
from events import new_event
from events.models import Finding, ValidationCompleted
from services.files.logic import stored_upload
from services.ingest.parsing import BadRow, Row, UnusableFile, inventory_bytes, parse_inventory
from validator.checks import (
    DEFAULT_DUP_WINDOW_DAYS,
    MISSING_OBJECT,
    REPLACED_OBJECT,
    UNREADABLE,
    RowCheck,
    SlowCheck,
    TransactionChecks,
)
from validator.report import csv_key, findings_csv, report_json, report_key
from validator.state import ValidatorState

SOURCE = "inventory.validator"
TOP_FINDINGS = 20
log = logging.getLogger("inventory.validator")


class RunActive(Exception):
    """Another run holds the lease; str(exc) is the one line to print."""


@dataclass
class RunOptions:
    check_delay: float = 10.0
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 30.0
    lease_ttl: timedelta = timedelta(minutes=10)
    # A file still waiting for ingest is left for the next run, unless it has waited this long
    # (then it is reported as not applied and passed, so one stuck file cannot stall every night).
    pending_grace: timedelta = timedelta(minutes=30)
    dup_window_days: int = DEFAULT_DUP_WINDOW_DAYS
    extra_checks: Sequence[RowCheck] = ()


class Progress(Protocol):
    def start(self, files: int, resumed_transactions: int) -> None: ...

    def file_started(self, record: FileRecord) -> None: ...

    def advance(self, transactions: int) -> None: ...

    def file_done(self, record: FileRecord, transactions: int, findings: int, seconds: float) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, files: int, resumed_transactions: int) -> None:
        pass

    def file_started(self, record: FileRecord) -> None:
        pass

    def advance(self, transactions: int) -> None:
        pass

    def file_done(self, record: FileRecord, transactions: int, findings: int, seconds: float) -> None:
        pass

    def finish(self) -> None:
        pass


class JsonLogProgress(NoProgress):
    """On AWS: one structured JSON line per file (CloudWatch Logs picks them up from stdout)."""

    def __init__(self, run_id: str = "", stream: TextIO | None = None) -> None:
        self.run_id = run_id
        self.stream = stream or sys.stdout

    def file_done(self, record: FileRecord, transactions: int, findings: int, seconds: float) -> None:
        line = {
            "level": "INFO",
            "message": "file checked",
            "service": "validator",
            "run_id": self.run_id,
            "file_key": record.key,
            "sequence": record.sequence,
            "transactions": transactions,
            "findings": findings,
            "seconds": round(seconds, 3),
        }
        self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.stream.flush()


@dataclass
class RunSummary:
    run_id: str
    status: str  # completed | stopped
    started_at: datetime
    finished_at: datetime | None
    files: int
    transactions: int
    findings: int
    findings_by_kind: dict[str, int]
    report_key: str | None
    resumed: bool = False
    checked_now: int = 0  # transactions checked by this process (a resumed run counts the rest before)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return out


# ---------------------------------------------------------------------------------- checkpoint


@dataclass
class _Current:
    """The file being checked at the checkpoint: rows up to `line` are done."""

    key: str
    sequence: int
    line: int = 0
    good: int = 0
    bad: int = 0
    total: int = 0
    transactions: int = 0
    findings_before: int = 0


@dataclass
class _Run:
    run_id: str
    started_at: str
    files: int = 0
    transactions: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    current: _Current | None = None


@dataclass
class _Checkpoint:
    sequence: int = 0  # the last file fully checked, as (sequence, key): ties in sequence go by key
    key: str = ""
    checks: dict[str, int] = field(default_factory=dict)  # TransactionChecks.meta()
    run: _Run | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> _Checkpoint:
        if not text:
            return cls()
        data = json.loads(text)
        run = data.get("run")
        if run is not None:
            current = run.get("current")
            run = _Run(**{**run, "current": _Current(**current) if current else None})
        return cls(data["sequence"], data["key"], data.get("checks", {}), run)


# ---------------------------------------------------------------------------------- lease


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """True when the lease holder was a process on this host that no longer exists."""
    try:
        host, pid_text, _ = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _take_lease(state: ValidatorState, owner: str, now: datetime, ttl: timedelta) -> None:
    if state.acquire(owner, now, ttl):
        return
    lease = state.lease()
    if lease is not None and _dead_here(lease.owner) and state.acquire(owner, now, ttl, replace=lease.owner):
        log.warning("took over the lease of %s, which died", lease.owner)
        return
    holder = lease.owner if lease else "another run"
    until = f" until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC" if lease else ""
    raise RunActive(f"a validation run is already active ({holder}, lease{until}); not starting another")


@contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by SIGTERM (Fargate stop, Spot reclaim, `kill`); the previous handler comes back after."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------- the run


def run_validation(
    ports: Ports,
    state: ValidatorState,
    settings: Settings | None = None,
    *,
    check_delay: float | None = None,
    checkpoint_every: int | None = None,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Run (or resume) the validation; RunActive when another run holds the lease.

    What `inventory validate`, the local scheduler (`inventory serve`, 03:00 UTC) and the Fargate task
    call. `check_delay` defaults to settings.check_delay (the spec's 10 s).
    """
    settings = settings or ports.settings
    opts = replace(options) if options is not None else RunOptions()  # a copy: adjusted below
    if check_delay is not None or options is None:
        opts.check_delay = settings.check_delay if check_delay is None else check_delay
    if checkpoint_every is not None:
        opts.checkpoint_every = checkpoint_every
    if opts.checkpoint_every < 1:
        raise ValueError("checkpoint_every must be at least 1")
    # The lease is renewed at checkpoints: it must outlive the longest gap between two of them.
    gap = timedelta(seconds=3 * opts.check_delay + opts.checkpoint_seconds)
    opts.lease_ttl = max(opts.lease_ttl, gap)
    return _Runner(ports, state, opts, progress or NoProgress(), stop or threading.Event()).run()


class _Runner:
    def __init__(
        self, ports: Ports, state: ValidatorState, opts: RunOptions, progress: Progress, stop: threading.Event
    ) -> None:
        self.ports = ports
        self.state = state
        self.opts = opts
        self.progress = progress
        self.stop = stop
        self.owner = _owner()
        self.row_checks: list[RowCheck] = list(opts.extra_checks)
        if opts.check_delay > 0:  # with no delay the slow check is skipped, not called with sleep(0)
            self.row_checks.append(SlowCheck(opts.check_delay))

    def run(self) -> RunSummary:
        now = self.ports.clock.now()
        _take_lease(self.state, self.owner, now, self.opts.lease_ttl)
        try:
            return self._run(now)
        finally:
            self.progress.finish()  # also when the run fails: a progress bar must not stay on screen
            self.state.release(self.owner)

    # -------------------------------------------------------------- checkpointing

    def _save(self) -> None:
        cp, checks = self.cp, self.checks
        assert cp.run is not None
        cp.run.counts = dict(checks.counts)
        current = cp.run.current
        if current is not None:  # the file in progress: where it stands
            current.line, current.good, current.bad, current.total = (
                checks.line,
                checks.good,
                checks.bad,
                checks.total,
            )
        changes = checks.changes()
        cp.checks = checks.meta()  # after changes(): a compaction there moves the snapshot
        self.state.save(self.owner, cp.to_json(), changes, self.ports.clock.now(), self.opts.lease_ttl)
        self.since_save = 0
        self.saved_at = time.monotonic()

    def _run(self, now: datetime) -> RunSummary:
        snapshot = self.state.load()
        self.cp = cp = _Checkpoint.from_json(snapshot.checkpoint)
        resumed = cp.run is not None
        if cp.run is None:
            run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
            cp.run = _Run(run_id=run_id, started_at=now.isoformat())
        run = cp.run
        self.checks = checks = TransactionChecks(run.run_id, self.opts.dup_window_days)
        checks.restore(snapshot.entries, run.counts, cp.checks)
        if isinstance(self.progress, JsonLogProgress):
            self.progress.run_id = run.run_id
        self.since_save = 0
        self.saved_at = time.monotonic()
        self.checked_now = 0

        files = sorted(
            (f for f in self.ports.table.files_since(cp.sequence - 1) if (f.sequence, f.key) > (cp.sequence, cp.key)),
            key=lambda f: (f.sequence, f.key),
        )
        self.progress.start(sum(1 for f in files if f.kind == "inventory"), run.transactions)
        if not resumed:
            self._save()  # the run exists from now on: a crash before the first file resumes it
        for record in files:
            if record.kind == "inventory":
                if record.status == "arrived" and now - record.arrived_at < self.opts.pending_grace:
                    log.info("%s still waits for ingest; left for the next run", record.key)
                    break
                if not self._check_file(record):
                    return self._summary("stopped", None, resumed)
                run.files += 1
            cp.sequence, cp.key = record.sequence, record.key
            run.current = None
            self._save()
            if self.stop.is_set():
                return self._summary("stopped", None, resumed)
        return self._finish(resumed)

    def _check_file(self, record: FileRecord) -> bool:
        """Check one file from where the checkpoint left it; False when a stop was requested midway."""
        checks, run = self.checks, self.cp.run
        assert run is not None
        current = run.current
        if current is None or (current.key, current.sequence) != (record.key, record.sequence):
            current = run.current = _Current(record.key, record.sequence, findings_before=checks.finding_count)
        checks.begin_file(record, current.good, current.bad, current.total, current.line)
        self.progress.file_started(record)
        started = time.monotonic()
        every = self.opts.checkpoint_every
        seconds = self.opts.checkpoint_seconds
        row_checks = self.row_checks
        # With a slow check each transaction takes real time: go one by one, so a stop request is
        # honoured right after the current one and the time bound is checked after each. Without one,
        # batches keep the per-row cost low (a stop then waits for at most a batch, well under 10 ms).
        batch = 1 if row_checks else 1024
        key = record.key
        try:
            # The upload the ledger applied (or the same bytes stored again), not whatever the key holds now.
            opener = stored_upload(self.ports, key, record.etag, record.digest)
            if opener is None:
                raise ObjectChanged(key)
            source = inventory_bytes(opener)
            items: Iterator[Row | BadRow] = iter(parse_inventory(source))
            if current.line:  # resuming: rows up to the checkpoint's line are done
                skip_to = current.line
                items = dropwhile(lambda item: item.line <= skip_to, items)
            while True:
                limit = min(batch, every - self.since_save)
                done = checks.check(items, limit, row_checks)
                current.transactions += done
                run.transactions += done
                self.checked_now += done
                self.since_save += done
                if done:
                    self.progress.advance(done)
                if self.since_save >= every or time.monotonic() - self.saved_at >= seconds:
                    self._save()
                if self.stop.is_set():
                    self._save()
                    return False
                if done < limit:
                    break  # the file is exhausted
        except UnusableFile as exc:
            checks.add(UNREADABLE, None, f"{exc} (ledger status {record.status!r})")
        except NoSuchObject:
            checks.add(MISSING_OBJECT, None, f"the object is not in the bucket (ledger status {record.status!r})")
        except ObjectChanged:
            checks.add(
                REPLACED_OBJECT,
                None,
                f"the key holds other content than the file the ledger recorded (ledger status {record.status!r})",
            )
        else:
            checks.end_file(record)
        findings = checks.finding_count - current.findings_before
        elapsed = time.monotonic() - started
        checks.log_file(
            {
                "key": key,
                "sequence": record.sequence,
                "transactions": current.transactions,
                "findings": findings,
            }
        )
        self.progress.file_done(record, current.transactions, findings, elapsed)
        return True

    # -------------------------------------------------------------- the end

    def _summary(self, status: str, report: str | None, resumed: bool, finished: datetime | None = None) -> RunSummary:
        run = self.cp.run
        assert run is not None
        return RunSummary(
            run_id=run.run_id,
            status=status,
            started_at=datetime.fromisoformat(run.started_at),
            finished_at=finished,
            files=run.files,
            transactions=run.transactions,
            findings=self.checks.finding_count,
            findings_by_kind=dict(sorted(self.checks.counts.items())),
            report_key=report,
            resumed=resumed,
            checked_now=self.checked_now,
        )

    def _finish(self, resumed: bool) -> RunSummary:
        run, checks = self.cp.run, self.checks
        assert run is not None
        finished = self.ports.clock.now()
        key = report_key(run.run_id, datetime.fromisoformat(run.started_at))
        summary = self._summary("completed", key, resumed, finished)
        self.ports.objects.put(key, report_json(summary.to_dict(), checks.file_log, checks.findings))
        self.ports.objects.put(csv_key(key), findings_csv(checks.findings))
        detail = ValidationCompleted(
            run_id=run.run_id,
            started_at=summary.started_at,
            finished_at=finished,
            files=run.files,
            transactions=run.transactions,
            findings=summary.findings,
            findings_by_kind=summary.findings_by_kind,
            top_findings=[
                Finding(kind=f.kind, file_key=f.file_key, line=f.line, message=f.message[:500])
                for f in checks.findings[:TOP_FINDINGS]
            ],
            report_key=key,
        )
        self.ports.bus.publish([new_event(detail, source=SOURCE, id_parts=(run.run_id,), time=finished)])
        # Close the run: the report holds its findings now, the carried state stays for the next run.
        changes = checks.finish_changes()
        self.cp.run = None
        self.cp.checks = checks.meta()
        self.state.save(self.owner, self.cp.to_json(), changes, self.ports.clock.now(), self.opts.lease_ttl)
        return summary
