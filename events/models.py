"""The contract: one pydantic model per event detail.

Field names are snake_case on the wire. Every model forbids unknown fields, so a producer that drifts
from the contract fails loudly instead of publishing something a consumer silently misreads.
`events/schemas/<Name>.json` are generated from these models (`make schemas`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"

FileKind = Literal["inventory", "thresholds"]
AlertCause = Literal["stock_change", "threshold_update"]


class Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileArrived(Detail):
    """A new object under `inventory_files/` or `restock_thresholds/`, with its place in arrival order."""

    key: str
    kind: FileKind
    etag: str = Field(description="Content identity: S3 ETag on AWS, SHA-256 locally")
    size: int = Field(ge=0)
    arrived_at: datetime
    sequence: int = Field(ge=0, description="Arrival order; ties in arrived_at broken by key")


class RejectedRow(Detail):
    line: int = Field(ge=1)
    reason: str
    raw: str = Field(default="", description="The row as received, cut to 500 characters")


class FileRejected(Detail):
    """A file, or some of its rows, could not be used. `rows` may be a batch of a larger list."""

    key: str
    kind: FileKind | Literal["unknown"]
    reason: str = Field(description="conflict | bad_rows | unreadable | replaced | bad_key | invalid")
    message: str
    good_rows: int = Field(default=0, ge=0)
    bad_rows: int = Field(default=0, ge=0)
    rows: list[RejectedRow] = Field(default_factory=list)
    batch: int = Field(default=1, ge=1)
    batches: int = Field(default=1, ge=1)


class PairLevel(Detail):
    warehouse: str
    item_id: str
    item_name: str
    change: int
    level: int
    threshold: int
    was_below: bool = Field(description="Whether the pair was below its threshold before this file")


class StockChanged(Detail):
    """New levels of the pairs one file touched; large files are split into batches, never truncated."""

    file_key: str
    batch: int = Field(ge=1)
    batches: int = Field(ge=1)
    pairs: list[PairLevel]


class ThresholdChange(Detail):
    item_id: str
    old: int
    new: int


class ThresholdsUpdated(Detail):
    """New thresholds took effect: a file's changes, or a new default (then every item without a
    threshold of its own is affected, and the sweep finds them: `changes` is empty)."""

    file_key: str
    default_threshold: int
    batch: int = Field(ge=1)
    batches: int = Field(ge=1)
    changes: list[ThresholdChange]
    default_changed_from: int | None = None


class BelowThreshold(Detail):
    """A pair's level went from at-or-above its threshold to below it."""

    warehouse: str
    item_id: str
    item_name: str
    level: int
    threshold: int
    cause: AlertCause
    file_key: str = Field(description="The inventory or thresholds file that caused the crossing")


class Finding(Detail):
    kind: str
    file_key: str
    line: int | None = None
    message: str


class ValidationCompleted(Detail):
    run_id: str
    started_at: datetime
    finished_at: datetime
    files: int = Field(ge=0)
    transactions: int = Field(ge=0)
    findings: int = Field(ge=0)
    findings_by_kind: dict[str, int] = Field(default_factory=dict)
    top_findings: list[Finding] = Field(default_factory=list)
    report_key: str | None = None


DETAIL_MODELS: dict[str, type[Detail]] = {
    "FileArrived": FileArrived,
    "FileRejected": FileRejected,
    "StockChanged": StockChanged,
    "ThresholdsUpdated": ThresholdsUpdated,
    "BelowThreshold": BelowThreshold,
    "ValidationCompleted": ValidationCompleted,
}

# Which service emits each detail-type: the event's source is "inventory.<service>".
SOURCES: dict[str, tuple[str, ...]] = {
    "FileArrived": ("inventory.files",),
    "FileRejected": ("inventory.files", "inventory.ingest", "inventory.thresholds"),
    "StockChanged": ("inventory.ingest",),
    "ThresholdsUpdated": ("inventory.thresholds",),
    "BelowThreshold": ("inventory.alerts", "inventory.sweep"),
    "ValidationCompleted": ("inventory.validator",),
}
