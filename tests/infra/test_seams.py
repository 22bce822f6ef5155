"""Where the CDK app meets the code it deploys: every Lambda handler it names imports and is callable,
every function and the Fargate task get the environment the code reads, and the task's role allows
exactly what a validator run does.

GIVEN the app synthesised once (tests/conftest.py)
WHEN a test reads a function, the task definition or the task role from the template
THEN it agrees with the Python the resource runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from adapters.aws.names import REQUIRED_ENV, TABLE_INDEXES
from tests.infra.conftest import Synthesized
from validator.__main__ import REQUIRED as VALIDATOR_REQUIRED
from validator.__main__ import TASK_ENVIRONMENT
from validator.construct import ARRIVALS_INDEX, KEY_ACTIONS, TABLE_ACTIONS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def project_functions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """The functions whose code is this project's bundle (the CDK's own helpers have other code)."""
    out = {}
    for name, props in synthesized.properties("AWS::Lambda::Function").items():
        key = props["Code"].get("S3Key")
        if isinstance(key, str) and (synthesized.outdir / f"asset.{key.removesuffix('.zip')}" / "services").is_dir():
            out[name] = props
    return out


def test_every_deployed_handler_exists_in_the_bundle_and_imports_as_a_callable(synthesized: Synthesized) -> None:
    functions = project_functions(synthesized)
    handlers = {props["Handler"] for props in functions.values()}
    # every services/<name>/handler.py is deployed, and nothing else is
    assert handlers == {f"services.{p.parent.name}.handler.handler" for p in (ROOT / "services").glob("*/handler.py")}
    for props in functions.values():
        module_name, _, attribute = props["Handler"].rpartition(".")
        asset = synthesized.outdir / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
        assert (asset / (module_name.replace(".", "/") + ".py")).is_file(), f"{module_name} is not in the bundle"
        handler = getattr(importlib.import_module(module_name), attribute)
        assert callable(handler), props["Handler"]


def test_every_function_gets_the_resource_names_the_aws_adapters_require(synthesized: Synthesized) -> None:
    for name, props in project_functions(synthesized).items():
        variables = props["Environment"]["Variables"]
        missing = set(REQUIRED_ENV) - set(variables)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert variables["INVENTORY_BUCKET"] == {"Ref": _output_ref(synthesized, "BucketName")}
        assert variables["INVENTORY_TABLE"] == {"Ref": _output_ref(synthesized, "TableName")}
        assert variables["INVENTORY_BUS"] == {"Ref": _output_ref(synthesized, "BusName")}


def _output_ref(synthesized: Synthesized, output: str) -> str:
    """The logical id of the resource a stack output names (BucketName -> the data bucket)."""
    return str(synthesized.raw["Outputs"][output]["Value"]["Ref"])


def _task_environment(synthesized: Synthesized) -> dict[str, Any]:
    _, task = synthesized.only("AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    return {pair["Name"]: pair["Value"] for pair in container["Environment"]}


def test_the_task_gets_what_the_validator_reads_and_nothing_more(synthesized: Synthesized) -> None:
    env = _task_environment(synthesized)
    assert set(VALIDATOR_REQUIRED) <= set(env) <= set(TASK_ENVIRONMENT)
    assert set(REQUIRED_ENV) <= set(env)
    assert env["INVENTORY_BUCKET"] == {"Ref": _output_ref(synthesized, "BucketName")}
    assert env["INVENTORY_TABLE"] == {"Ref": _output_ref(synthesized, "TableName")}
    assert env["INVENTORY_BUS"] == {"Ref": _output_ref(synthesized, "BusName")}
    assert float(env["INVENTORY_CHECK_DELAY"]) == 10  # the spec's delay, cdk.json's default


def _statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for props in synthesized.properties("AWS::IAM::Policy").values()
        if {"Ref": role_id} in props["Roles"]
        for statement in props["PolicyDocument"]["Statement"]
    ]


def test_the_task_role_allows_exactly_what_a_run_does(synthesized: Synthesized) -> None:
    _, task = synthesized.only("AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    bucket = _output_ref(synthesized, "BucketName")
    table = _output_ref(synthesized, "TableName")
    bus = _output_ref(synthesized, "BusName")
    key = synthesized.only("AWS::KMS::Key")[0]

    def objects(prefix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{prefix}*"]]}

    table_arn = {"Fn::GetAtt": [table, "Arn"]}
    granted = sorted(
        (
            (tuple(sorted(s["Action"])) if isinstance(s["Action"], list) else (s["Action"],)),
            repr(s["Resource"]),
        )
        for s in _statements(synthesized, role_id)
        if s["Effect"] == "Allow"
    )
    assert ARRIVALS_INDEX in TABLE_INDEXES
    expected = sorted(
        [
            (("s3:GetObject",), repr(objects("inventory_files/"))),
            (("s3:ListBucket",), repr({"Fn::GetAtt": [bucket, "Arn"]})),
            # GetObject: AwsObjectStore.put heads the report it wrote (HeadObject is authorised as GetObject)
            (("s3:GetObject", "s3:PutObject"), repr(objects("validation_reports/"))),
            (
                tuple(sorted(TABLE_ACTIONS)),
                repr([table_arn, {"Fn::Join": ["", [table_arn, f"/index/{ARRIVALS_INDEX}"]]}]),
            ),
            (("events:PutEvents",), repr({"Fn::GetAtt": [bus, "Arn"]})),
            (tuple(sorted(KEY_ACTIONS)), repr({"Fn::GetAtt": [key, "Arn"]})),
        ]
    )
    assert granted == expected
    assert not any("*" in action for actions, _ in granted for action in actions), "no action wildcards"
