"""The Fargate entry point (`python -m validator`) on AWS under moto: ledger in DynamoDB, files and the
report in S3, ValidationCompleted on the custom EventBridge bus (seen through an SQS rule target).

The real AWS adapters of the other ports come from `adapters.aws.wiring.bootstrap_aws` (issue 5); here a
minimal boto3 stand-in of that module gives the entry point S3, DynamoDB and EventBridge adapters with
just the methods the validator calls. The validator's own state adapter is the real one.
"""

from __future__ import annotations

import io
import json
import sys
import types
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.ports import FileRecord, NoSuchObject, ObjectInfo, Ports
from adapters.settings import Settings
from events import Envelope
from events.rules import CUSTOM_BUS
from services.ingest.logic import parse_file
from tests.aws_support import REGION, aws_env, create_table
from tests.validator_support import day_key, tsv

BUCKET, TABLE = "inventory-data", "inventory"


class S3Objects:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put(self, key: str, data: bytes) -> ObjectInfo:
        etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)["ETag"].strip('"')
        return ObjectInfo(key, len(data), etag, datetime.now(UTC))

    def stream(self, key: str) -> Iterator[bytes]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.s3.exceptions.NoSuchKey:
            raise NoSuchObject(key) from None
        yield from body.iter_chunks(1024 * 1024)

    def read(self, key: str) -> bytes:
        return b"".join(self.stream(key))


class DynamoLedger:
    """The two ledger reads the validator needs, over items PK=FILE, SK=<sequence>#<key>."""

    def __init__(self, ddb: Any, table: str) -> None:
        self.ddb, self.table = ddb, table

    def add(self, r: FileRecord) -> None:
        item = {
            "PK": {"S": "FILE"},
            "SK": {"S": f"{r.sequence:012d}#{r.key}"},
            "key": {"S": r.key},
            "kind": {"S": r.kind},
            "etag": {"S": r.etag},
            "sequence": {"N": str(r.sequence)},
            "arrived_at": {"S": r.arrived_at.isoformat()},
            "status": {"S": r.status},
            "good_rows": {"N": str(r.good_rows)},
            "bad_rows": {"N": str(r.bad_rows)},
            "applied_total": {"N": str(r.applied_total)},
        }
        self.ddb.put_item(TableName=self.table, Item=item)

    def files_since(self, sequence: int) -> Iterator[FileRecord]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK > :after",
            ExpressionAttributeValues={":pk": {"S": "FILE"}, ":after": {"S": f"{sequence:012d}~"}},
        )
        for page in pages:
            for i in page["Items"]:
                yield FileRecord(
                    i["key"]["S"],
                    i["kind"]["S"],
                    i["etag"]["S"],
                    int(i["sequence"]["N"]),
                    datetime.fromisoformat(i["arrived_at"]["S"]),
                    i["status"]["S"],
                    int(i["good_rows"]["N"]),
                    int(i["bad_rows"]["N"]),
                    int(i["applied_total"]["N"]),
                )


class EventBridgeBus:
    def __init__(self, events: Any, bus: str) -> None:
        self.events, self.bus = events, bus

    def publish(self, events: Any) -> None:
        entries = [
            {
                "Source": e.source,
                "DetailType": e.detail_type,
                "Detail": json.dumps(e.detail),
                "EventBusName": self.bus,
                "Time": e.time,
            }
            for e in events
        ]
        assert self.events.put_events(Entries=entries)["FailedEntryCount"] == 0


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class AwsWorld:
    s3: Any
    ddb: Any
    sqs: Any
    queue_url: str
    ledger: DynamoLedger
    objects: S3Objects


@pytest.fixture
def aws(monkeypatch) -> Iterator[AwsWorld]:
    import boto3
    from moto import mock_aws

    aws_env(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, TABLE)
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=CUSTOM_BUS)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="notify")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="notify-validation-completed",
            EventBusName=CUSTOM_BUS,
            EventPattern=json.dumps({"source": ["inventory.validator"], "detail-type": ["ValidationCompleted"]}),
        )
        events.put_targets(
            Rule="notify-validation-completed",
            EventBusName=CUSTOM_BUS,
            Targets=[{"Id": "notify", "Arn": arn}],
        )
        ledger, objects = DynamoLedger(ddb, TABLE), S3Objects(s3, BUCKET)

        # The stand-in for issue 5's adapters.aws.wiring, imported lazily by the entry point.
        def bootstrap_aws(settings: Settings) -> Ports:
            return Ports(
                objects=objects,  # type: ignore[arg-type]
                table=ledger,  # type: ignore[arg-type]
                bus=EventBridgeBus(events, CUSTOM_BUS),
                mailer=None,  # type: ignore[arg-type]
                clock=Clock(),
                settings=settings,
            )

        wiring = types.ModuleType("adapters.aws.wiring")
        wiring.bootstrap_aws = bootstrap_aws  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "adapters.aws.wiring", wiring)
        yield AwsWorld(s3, ddb, sqs, queue_url, ledger, objects)


ENV = {
    "INVENTORY_BUCKET": BUCKET,
    "INVENTORY_TABLE": TABLE,
    "INVENTORY_BUS": CUSTOM_BUS,
    "INVENTORY_CHECK_DELAY": "0",
    "AWS_REGION": REGION,
}


def arrive(world: AwsWorld, sequence: int, key: str, data: bytes) -> None:
    """What files + ingest leave behind on AWS: the object in S3 and its applied ledger record."""
    world.objects.put(key, data)
    parsed = parse_file(key, [data])
    world.ledger.add(
        FileRecord(
            key,
            "inventory",
            "etag",
            sequence,
            datetime.now(UTC),
            "applied",
            parsed.good_rows,
            len(parsed.bad_rows),
            parsed.total,
        )
    )


def run_main() -> tuple[int, list[dict[str, Any]]]:
    from validator.__main__ import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(ENV)
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_fargate_entry_point_on_s3_dynamodb_and_eventbridge(aws):
    # GIVEN two files in S3 and the ledger, the second with a bad row and a pair going negative
    first, second = day_key(15, "a_inventory.csv"), day_key(16, "b_inventory.csv")
    arrive(aws, 1, first, tsv("2021-02-15T10:00:00Z|W1|i1|Mug|2"))
    arrive(aws, 2, second, tsv("2021-02-16T10:00:00Z|W1|i1|Mug|-3", "oops"))
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
    report = json.loads(aws.objects.read(summary["report_key"]))
    assert report["findings"] == 2
    assert aws.objects.read(summary["report_key"][:-5] + ".csv").startswith(b"kind,file_key,line,message")
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
    arrive(aws, 3, third, tsv("2021-02-17T10:00:00Z|W1|i1|Mugs|1"))
    code, lines = run_main()
    assert code == 0 and lines[-1]["transactions"] == 1
    assert lines[-1]["findings_by_kind"] == {"name_conflict": 1}


def test_fargate_entry_point_exits_cleanly_while_another_run_is_active(aws):
    from adapters.aws.validator_state import DynamoValidatorState

    DynamoValidatorState(TABLE, aws.ddb).acquire("other-task:1:x", datetime.now(UTC), timedelta(minutes=5))
    code, lines = run_main()
    assert code == 0 and len(lines) == 1 and lines[0]["status"] == "active"


def test_fargate_entry_point_needs_its_environment(capsys):
    from validator.__main__ import main

    assert main({"INVENTORY_BUCKET": "b"}) == 1
    assert "INVENTORY_TABLE, INVENTORY_BUS" in capsys.readouterr().err
