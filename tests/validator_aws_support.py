"""The validator's Fargate entry point on the real AWS adapters under moto's mock_aws, shared by
tests/unit/test_validator_aws.py and tests/infra/test_validator_permissions.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aws.clients import AwsClients
from adapters.aws.names import ResourceNames
from adapters.content import content_digest
from adapters.ports import FileStats, Ports
from adapters.settings import Settings
from events.rules import CUSTOM_BUS
from services.ingest.logic import parse_file
from tests.aws_support import REGION, aws_env

BUCKET, TABLE = "inventory-data", "inventory"


@dataclass
class AwsWorld:
    ports: Ports
    ddb: Any
    sqs: Any
    queue_url: str


@contextmanager
def aws_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    """The stack's bucket, table, bus and queues (as `inventory --backend aws bootstrap` creates them)."""
    from moto import mock_aws

    from adapters.aws.provision import provision
    from adapters.aws.wiring import bootstrap_aws

    aws_env(monkeypatch)
    with mock_aws():
        clients = AwsClients(None, REGION)
        names = ResourceNames(bucket=BUCKET, table=TABLE, bus=CUSTOM_BUS)
        provision(clients, names, "inventory@example.com")
        ports = bootstrap_aws(Settings(check_delay=0), names, clients=clients)
        sqs = clients("sqs")
        # provision subscribes the notify queue to ValidationCompleted, as the stack does.
        queue_url = sqs.get_queue_url(QueueName=names.queues["notify"])["QueueUrl"]
        yield AwsWorld(ports, clients("dynamodb"), sqs, queue_url)


ENV = {
    "INVENTORY_BUCKET": BUCKET,
    "INVENTORY_TABLE": TABLE,
    "INVENTORY_BUS": CUSTOM_BUS,
    "INVENTORY_CHECK_DELAY": "0",
    "AWS_REGION": REGION,
}


def arrive(world: AwsWorld, key: str, data: bytes) -> int:
    """What files + ingest leave behind on AWS: the object in S3, its arrival and its applied rows."""
    table = world.ports.table
    info = world.ports.objects.put(key, data)
    arrival = table.record_arrival(
        key, "inventory", info.etag, info.size, datetime.now(UTC), digest=content_digest(data)[0]
    )
    parsed = parse_file(key, lambda: [data])
    stats = FileStats(good_rows=parsed.good_rows, bad_rows=len(parsed.bad_rows), applied_total=parsed.total)
    with table.transaction():
        table.apply_file(key, parsed.pairs, parsed.bad_rows, stats)
    return arrival.sequence


def run_main() -> tuple[int, list[dict[str, Any]]]:
    from validator.__main__ import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(ENV)
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
