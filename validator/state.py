"""The validator's own port: its checkpoint, the state its checks carry between runs, and the run lease.

Kept apart from `adapters.ports.StockTable` because only the validator uses it and its consistency rule
is different: a checkpoint and the entry changes saved with it must look atomic to `load()`, even where
the store cannot write them in one transaction (DynamoDB: at most 100 items a transaction). Adapters:
`adapters.local.validator_state.SqliteValidatorState` and `adapters.aws.validator_state.DynamoValidatorState`;
`tests/contract/test_validator_state.py` runs one suite against both.

Entries are opaque text keys and values owned by `validator.checks`. A change carries the value the
entry had at the last saved checkpoint (`previous`) so a store without multi-item transactions can
roll an interrupted save back on the next load instead of exposing half of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol


class Change(NamedTuple):
    value: str | None  # None deletes the entry
    previous: str | None  # the value as of the last saved checkpoint (None: the entry did not exist)


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str  # "<run id>@<host>:<pid>", so a dead holder on this host can be recognised
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    checkpoint: str | None  # JSON text written by validator.run; None before the first checkpoint
    entries: dict[str, str] = field(default_factory=dict)


class LeaseLost(RuntimeError):
    """The lease expired and another run took it: this run must stop without saving."""


class ValidatorState(Protocol):
    def lease(self) -> Lease | None:
        """The current lease, expired or not; None when nobody holds one."""
        ...

    def acquire(self, owner: str, now: datetime, ttl: timedelta, replace: str | None = None) -> bool:
        """Take (or renew) the lease when it is free, expired, already ours, or held by `replace`."""
        ...

    def release(self, owner: str) -> None:
        """Give the lease up if we still hold it; a no-op otherwise."""
        ...

    def load(self) -> Snapshot: ...

    def save(self, owner: str, checkpoint: str, changes: Mapping[str, Change], now: datetime, ttl: timedelta) -> None:
        """Store the checkpoint with its entry changes and renew the lease; LeaseLost if it is not ours."""
        ...
