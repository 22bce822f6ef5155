"""The names of the AWS resources, defined in one place for the adapters, the CLI and the CDK stack.

A resource's name comes, in this order, from
1. an environment variable (what the stack sets on every Lambda function),
2. the deployed stack's outputs (`inventory --backend aws --stack NAME`, DescribeStacks),
3. the default below (what `inventory --backend aws --endpoint-url URL bootstrap` creates in an emulator).

Environment variables (the stack sets them; the CLI reads them):

| variable | stack output | default |
|---|---|---|
| INVENTORY_BUCKET | BucketName | inventory-data |
| INVENTORY_TABLE | TableName | inventory |
| INVENTORY_BUS | BusName | inventory (events.rules.CUSTOM_BUS) |
| INVENTORY_AUDIT_LOG_GROUP | AuditLogGroupName | /inventory/events |
| INVENTORY_QUEUE_<TARGET> | Queue<Target>Url | inventory-<target> (a queue name) |
| INVENTORY_DLQ_<TARGET> | Dlq<Target>Url | inventory-<target>-dlq |
| AWS_ENDPOINT_URL | - | unset (the real AWS endpoints) |
| AWS_REGION / AWS_DEFAULT_REGION | - | the profile's region (~/.aws/config), else eu-central-1 |

<TARGET> is a consumer of `events.rules.RULES` (files, ingest, thresholds, alerts, sweep, notify), upper
case in variables and capitalised in outputs (QueueIngestUrl). A queue may be given by name or URL.
The table's index names and key attributes are fixed (see adapters/aws/stock_table.py); the stack must
create them exactly as `TABLE_INDEXES` says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from events.rules import CUSTOM_BUS, TARGETS

DEFAULT_REGION = "eu-central-1"
DEFAULT_BUCKET = "inventory-data"
DEFAULT_TABLE = "inventory"
DEFAULT_AUDIT_LOG_GROUP = "/inventory/events"
# What a deployed function or task must be given: the defaults above name an emulator's resources, and
# a stack's names carry generated suffixes, so falling back to a default there would reach nothing.
REQUIRED_ENV = ("INVENTORY_BUCKET", "INVENTORY_TABLE", "INVENTORY_BUS")

# DynamoDB: index name -> (partition key attribute, sort key attribute, sort key type).
TABLE_INDEXES: dict[str, tuple[str, str, str]] = {
    "by_level": ("GSI1PK", "level", "N"),
    "by_item": ("GSI2PK", "GSI2SK", "S"),
    "restock": ("GSI3PK", "GSI3SK", "S"),
    "arrivals": ("GSI4PK", "sequence", "N"),
}
TTL_ATTRIBUTE = "expires_at"

# The audit trail: one more rule on the custom bus sends every event of the system to a log group.
AUDIT_RULE = "audit-all-events"
AUDIT_PATTERN = {"source": [{"prefix": "inventory."}]}
# How often a message is received before its queue moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
QUEUE_VISIBILITY_SECONDS = 120


def queue_name(target: str) -> str:
    return f"inventory-{target}"


def dlq_name(target: str) -> str:
    return f"inventory-{target}-dlq"


def queue_env(target: str) -> str:
    return f"INVENTORY_QUEUE_{target.upper()}"


def dlq_env(target: str) -> str:
    return f"INVENTORY_DLQ_{target.upper()}"


def queue_output(target: str) -> str:
    return f"Queue{target.capitalize()}Url"


def dlq_output(target: str) -> str:
    return f"Dlq{target.capitalize()}Url"


@dataclass(frozen=True)
class ResourceNames:
    bucket: str = DEFAULT_BUCKET
    table: str = DEFAULT_TABLE
    bus: str = CUSTOM_BUS
    audit_log_group: str = DEFAULT_AUDIT_LOG_GROUP
    # target -> queue name or URL
    queues: dict[str, str] = field(default_factory=lambda: {t: queue_name(t) for t in TARGETS})
    dlqs: dict[str, str] = field(default_factory=lambda: {t: dlq_name(t) for t in TARGETS})

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, outputs: Mapping[str, str] | None = None) -> ResourceNames:
        """Environment first, then stack outputs, then the defaults."""
        env = os.environ if env is None else env
        outputs = outputs or {}

        def pick(var: str, output: str, default: str) -> str:
            return env.get(var) or outputs.get(output) or default

        return cls(
            bucket=pick("INVENTORY_BUCKET", "BucketName", DEFAULT_BUCKET),
            table=pick("INVENTORY_TABLE", "TableName", DEFAULT_TABLE),
            bus=pick("INVENTORY_BUS", "BusName", CUSTOM_BUS),
            audit_log_group=pick("INVENTORY_AUDIT_LOG_GROUP", "AuditLogGroupName", DEFAULT_AUDIT_LOG_GROUP),
            queues={t: pick(queue_env(t), queue_output(t), queue_name(t)) for t in TARGETS},
            dlqs={t: pick(dlq_env(t), dlq_output(t), dlq_name(t)) for t in TARGETS},
        )

    def as_env(self) -> dict[str, str]:
        """The variables a Lambda function (or an in-process handler) needs to find these resources."""
        out = {
            "INVENTORY_BUCKET": self.bucket,
            "INVENTORY_TABLE": self.table,
            "INVENTORY_BUS": self.bus,
            "INVENTORY_AUDIT_LOG_GROUP": self.audit_log_group,
        }
        out.update({queue_env(t): q for t, q in self.queues.items()})
        out.update({dlq_env(t): q for t, q in self.dlqs.items()})
        return out


def region(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
