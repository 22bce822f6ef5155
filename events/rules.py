"""Which service consumes which events: the one declaration both runtimes read.

Patterns use EventBridge pattern syntax. The local bus matches them with `events.matching`; the CDK
stack turns each rule into an EventBridge rule whose target is the service's SQS queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The bus S3 notifications arrive on (EventBridge's default bus) and the system's own custom bus.
DEFAULT_BUS = "default"
CUSTOM_BUS = "inventory"

INVENTORY_PREFIX = "inventory_files/"
THRESHOLDS_PREFIX = "restock_thresholds/"


@dataclass(frozen=True)
class Rule:
    name: str
    target: str  # the service that consumes matching events
    pattern: dict[str, Any]
    bus: str = CUSTOM_BUS
    description: str = field(default="", compare=False)


def for_bucket(rule: Rule, bucket_name: object) -> dict[str, Any]:
    """The rule's pattern as deployed: on the default bus it also names the data bucket, because that bus
    carries every EventBridge-enabled bucket of the account (a second stack's, say). The local bus has
    one folder and matches the pattern as declared."""
    if rule.bus != DEFAULT_BUS:
        return rule.pattern
    return {**rule.pattern, "detail": {**rule.pattern.get("detail", {}), "bucket": {"name": [bucket_name]}}}


RULES: tuple[Rule, ...] = (
    Rule(
        name="files-object-created",
        target="files",
        bus=DEFAULT_BUS,
        pattern={
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"object": {"key": [{"prefix": INVENTORY_PREFIX}, {"prefix": THRESHOLDS_PREFIX}]}},
        },
        description="New objects under the two data prefixes are classified and put in arrival order",
    ),
    Rule(
        name="ingest-inventory-file",
        target="ingest",
        pattern={
            "source": ["inventory.files"],
            "detail-type": ["FileArrived"],
            "detail": {"kind": ["inventory"]},
        },
        description="Inventory files are parsed and applied to stock levels",
    ),
    Rule(
        name="thresholds-thresholds-file",
        target="thresholds",
        pattern={
            "source": ["inventory.files"],
            "detail-type": ["FileArrived"],
            "detail": {"kind": ["thresholds"]},
        },
        description="Threshold files change the restock thresholds of the items they list",
    ),
    Rule(
        name="alerts-stock-changed",
        target="alerts",
        pattern={"source": ["inventory.ingest"], "detail-type": ["StockChanged"]},
        description="New levels are checked for crossings below the threshold",
    ),
    Rule(
        name="sweep-thresholds-updated",
        target="sweep",
        pattern={"source": ["inventory.thresholds"], "detail-type": ["ThresholdsUpdated"]},
        description="Existing stock is re-checked against changed thresholds",
    ),
    Rule(
        name="notify-below-threshold",
        target="notify",
        pattern={"source": [{"prefix": "inventory."}], "detail-type": ["BelowThreshold"]},
        description="Restock alerts are mailed to purchasing as a digest",
    ),
    Rule(
        name="notify-file-rejected",
        target="notify",
        pattern={"source": [{"prefix": "inventory."}], "detail-type": ["FileRejected"]},
        description="Rejected files and rows are reported by mail",
    ),
    Rule(
        name="notify-validation-completed",
        target="notify",
        pattern={"source": ["inventory.validator"], "detail-type": ["ValidationCompleted"]},
        description="The nightly validation summary is mailed",
    ),
)

TARGETS: tuple[str, ...] = tuple(dict.fromkeys(rule.target for rule in RULES))


def rules_for(bus: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if rule.bus == bus)
