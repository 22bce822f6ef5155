"""The AWS topology end to end under moto server, through the real CLI, against the local runtime.

GIVEN the same generated files (bad rows, CRLF, a BOM, a thresholds file) put into both runtimes,
WHEN each processes them, then a thresholds change, then a duplicate notification of one object, and
(on AWS) another tool uploading one file again (a new ETag, as the SSE-KMS bucket gives every upload),
THEN reports, SQL, the event log and the mails agree, and no message is dead-lettered.
"""

from __future__ import annotations

import email
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.cli import main
from local.generate import generate
from tests.aws_support import per_upload_etags

pytestmark = pytest.mark.slow
REGION = "eu-central-1"


class Cli:
    """Runs `inventory` in this process, as a user would type it, and returns its JSON answer."""

    def __init__(self, capsys: pytest.CaptureFixture[str], *global_options: str) -> None:
        self.capsys = capsys
        self.options = list(global_options)

    def __call__(self, *args: str) -> Any:
        self.capsys.readouterr()
        main([*self.options, "--format", "json", *args])
        return json.loads(self.capsys.readouterr().out)


def _comparable_events(events: list[dict[str, Any]]) -> Counter[str]:
    """Events as both runtimes must agree on them. FileArrived carries the runtime's content hash
    (SHA-256 locally, the S3 ETag on AWS) and its own arrival time, and so its id differs."""
    out: list[str] = []
    for event in events:
        detail = dict(event["detail"])
        event_id = event["id"]
        if event["detail_type"] == "FileArrived":
            detail = {k: detail[k] for k in ("key", "kind", "size", "sequence")}
            event_id = ""
        out.append(json.dumps([event_id, event["source"], event["detail_type"], detail], sort_keys=True))
    return Counter(out)


def _reports(cli: Cli, warehouses: list[str], items: list[str]) -> dict[str, Any]:
    return {
        "restock": cli("report", "restock"),
        **{f"warehouse {w}": cli("report", "warehouse", w) for w in warehouses},
        **{f"warehouse {w} > 20": cli("report", "warehouse", w, "--min-level", "20") for w in warehouses},
        **{f"item {i}": cli("report", "item", i) for i in items},
    }


def _ses_mails() -> list[email.message.Message]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [email.message_from_string(m.raw_data) for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages]


def _outbox_mails(home: Path) -> list[email.message.Message]:
    from adapters.local.mailer import OutboxMailer
    from adapters.settings import Settings
    from local.wiring import bootstrap

    runtime = bootstrap(Settings(home=home))  # the outbox is sealed at rest: read it through the mailer
    try:
        assert isinstance(runtime.ports.mailer, OutboxMailer)
        return [email.message_from_bytes(data) for _, data in runtime.ports.mailer.messages()]
    finally:
        runtime.close()


