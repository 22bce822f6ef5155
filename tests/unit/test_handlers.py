"""The Lambda handlers, called as Lambda calls them (an SQS batch), against moto."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events import new_event
from events.models import BelowThreshold
from tests.aws_support import aws_env

EVENTS = Path(__file__).parent.parent / "events"
HANDLERS = ["files", "ingest", "thresholds", "alerts", "sweep", "notify"]


class Context:
    function_name = "inventory-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:inventory-test"
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    aws_env(monkeypatch)
    with mock_aws():
        from adapters.aws.clients import AwsClients
        from adapters.aws.names import ResourceNames
        from adapters.aws.provision import provision
        from services import lambda_runtime

        clients = AwsClients()
        provision(clients, ResourceNames.resolve(), "inventory@example.com")
        lambda_runtime.use_ports(None)  # the handler builds its ports from the environment
        yield clients
        lambda_runtime.use_ports(None)


def _sqs_record(n: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": f"message-{n}",
        "receiptHandle": f"handle-{n}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:inventory-notify",
        "awsRegion": "eu-central-1",
    }


def test_files_handler_records_the_arrival_and_reports_the_unreadable_record(aws: Any) -> None:
    from adapters.aws.names import ResourceNames
    from services.files.handler import handler
    from services.lambda_runtime import ports

    # GIVEN an SQS batch with an S3 notification and a record that is not an event
    event = load_event("s3_object_created_sqs")
    # AND the object it announces (moto's ETag is the content's MD5, and the event's is that of "hello\n")
    key = "inventory_files/2021/02/15/20210215120000_inventory.csv"
    aws("s3").put_object(Bucket=ResourceNames.resolve().bucket, Key=key, Body=b"hello\n")
    # WHEN the files function gets it
    response = handler(event, Context())
    # THEN only the unreadable record is returned for a retry, and the file is in the ledger with its digest
    assert response == {"batchItemFailures": [{"itemIdentifier": "0b8e3c1e-1111-4c5a-9f00-000000000002"}]}
    record = ports().table.file(key)
    assert record is not None
    assert (record.sequence, record.etag, record.status) == (1, "b1946ac92492d2347c6235b4d2611184", "arrived")
    assert record.digest == hashlib.sha256(b"hello\n").hexdigest()


def test_notify_handler_turns_one_files_alerts_into_one_digest(aws: Any) -> None:
    from adapters.aws.bus import EventBridgeBus
    from services.notify.handler import handler

    # GIVEN three alerts of one file, as EventBridge delivers them through SQS
    bus = EventBridgeBus(aws, "inventory")
    records = []
    for n in range(3):
        alert = BelowThreshold(
            warehouse="Berlin 1",
            item_id=f"a{n}",
            item_name="T-Shirt",
            level=n,
            threshold=10,
            cause="stock_change",
            file_key="inventory_files/f.csv",
        )
        envelope = new_event(alert, source="inventory.alerts", id_parts=(n,), time=datetime(2021, 2, 15, tzinfo=UTC))
        entry = bus.entry(envelope)
        body = {
            "version": "0",
            "id": f"eventbridge-{n}",
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": "123456789012",
            "time": "2021-02-15T00:00:00Z",
            "region": "eu-central-1",
            "resources": [],
            "detail": json.loads(entry["Detail"]),
        }
        records.append(_sqs_record(n, body))
    # WHEN notify gets the batch, and the same batch again (SQS delivers at least once)
    first = handler({"Records": records}, Context())
    second = handler({"Records": records}, Context())
    # THEN one digest mail went out, once
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sent_messages
    assert first == second == {"batchItemFailures": []}
    assert len(sent) == 1
    assert "a0" in sent[0].raw_data and "a2" in sent[0].raw_data


@pytest.mark.parametrize("name", HANDLERS)
def test_a_handler_imports_without_build_or_test_libraries(name: str) -> None:
    # WHEN a handler module is imported in a fresh interpreter, as in a Lambda cold start
    # (how fast is measured by `make bench`, not here: these machines are shared and noisy)
    script = (
        "import sys\n"
        f"import services.{name}.handler\n"
        "banned = {'aws_cdk', 'moto', 'pytest', 'hypothesis'}\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & banned)))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # THEN it pulls in no CDK or test library
    assert run.stdout.strip() == ""


def test_a_new_container_with_another_default_announces_it_once(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from services import lambda_runtime
    from services.ingest.handler import handler
    from services.thresholds.logic import DEFAULT_KEY

    # GIVEN a table whose alert states follow the default 10 (recorded by an earlier deploy)
    assert lambda_runtime.ports().table.record_default_threshold() is None
    # WHEN the CLI runs the handler on its own ports with another default, then a deployed container
    # with the default 25 gets two batches
    cli_ports = lambda_runtime.ports()
    cli_ports.table.default_threshold = 40
    lambda_runtime.use_ports(cli_ports)

    def invoke() -> None:
        # A record that is not an event: it fails (so the batch does), which does not matter here.
        with contextlib.suppress(BatchProcessingError):
            handler({"Records": [_sqs_record(1, {"not": "an event"})]}, Context())

    invoke()
    monkeypatch.setenv("INVENTORY_DEFAULT_THRESHOLD", "25")
    lambda_runtime.use_ports(None)  # a new container: ports from its environment
    invoke()
    invoke()
    # THEN the sweep's queue holds exactly one announcement, from 10 to 25; the CLI's 40 was never recorded
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="inventory-sweep")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    details = [json.loads(m["Body"])["detail"] for m in messages]
    assert [(d["file_key"], d["default_changed_from"], d["default_threshold"]) for d in details] == [
        (f"{DEFAULT_KEY}/1", 10, 25)
    ]
