"""The Fargate entry point (`python -m validator`'s main) on the real AWS adapters under moto's mock_aws:
the arrival log in DynamoDB (as the files and ingest services leave it), files and the report in S3,
ValidationCompleted on the custom EventBridge bus, seen in the notify queue its rule targets.

The resources are created by `adapters.aws.provision` (what `inventory --backend aws bootstrap` and the
stack create); the ports are `adapters.aws.wiring.bootstrap_aws`'s. tests/e2e/test_validator_on_aws.py
runs the same entry point as a subprocess against moto server, with the CDK task's environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from events import Envelope
from tests.validator_aws_support import TABLE, AwsWorld, arrive, aws_world, run_main
from tests.validator_support import day_key, tsv


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    with aws_world(monkeypatch) as world:
        yield world


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
    out, err = capsys.readouterr()
    assert "INVENTORY_TABLE, INVENTORY_BUS" in err
    # the stack's alarm counts JSON lines with level ERROR: a run that cannot start is one
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["level"] == "ERROR" and line["status"] == "not_started"


def test_a_failing_run_exits_1_with_an_error_line_the_alarm_counts(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a file to check, and S3 refusing the report (as a missing IAM grant once did on AWS)
    arrive(aws, day_key(15, "a_inventory.csv"), tsv("2021-02-15T10:00:00Z|W1|i1|Mug|2"))
    real_put = aws.ports.objects.put

    def denied(key: str, data: bytes) -> object:
        if key.startswith("validation_reports/"):
            raise PermissionError("AccessDenied: HeadObject")
        return real_put(key, data)

    monkeypatch.setattr(aws.ports.objects, "put", denied)
    monkeypatch.setattr("validator.__main__.build_ports", lambda settings, env: (aws.ports, aws.ddb))
    # WHEN the task runs
    code, lines = run_main()
    # THEN it exits 1, and its last line is an ERROR naming the failure (the traceback goes to stderr)
    assert code == 1
    assert lines[-1]["level"] == "ERROR" and lines[-1]["status"] == "failed"
    assert "PermissionError: AccessDenied: HeadObject" in lines[-1]["message"]
    assert "Traceback" in capsys.readouterr().err
