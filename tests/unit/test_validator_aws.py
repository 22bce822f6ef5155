"""The Fargate entry point (`python -m validator`'s main) on the real AWS adapters under moto's mock_aws:
the arrival log in DynamoDB (as the files and ingest services leave it), files and the report in S3,
ValidationCompleted on the custom EventBridge bus, seen in the notify queue its rule targets.

The resources are created by `adapters.aws.provision` (what `inventory --backend aws bootstrap` and the
stack create); the ports are `adapters.aws.wiring.bootstrap_aws`'s. tests/e2e/test_validator_on_aws.py
runs the same entry point as a subprocess against moto server, with the CDK task's environment.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.aws.clients import AwsClients
from adapters.aws.names import ResourceNames
from adapters.ports import FileStats, Ports
from adapters.settings import Settings
from events import Envelope
from events.rules import CUSTOM_BUS
from services.ingest.logic import drain, parse_file
from tests.aws_support import REGION, aws_env
from tests.validator_support import day_key, tsv

BUCKET, TABLE = "inventory-data", "inventory"


@dataclass
class AwsWorld:
    ports: Ports
    ddb: Any
    sqs: Any
    queue_url: str


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
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
    arrival = table.record_arrival(key, "inventory", info.etag, info.size, datetime.now(UTC))
    parsed = parse_file(key, lambda: [data])
    stats = FileStats(good_rows=parsed.good_rows, bad_rows=len(parsed.bad_rows), applied_total=parsed.total)
    with table.transaction():
        table.apply_file(key, drain(parsed.by_warehouse), parsed.bad_rows, stats)
    return arrival.sequence


def run_main() -> tuple[int, list[dict[str, Any]]]:
    from validator.__main__ import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(ENV)
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_fargate_entry_point_on_s3_dynamodb_and_eventbridge(aws: AwsWorld) -> None:
    # GIVEN two files in S3 and the ledger, the second with a bad row and a pair going negative
    first, second = day_key(15, "a_inventory.csv"), day_key(16, "b_inventory.csv")
    assert arrive(aws, first, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|2")) == 1
    assert arrive(aws, second, tsv("2021-02-16T10:00:00Z|W1|i1|Mug|-3", "oops")) == 2
    # WHEN the task runs
    code, lines = run_main()
    # THEN one structured log line per file, then the summary
    assert code == 0
    assert [(line["message"], line.get("file_key")) for line in lines] == [
        ("file checked", first),
        ("file checked", second),
        ("validation completed", None),
    ]
    summary = lines[-1]
    assert (summary["files"], summary["transactions"]) == (2, 3)
    assert summary["findings_by_kind"] == {"bad_row": 1, "negative_level": 1}
    # the report is in the bucket under validation_reports/Y/M/D/<run id>.json, with its CSV
    started = datetime.fromisoformat(summary["started_at"])
    assert summary["report_key"] == f"validation_reports/{started:%Y/%m/%d}/{summary['run_id']}.json"
    report = json.loads(aws.ports.objects.read(summary["report_key"]))
    assert report["findings"] == 2
    assert aws.ports.objects.read(summary["report_key"][:-5] + ".csv").startswith(b"kind,file_key,line,message")
    # ValidationCompleted went onto the custom bus and reached the notify queue
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    event = Envelope.model_validate(json.loads(messages[0]["Body"]))
    assert event.detail_type == "ValidationCompleted" and event.detail["run_id"] == summary["run_id"]
    # the checkpoint lives in the single table; the lease was released
    item = aws.ddb.get_item(TableName=TABLE, Key={"PK": {"S": "VALIDATOR"}, "SK": {"S": "CHECKPOINT"}})["Item"]
    assert json.loads(item["body"]["S"])["sequence"] == 2
    assert "Item" not in aws.ddb.get_item(TableName=TABLE, Key={"PK": {"S": "VALIDATOR"}, "SK": {"S": "LEASE"}})

    # WHEN it runs again with one new file, THEN only that file is checked, against the carried levels
    third = day_key(17, "c_inventory.csv")
    arrive(aws, third, tsv("2021-02-17T10:00:00Z|W1|i1|Mugs|1"))
    code, lines = run_main()
    assert code == 0 and lines[-1]["transactions"] == 1
    assert lines[-1]["findings_by_kind"] == {"name_conflict": 1}


def test_fargate_entry_point_exits_cleanly_while_another_run_is_active(aws: AwsWorld) -> None:
    from adapters.aws.validator_state import DynamoValidatorState

    DynamoValidatorState(TABLE, aws.ddb).acquire("other-task:1:x", datetime.now(UTC), timedelta(minutes=5))
    code, lines = run_main()
    assert code == 0 and len(lines) == 1 and lines[0]["status"] == "active"


def test_fargate_entry_point_needs_its_environment(capsys):
    from validator.__main__ import main

    assert main({"INVENTORY_BUCKET": "b"}) == 1
    assert "INVENTORY_TABLE, INVENTORY_BUS" in capsys.readouterr().err
