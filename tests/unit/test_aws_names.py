"""Where the AWS resource names come from: environment, then the stack's outputs, then defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.aws.names import ResourceNames
from tests.aws_support import aws_env


def test_environment_wins_over_stack_outputs_which_win_over_defaults() -> None:
    names = ResourceNames.resolve(
        env={"INVENTORY_TABLE": "from-env", "INVENTORY_QUEUE_NOTIFY": "https://sqs/notify-env"},
        outputs={
            "TableName": "from-stack",
            "BucketName": "bucket-from-stack",
            "QueueIngestUrl": "https://sqs/ingest",
        },
    )
    assert (names.table, names.bucket, names.bus) == ("from-env", "bucket-from-stack", "inventory")
    assert (names.queues["notify"], names.queues["ingest"], names.queues["files"]) == (
        "https://sqs/notify-env",
        "https://sqs/ingest",
        "inventory-files",
    )
    # AND what a function needs is exactly what resolve reads back
    assert ResourceNames.resolve(env=names.as_env()) == names


def test_names_are_read_from_a_deployed_stacks_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    aws_env(monkeypatch)
    template = {
        "Resources": {"Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "stack-bucket"}}},
        "Outputs": {"BucketName": {"Value": {"Ref": "Data"}}, "TableName": {"Value": "stack-table"}},
    }
    with mock_aws():
        from adapters.aws.clients import AwsClients
        from adapters.aws.wiring import stack_outputs

        clients = AwsClients()
        clients("cloudformation").create_stack(StackName="Inventory", TemplateBody=json.dumps(template))
        names = ResourceNames.resolve(env={}, outputs=stack_outputs("Inventory", clients))
    assert (names.bucket, names.table) == ("stack-bucket", "stack-table")


def test_the_region_comes_from_the_environment_then_the_profile_then_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from adapters.aws import clients

    # GIVEN a profile whose region is us-east-1 and no region in the environment
    config = tmp_path / "config"
    config.write_text("[profile deployer]\nregion = us-east-1\n")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "deployer")
    monkeypatch.setattr(clients, "_SESSION", None)  # a session reads the profile when it is made
    # THEN the clients use the profile's region, as the aws command line would
    assert clients.AwsClients().region == "us-east-1"
    # AND the environment wins over the profile
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert clients.AwsClients().region == "eu-west-1"
    # AND without either, the documented default
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_PROFILE")
    config.write_text("")
    monkeypatch.setattr(clients, "_SESSION", None)
    assert clients.AwsClients().region == "eu-central-1"
    monkeypatch.setattr(clients, "_SESSION", None)
