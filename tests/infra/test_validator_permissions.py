"""The task role against what a validator run really calls, not against a list someone keeps by hand.

GIVEN the synthesised task role and a run of the Fargate entry point on the AWS adapters under moto
WHEN every AWS API call of the run is recorded and turned into the IAM action and resource it needs
THEN the role allows each one (a HeadObject after writing the report was missed this way once: every
nightly run on AWS failed at its end, while moto, which checks no IAM, passed).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from tests.infra.conftest import Synthesized
from tests.validator_aws_support import BUCKET, TABLE, AwsWorld, arrive, aws_world, run_main
from tests.validator_support import day_key, tsv

pytestmark = pytest.mark.slow

REGION, ACCOUNT = "eu-central-1", "123456789012"
BUS = "inventory"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    with aws_world(monkeypatch) as world:
        yield world


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def needed(service: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one API call is authorised against."""
    if service == "s3":
        action = {"HeadObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket"}.get(operation, f"s3:{operation}")
        key = params.get("Key")
        yield action, f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key is not None else "")
    elif service == "dynamodb":
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind, kind)
                yield f"dynamodb:{action}", table_arn(body["TableName"])
        elif operation in ("BatchWriteItem", "BatchGetItem"):
            for name in params["RequestItems"]:
                yield f"dynamodb:{operation}", table_arn(name)
        else:
            index = params.get("IndexName")
            yield f"dynamodb:{operation}", table_arn(params["TableName"]) + (f"/index/{index}" if index else "")
    elif service == "events":
        for entry in params["Entries"]:
            yield f"events:{operation}", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{entry['EventBusName']}"
    else:
        yield f"{service}:{operation}", "*"


def resolve(value: Any, names: dict[str, str]) -> Any:
    """A policy resource from the template as an ARN pattern, the stack's resources named as in the run."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    if "Fn::GetAtt" in value:
        return names[value["Fn::GetAtt"][0]]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(p, names)) for p in parts)
    raise AssertionError(f"a resource the test cannot read: {value}")


def test_the_task_role_allows_every_call_a_validator_run_makes(
    synthesized: Synthesized, aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the task role's statements, with the bucket, table, bus and key named as in the moto world
    raw = synthesized.raw
    (task,) = (r["Properties"] for r in raw["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    (key_id,) = (k for k, r in raw["Resources"].items() if r["Type"] == "AWS::KMS::Key")
    names = {
        raw["Outputs"]["BucketName"]["Value"]["Ref"]: f"arn:aws:s3:::{BUCKET}",
        raw["Outputs"]["TableName"]["Value"]["Ref"]: table_arn(TABLE),
        raw["Outputs"]["BusName"]["Value"]["Ref"]: f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS}",
        key_id: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/stack-key",
    }
    allowed: list[tuple[str, str]] = []
    for resource in raw["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = resolve(statement["Resource"], names)
            for action in actions:
                for arn in resources if isinstance(resources, list) else [resources]:
                    allowed.append((action, arn))

    # AND every API call of a run recorded: two files to check, a report to write, an event to send
    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    arrive(aws, day_key(15, "a_inventory.csv"), tsv("2021-02-15T10:00:00Z|W1|i1|Mug|2"))
    arrive(aws, day_key(16, "b_inventory.csv"), tsv("2021-02-16T10:00:00Z|W1|i1|Mug|-3", "oops"))
    monkeypatch.setattr(BaseClient, "_make_api_call", record)

    # WHEN the task runs
    code, lines = run_main()
    assert code == 0 and lines[-1]["message"] == "validation completed"

    # THEN the role allows each call (the run used S3, DynamoDB and EventBridge, nothing else)
    assert {service for service, _, _ in calls} == {"s3", "dynamodb", "events"}
    denied = sorted(
        {
            (action, arn)
            for service, operation, params in calls
            for action, arn in needed(service, operation, params)
            if not any(a == action and fnmatch.fnmatchcase(arn, pattern) for a, pattern in allowed)
        }
    )
    assert denied == [], f"the task role lacks: {denied}"
