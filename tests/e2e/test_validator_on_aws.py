"""The nightly validator on the real AWS adapters, as the Fargate task runs it, under moto server.

GIVEN `inventory --backend aws --endpoint-url URL bootstrap`, generated files with bad rows put and
processed through the Lambda handlers,
WHEN `python -m validator` runs as a subprocess with the environment the CDK app's task definition gives
it (read from the synthesised template, its resource references resolved to what bootstrap created),
THEN it reads the arrival log from DynamoDB in arrival order, writes its report to S3, puts
ValidationCompleted on the bus (the audit log shows it, notify mails it), keeps its lease and
checkpoint in the one table, and a second run checks 0 transactions.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from adapters.aws.names import ResourceNames
from adapters.aws.validator_state import PK as VALIDATOR_PK
from local.cli import main
from local.generate import generate
from tests.e2e.conftest import REGION
from tests.image_support import (
    guarded_validator,
    image_imports,
    image_requirements,
    importable_modules,
    installed_distributions,
)
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# The task's environment references the stack's resources; bootstrap creates them under these names.
RESOURCE_NAMES = {
    "AWS::S3::Bucket": ResourceNames().bucket,
    "AWS::DynamoDB::Table": ResourceNames().table,
    "AWS::Events::EventBus": ResourceNames().bus,
}


def task_environment(raw: dict[str, Any]) -> dict[str, str]:
    """The validator container's environment in the template, every `Ref` resolved to a bootstrap name.
    Anything else that is not plain text fails here: a new kind of reference needs a decision."""
    (task,) = (r for r in raw["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    env: dict[str, str] = {}
    for pair in container["Environment"]:
        value = pair["Value"]
        if isinstance(value, dict):
            referenced = raw["Resources"][value["Ref"]]["Type"]
            value = RESOURCE_NAMES[referenced]
        env[pair["Name"]] = str(value)
    return env


def run_validator(env: dict[str, str]) -> list[dict[str, Any]]:
    # Only what the image installs (validator/requirements.txt) can be imported, as in the Fargate task.
    command, guarded_env = guarded_validator(env)
    done = subprocess.run(command, env=guarded_env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    imports = image_imports(done.stderr)
    # Every requirement of the image is used by the run: nothing is installed for nothing.
    for requirement in image_requirements():
        provided = importable_modules(installed_distributions([requirement]))
        assert provided & set(imports["loaded"]), f"{requirement} is installed but never imported"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def cli(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> Any:
    capsys.readouterr()
    main(["--backend", "aws", "--endpoint-url", endpoint, "--format", "json", *args])
    return json.loads(capsys.readouterr().out)


def test_fargate_task_validates_what_the_lambda_handlers_left_in_dynamodb_and_s3(
    endpoint: str, synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the emulated stack, generated files with bad rows put and processed by the handlers
    cli(capsys, endpoint, "bootstrap")
    generated = generate(tmp_path / "data", files=3, rows=60, warehouses=2, items=8, bad_row_rate=0.05, seed=7)
    assert generated.bad_rows > 0
    cli(capsys, endpoint, "put", str(tmp_path / "data"))
    assert cli(capsys, endpoint, "process")["dead"] == 0
    mails_before = len(_ses_mails())

    # AND the task's environment as the CDK app declares it, plus what ECS gives every task
    task_env = task_environment(synthesized.raw)
    assert {"INVENTORY_BUCKET", "INVENTORY_TABLE", "INVENTORY_BUS"} <= set(task_env)
    env = {
        **task_env,
        "INVENTORY_CHECK_DELAY": "0",  # the spec's 10 s per transaction, off for a test
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PATH": os.environ["PATH"],
    }

    # WHEN the Fargate entry point runs
    lines = run_validator(env)

    # THEN it checked every inventory file in arrival order, from the arrival log in DynamoDB
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    arrivals = _arrivals(ddb, task_env["INVENTORY_TABLE"])
    inventory = [a for a in arrivals if a["kind"] == "inventory"]
    assert sorted(a["key"] for a in inventory) == sorted(generated.inventory_keys)
    checked = [line["file_key"] for line in lines if line["message"] == "file checked"]
    assert checked == [a["key"] for a in inventory]
    summary = lines[-1]
    assert summary["message"] == "validation completed"
    assert summary["transactions"] == generated.rows
    assert summary["findings_by_kind"]["bad_row"] == generated.bad_rows

    # AND its report is in the bucket under validation_reports/Y/M/D/<run id>.json, with its CSV
    started = datetime.fromisoformat(summary["started_at"])
    key = f"validation_reports/{started:%Y/%m/%d}/{summary['run_id']}.json"
    assert summary["report_key"] == key
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    report = json.loads(s3.get_object(Bucket=task_env["INVENTORY_BUCKET"], Key=key)["Body"].read())
    assert [f["key"] for f in report["files_checked"]] == checked
    findings_csv = s3.get_object(Bucket=task_env["INVENTORY_BUCKET"], Key=key[:-5] + ".csv")["Body"].read()
    assert findings_csv.decode().count("\r\nbad_row,") == generated.bad_rows

    # AND ValidationCompleted went onto the custom bus: the audit log has it, notify mails it
    (completed,) = cli(capsys, endpoint, "events", "list", "--type", "ValidationCompleted")
    assert completed["detail"]["run_id"] == summary["run_id"]
    assert completed["detail"]["report_key"] == key
    assert cli(capsys, endpoint, "process")["dead"] == 0
    new_mails = _ses_mails()[mails_before:]
    assert len(new_mails) == 1 and summary["run_id"] in _text(new_mails[0])

    # AND the lease and checkpoint are items of the stock's single table, under its PK/SK key schema
    described = ddb.describe_table(TableName=task_env["INVENTORY_TABLE"])["Table"]["KeySchema"]
    assert {k["AttributeName"]: k["KeyType"] for k in described} == {"PK": "HASH", "SK": "RANGE"}
    checkpoint = ddb.get_item(
        TableName=task_env["INVENTORY_TABLE"], Key={"PK": {"S": VALIDATOR_PK}, "SK": {"S": "CHECKPOINT"}}
    )["Item"]
    assert json.loads(checkpoint["body"]["S"])["sequence"] == arrivals[-1]["sequence"]
    from adapters.aws import stock_table, validator_state

    assert set(validator_state._key("CHECKPOINT")) == set(stock_table.pair_key("w", "i")) == {"PK", "SK"}
    stock = ddb.scan(
        TableName=task_env["INVENTORY_TABLE"],
        FilterExpression="begins_with(PK, :wh)",
        ExpressionAttributeValues={":wh": {"S": "WH#"}},
    )["Items"]
    assert stock, "the stock lives in the same table"
    lease = ddb.get_item(TableName=task_env["INVENTORY_TABLE"], Key={"PK": {"S": VALIDATOR_PK}, "SK": {"S": "LEASE"}})
    assert "Item" not in lease, "a finished run releases its lease"

    # WHEN the task runs again with nothing new arrived, THEN it checks 0 transactions
    again = run_validator(env)[-1]
    assert (again["files"], again["transactions"]) == (0, 0)
    assert again["run_id"] != summary["run_id"]


def _arrivals(ddb: Any, table: str) -> list[dict[str, Any]]:
    """The arrival log as the stock adapter keeps it: the `arrivals` index, in sequence order."""
    from adapters.aws.clients import AwsClients
    from adapters.aws.stock_table import DynamoStockTable

    clients = AwsClients(ddb.meta.endpoint_url, REGION)
    records = list(DynamoStockTable(clients, table).files_since(0))
    sequences = [r.sequence for r in records]
    assert sequences == sorted(sequences) == list(range(1, len(records) + 1))
    return [{"key": r.key, "kind": r.kind, "sequence": r.sequence} for r in records]


def _ses_mails() -> list[email.message.Message]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [email.message_from_string(m.raw_data) for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages]


def _text(mail: email.message.Message) -> str:
    return "".join(
        str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for part in mail.walk()
        if part.get_content_type() == "text/plain"
    )