def test_aws_under_moto_answers_like_the_local_runtime(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    per_upload_etags(monkeypatch)  # moto server runs in this process
    # GIVEN generated files with bad rows, CRLF and BOM variants and a thresholds file
    data = tmp_path / "data"
    generated = generate(data, files=4, rows=1200, warehouses=3, items=30, bad_row_rate=0.03, seed=11)
    assert generated.bad_rows > 0
    local_home = tmp_path / "local"
    local = Cli(capsys, "--home", str(local_home))
    aws = Cli(capsys, "--backend", "aws", "--endpoint-url", endpoint)

    # WHEN both runtimes get the files and process them
    aws("bootstrap")
    for cli in (local, aws):
        cli("put", str(data))
        assert cli("process")["dead"] == 0

    # AND a thresholds change raises every item's threshold, which the sweep must act on
    raised = tmp_path / "raised" / "restock_thresholds" / "2021" / "02" / "20" / "restock_thresholds.json"
    raised.parent.mkdir(parents=True)
    warehouses, item_ids = _warehouses_and_items(local_home)
    raised.write_text(json.dumps({"ThresholdList": [{"ItemId": i, "RestockIfBelow": 150} for i in item_ids]}))
    for cli in (local, aws):
        cli("put", str(tmp_path / "raised"))
        cli("process")

    # AND one object is announced twice more: S3's at-least-once delivery, and the same file put again
    key = generated.inventory_keys[0]
    _notify_again(endpoint, key)
    # AND another tool (`aws s3 cp`) stores a second file's same bytes again: S3 announces a new ETag
    copied = generated.inventory_keys[1]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    s3.put_object(Bucket="inventory-data", Key=copied, Body=(data / copied).read_bytes())
    for cli in (local, aws):
        cli("put", str(data / key), "--key", key)
        final = cli("process")
        assert final["dead"] == 0

    # THEN every report gives the same JSON
    local_reports = _reports(local, warehouses, item_ids)
    assert local_reports["restock"], "the raised thresholds must put pairs on the restock list"
    assert _reports(aws, warehouses, item_ids) == local_reports
    # AND SQL reads the same applied files (the one uploaded again included)
    query = "SELECT file_key, count(*) AS n, sum(change) AS total FROM transactions GROUP BY ALL ORDER BY ALL"
    assert aws("sql", query) == local("sql", query)
    assert len(local("sql", query)) == len(generated.inventory_keys)

    # AND the file ledger and every file's bad rows read the same (arrival times and ETags aside)
    def ledger(cli: Cli) -> list[tuple[Any, ...]]:
        files = cli("files", "list")
        return [(f["sequence"], f["key"], f["status"], f["good_rows"], f["bad_rows"], f["reason"]) for f in files]

    assert ledger(aws) == ledger(local)
    for _, file_key, _, _, bad, _ in ledger(local):
        if bad:
            assert aws("files", "bad-rows", file_key) == local("files", "bad-rows", file_key)

    # AND the event log holds the same events, bad rows and alerts included, each once
    local_events, aws_events = local("events", "list"), aws("events", "list")
    assert _comparable_events(aws_events) == _comparable_events(local_events)
    kinds = Counter(e["detail_type"] for e in aws_events)
    assert kinds["FileArrived"] == len(generated.inventory_keys) + len(generated.thresholds_keys) + 1
    assert kinds["BelowThreshold"] > 0 and kinds["ThresholdsUpdated"] >= 1
    assert any(e["detail"].get("reason") == "bad_rows" for e in aws_events)

    # AND SES sent the same mails (restock digests as text + HTML) as the local outbox holds
    ses, outbox = _ses_mails(), _outbox_mails(local_home)
    assert sorted(m["Subject"] for m in ses) == sorted(m["Subject"] for m in outbox)
    assert sorted(m["Message-ID"] for m in ses) == sorted(m["Message-ID"] for m in outbox)
    assert {p.get_content_type() for m in ses for p in m.walk()} >= {"text/plain", "text/html"}

    # AND nothing waits in a queue or a dead-letter queue
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    for url in sqs.list_queues()["QueueUrls"]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (
            attributes["ApproximateNumberOfMessages"],
            attributes["ApproximateNumberOfMessagesNotVisible"],
        ) == (
            "0",
            "0",
        ), url


def _warehouses_and_items(home: Path) -> tuple[list[str], list[str]]:
    from adapters.settings import Settings
    from local.wiring import bootstrap

    runtime = bootstrap(Settings(home=home))
    try:
        table = runtime.ports.table
        warehouses = table.warehouses()
        items = sorted({row.item_id for w in warehouses for row in table.warehouse_items(w)})
        return warehouses, items
    finally:
        runtime.close()


def _notify_again(endpoint: str, key: str) -> None:
    """Send the files queue S3's notification of an existing object once more (as S3 may)."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    head = s3.head_object(Bucket="inventory-data", Key=key)
    body = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-02-20T10:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:s3:::inventory-data"],
        "detail": {
            "version": "0",
            "bucket": {"name": "inventory-data"},
            "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"')},
            "reason": "PutObject",
        },
    }
    url = sqs.get_queue_url(QueueName="inventory-files")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
