"""The synthesised template: wiring from events.rules, encryption with the one key, the nightly task,
SQL over the files, the IAM-authorised API, cdk-nag and cfn-lint.

GIVEN the app synthesised once with cdk.json's parameters (tests/infra/conftest.py)
WHEN a test reads the template
THEN the resource it is about is wired as the issue asks.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from adapters.aws.names import TABLE_INDEXES, TTL_ATTRIBUTE
from events.construct import SCHEMA_DIR
from events.rules import CUSTOM_BUS, DEFAULT_BUS, RULES, TARGETS, for_bucket
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.slow

ENVIRONMENT = (
    "INVENTORY_BUCKET",
    "INVENTORY_TABLE",
    "INVENTORY_BUS",
    "INVENTORY_PURCHASING_EMAIL",
    "INVENTORY_SENDER_EMAIL",
    "INVENTORY_DEFAULT_THRESHOLD",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


def key_id(s: Synthesized) -> str:
    key, props = s.only("AWS::KMS::Key")
    assert props["EnableKeyRotation"] is True
    return key


def is_key(s: Synthesized, value: Any) -> bool:
    key = key_id(s)
    return value in ({"Fn::GetAtt": [key, "Arn"]}, {"Ref": key})


def arn_of(value: Any) -> str:
    """The logical id a {"Fn::GetAtt": [id, "Arn"]} or {"Ref": id} points at."""
    if "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value["Ref"])


def function_of(s: Synthesized, service: str) -> str:
    found = [
        k
        for k, p in s.properties("AWS::Lambda::Function").items()
        if p.get("Handler") == f"services.{service}.handler.handler"
    ]
    assert len(found) == 1, f"{service}: {found}"
    return found[0]


def queue_of(s: Synthesized, service: str) -> str:
    function = function_of(s, service)
    mappings = [
        p for p in s.properties("AWS::Lambda::EventSourceMapping").values() if p["FunctionName"] == {"Ref": function}
    ]
    assert len(mappings) == 1, f"{service} has {len(mappings)} event source mappings"
    return arn_of(mappings[0]["EventSourceArn"])


# -- wiring --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_rule_targets_its_services_queue_with_its_exact_pattern(synthesized: Synthesized, rule: Any) -> None:
    # on the default bus the deployed pattern also names the stack's bucket (other buckets' events pass there)
    bucket = {"Ref": synthesized.raw["Outputs"]["BucketName"]["Value"]["Ref"]}
    deployed = for_bucket(rule, bucket)
    assert (deployed != rule.pattern) == (rule.bus == DEFAULT_BUS)
    matching = [p for p in synthesized.properties("AWS::Events::Rule").values() if p.get("EventPattern") == deployed]
    assert len(matching) == 1, f"{rule.name}: {len(matching)} EventBridge rules carry its pattern"
    props = matching[0]
    if rule.bus == DEFAULT_BUS:
        assert props["EventBusName"] == "default"
    else:
        assert rule.bus == CUSTOM_BUS
        bus, _ = synthesized.only("AWS::Events::EventBus")
        assert props["EventBusName"] == {"Ref": bus}
    (target,) = props["Targets"]
    queue = queue_of(synthesized, rule.target)
    assert arn_of(target["Arn"]) == queue
    # Deliveries EventBridge cannot make land in the service's dead-letter queue.
    redrive = synthesized.raw["Resources"][queue]["Properties"]["RedrivePolicy"]
    assert arn_of(target["DeadLetterConfig"]["Arn"]) == arn_of(redrive["deadLetterTargetArn"])


@pytest.mark.parametrize("service", TARGETS)
def test_every_target_has_queue_dead_letter_queue_and_function(synthesized: Synthesized, service: str) -> None:
    queue = queue_of(synthesized, service)
    props = synthesized.raw["Resources"][queue]["Properties"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    function = synthesized.raw["Resources"][function_of(synthesized, service)]["Properties"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    environment = function["Environment"]["Variables"]
    assert set(ENVIRONMENT) <= set(environment)
    assert environment["POWERTOOLS_SERVICE_NAME"] == service
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "Inventory"
    # Visibility timeout covers six tries of the function, as AWS advises for Lambda consumers.
    assert props["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_every_mapping_reports_partial_batch_failures(synthesized: Synthesized) -> None:
    mappings = synthesized.properties("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(TARGETS)
    for props in mappings.values():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_ingest_takes_one_file_per_invocation(synthesized: Synthesized) -> None:
    # Ten large files in one batch could outlast the 10-minute timeout and all be retried together.
    function = function_of(synthesized, "ingest")
    (mapping,) = [
        p
        for p in synthesized.properties("AWS::Lambda::EventSourceMapping").values()
        if p["FunctionName"] == {"Ref": function}
    ]
    assert mapping["BatchSize"] == 1


def test_notify_waits_to_batch_one_files_alerts(synthesized: Synthesized) -> None:
    function = function_of(synthesized, "notify")
    (mapping,) = [
        p
        for p in synthesized.properties("AWS::Lambda::EventSourceMapping").values()
        if p["FunctionName"] == {"Ref": function}
    ]
    assert mapping["MaximumBatchingWindowInSeconds"] >= 10
    assert mapping["BatchSize"] == 1000  # what the local bus hands notify at once: the same digests
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    functions = synthesized.properties("AWS::Lambda::Function").values()
    assert all("ReservedConcurrentExecutions" not in p for p in functions)  # new accounts may have only 10
    others = [p for p in synthesized.properties("AWS::Lambda::EventSourceMapping").values() if p is not mapping]
    assert all("MaximumBatchingWindowInSeconds" not in p for p in others)


def test_every_dead_letter_queue_alarms_to_the_ops_topic(synthesized: Synthesized) -> None:
    topic, topic_props = synthesized.only("AWS::SNS::Topic")
    assert is_key(synthesized, topic_props["KmsMasterKeyId"])
    queues = synthesized.properties("AWS::SQS::Queue")
    dead_letter_queues = {
        arn_of(p["RedrivePolicy"]["deadLetterTargetArn"]) for p in queues.values() if "RedrivePolicy" in p
    }
    schedule = synthesized.only("AWS::Scheduler::Schedule")[1]
    dead_letter_queues.add(arn_of(schedule["Target"]["DeadLetterConfig"]["Arn"]))
    assert len(dead_letter_queues) == len(TARGETS) + 1
    alarmed = set()
    for props in synthesized.properties("AWS::CloudWatch::Alarm").values():
        assert props["AlarmActions"] == [{"Ref": topic}]
        if "Metrics" in props or props["MetricName"] == "ValidatorErrors":
            continue  # the lost-delivery and failed-run alarms, below
        (dimension,) = props["Dimensions"]
        alarmed.add(arn_of({"Fn::GetAtt": [dimension["Value"]["Fn::GetAtt"][0], "Arn"]}))
    assert alarmed == dead_letter_queues


def test_every_rule_alarms_when_eventbridge_cannot_deliver_to_its_queue(synthesized: Synthesized) -> None:
    # Both a queue and its dead-letter queue use the stack's key: if EventBridge may not use it, events are
    # lost, and only these EventBridge metrics show it.
    topic, _ = synthesized.only("AWS::SNS::Topic")
    bus, _ = synthesized.only("AWS::Events::EventBus")
    rules = synthesized.properties("AWS::Events::Rule")
    measured: dict[str, set[str]] = {}
    for props in synthesized.properties("AWS::CloudWatch::Alarm").values():
        if "Metrics" not in props:
            continue
        assert props["AlarmActions"] == [{"Ref": topic}]
        stats = {m["Id"]: m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m}
        (expression,) = [m["Expression"] for m in props["Metrics"] if "Expression" in m]
        assert expression == " + ".join(f"FILL({i}, 0)" for i in stats)
        for metric in stats.values():
            assert metric["Namespace"] == "AWS/Events"
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            rule_id = dims["RuleName"]["Ref"]
            # a custom bus's rules are measured with its name, the default bus's by rule name alone
            on_custom_bus = rules[rule_id]["EventBusName"] != "default"
            assert dims.get("EventBusName") == ({"Ref": bus} if on_custom_bus else None)
            measured.setdefault(rule_id, set()).add(metric["MetricName"])
    consuming = {k for k, p in rules.items() if "DeadLetterConfig" in p["Targets"][0]}
    assert len(consuming) == len(RULES)
    assert measured == {k: {"InvocationsFailedToBeSentToDlq"} for k in consuming}


def test_a_failed_validator_run_alarms_to_the_ops_topic(synthesized: Synthesized) -> None:
    # GIVEN the task's log group WHEN a run logs a JSON line with level ERROR (validator/__main__.py does
    # for every exit 1) THEN a metric counts it and an alarm goes to the ops topic
    topic, _ = synthesized.only("AWS::SNS::Topic")
    _, task = synthesized.only("AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    task_logs = container["LogConfiguration"]["Options"]["awslogs-group"]
    _, metric_filter = synthesized.only("AWS::Logs::MetricFilter")
    assert metric_filter["LogGroupName"] == task_logs
    assert metric_filter["FilterPattern"] == '{ $.level = "ERROR" }'
    (transformation,) = metric_filter["MetricTransformations"]
    # per stack: a second stack's failed run must not set off this one's alarm
    assert transformation["MetricNamespace"] == "Inventory/Inventory"
    (alarm,) = (
        p for p in synthesized.properties("AWS::CloudWatch::Alarm").values() if p.get("MetricName") == "ValidatorErrors"
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_audit_rule_sends_every_custom_bus_event_to_the_audit_log(synthesized: Synthesized) -> None:
    bus, _ = synthesized.only("AWS::Events::EventBus")
    audit = [
        p
        for p in synthesized.properties("AWS::Events::Rule").values()
        if p.get("EventBusName") == {"Ref": bus} and p["EventPattern"] == {"source": [{"prefix": "inventory."}]}
    ]
    assert len(audit) == 1
    (target,) = audit[0]["Targets"]
    assert ":log-group:" in json.dumps(target["Arn"])


def test_outputs_the_cli_reads(synthesized: Synthesized) -> None:
    outputs = set(synthesized.raw["Outputs"])
    expected = {"BucketName", "TableName", "BusName", "AuditLogGroupName", "ApiUrl"}
    expected |= {f"Queue{t.capitalize()}Url" for t in TARGETS} | {f"Dlq{t.capitalize()}Url" for t in TARGETS}
    assert expected <= outputs


def test_api_url_has_no_trailing_slash(synthesized: Synthesized) -> None:
    # The docs call "$ApiUrl/restock": the stage URL's own "/" made that "//restock", which the API
    # answers with 404. The endpoint attribute is the same address without it.
    api, _ = synthesized.only("AWS::ApiGatewayV2::Api")
    assert synthesized.raw["Outputs"]["ApiUrl"]["Value"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}


# -- encryption ----------------------------------------------------------------------------------------


def test_every_encrypted_resource_uses_the_one_key(synthesized: Synthesized) -> None:
    s = synthesized
    buckets = s.properties("AWS::S3::Bucket")
    assert len(buckets) == 2  # data, query results
    for props in buckets.values():
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert is_key(s, rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
        assert rule["BucketKeyEnabled"] is True
    table = s.only("AWS::DynamoDB::Table")[1]
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert is_key(s, table["SSESpecification"]["KMSMasterKeyId"])
    assert is_key(s, s.only("AWS::Events::EventBus")[1]["KmsKeyIdentifier"])
    assert is_key(s, s.only("AWS::Events::Archive")[1]["KmsKeyIdentifier"])
    queues = s.properties("AWS::SQS::Queue")
    assert len(queues) == 2 * len(TARGETS) + 1
    assert all(is_key(s, p["KmsMasterKeyId"]) for p in queues.values())
    log_groups = s.properties("AWS::Logs::LogGroup")
    # audit, access log, flow logs, task logs, one per function
    assert len(log_groups) == 4 + len(TARGETS) + 1
    assert all(is_key(s, p["KmsKeyId"]) for p in log_groups.values())
    assert is_key(s, s.only("AWS::SNS::Topic")[1]["KmsMasterKeyId"])
    results = s.only("AWS::Athena::WorkGroup")[1]["WorkGroupConfiguration"]["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert is_key(s, results["EncryptionConfiguration"]["KmsKey"])
    assert is_key(s, s.only("AWS::Scheduler::Schedule")[1]["KmsKeyArn"])
    for name, props in s.properties("AWS::Lambda::Function").items():
        if props.get("Handler", "").startswith("services."):
            assert is_key(s, props["KmsKeyArn"]), name


def test_key_policy_lets_the_services_that_act_as_themselves_use_the_key(synthesized: Synthesized) -> None:
    """EventBridge must encrypt into the target queues and the archive, or deliveries fail silently."""
    policy = synthesized.only("AWS::KMS::Key")[1]["KeyPolicy"]["Statement"]

    def actions_for(principal: str) -> set[str]:
        return {
            action
            for statement in policy
            if principal in json.dumps(statement["Principal"]) and statement["Effect"] == "Allow"
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        }

    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions_for("events.amazonaws.com")
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions_for("cloudwatch.amazonaws.com")
    assert {"kms:Encrypt*", "kms:GenerateDataKey*"} <= actions_for("logs.")
    for statement in policy:
        if "Service" in statement["Principal"]:
            assert statement.get("Condition"), f"{statement['Sid']} is not limited to this account"


def test_bucket_and_table_are_safe_by_default(synthesized: Synthesized) -> None:
    data_bucket = [p for p in synthesized.properties("AWS::S3::Bucket").values() if "NotificationConfiguration" in p]
    assert len(data_bucket) == 0  # notifications are set by the CDK's custom resource, not in the bucket
    notifications = synthesized.only("Custom::S3BucketNotifications")[1]
    assert notifications["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    for props in synthesized.properties("AWS::S3::Bucket").values():
        assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        )
    versioned = [p for p in synthesized.properties("AWS::S3::Bucket").values() if p.get("VersioningConfiguration")]
    assert len(versioned) == 1
    policies = json.dumps(synthesized.properties("AWS::S3::BucketPolicy"))
    assert policies.count('"aws:SecureTransport": "false"') == 2
    table = synthesized.only("AWS::DynamoDB::Table")[1]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True


def test_table_indexes_are_the_ones_the_adapter_queries(synthesized: Synthesized) -> None:
    table = synthesized.only("AWS::DynamoDB::Table")[1]
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    indexes = {}
    for index in table["GlobalSecondaryIndexes"]:
        keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
        indexes[index["IndexName"]] = (keys["HASH"], keys["RANGE"], types[keys["RANGE"]])
    assert indexes == TABLE_INDEXES
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


# -- schemas -------------------------------------------------------------------------------------------


def test_one_registry_schema_per_generated_schema(synthesized: Synthesized) -> None:
    schemas = synthesized.properties("AWS::EventSchemas::Schema")
    expected = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert {p["SchemaName"].removeprefix("inventory@") for p in schemas.values()} == expected
    for props in schemas.values():
        assert props["Type"] == "JSONSchemaDraft4"
        content = json.loads(props["Content"])
        assert content["$schema"] == "http://json-schema.org/draft-04/schema#"
        assert "$defs" not in props["Content"] and '"const"' not in props["Content"]


# -- nightly validator ---------------------------------------------------------------------------------


def test_schedule_runs_the_fargate_task_at_three_utc(synthesized: Synthesized) -> None:
    schedule = synthesized.only("AWS::Scheduler::Schedule")[1]
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"
    ecs = schedule["Target"]["EcsParameters"]
    task, _ = synthesized.only("AWS::ECS::TaskDefinition")
    assert ecs["LaunchType"] == "FARGATE"
    assert ecs["TaskDefinitionArn"] == {"Ref": task}
    network = ecs["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    public = {k for k, p in synthesized.properties("AWS::EC2::Subnet").items() if p.get("MapPublicIpOnLaunch")}
    assert {arn_of(subnet) for subnet in network["Subnets"]} == public


def test_scheduler_role_can_start_the_task_and_fill_its_encrypted_dead_letter_queue(synthesized: Synthesized) -> None:
    schedule = synthesized.only("AWS::Scheduler::Schedule")[1]
    role = arn_of(schedule["Target"]["RoleArn"])
    statements = [
        statement
        for props in synthesized.properties("AWS::IAM::Policy").values()
        if {"Ref": role} in props["Roles"]
        for statement in props["PolicyDocument"]["Statement"]
    ]
    allowed = {
        (action, json.dumps(statement["Resource"]))
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    key = json.dumps({"Fn::GetAtt": [key_id(synthesized), "Arn"]})
    assert {("kms:GenerateDataKey", key), ("kms:Decrypt", key)} <= allowed
    assert ("ecs:RunTask", json.dumps(schedule["Target"]["EcsParameters"]["TaskDefinitionArn"])) in allowed


def test_fargate_task_definition(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "LogConfiguration": Match.object_like({"LogDriver": "awslogs"}),
                        "Environment": Match.array_with(
                            [{"Name": "INVENTORY_CHECK_DELAY", "Value": Match.any_value()}]
                        ),
                    }
                )
            ],
        },
    )
    manifest = json.loads((synthesized.outdir / "Inventory.assets.json").read_text(encoding="utf-8"))
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "validator/Dockerfile"
    assert image["source"]["platform"] == "linux/arm64"
    staged = synthesized.outdir / image["source"]["directory"]
    assert (staged / "validator" / "Dockerfile").exists() and not (staged / ".venv").exists()


def test_vpc_has_no_nat_and_the_task_admits_nothing_in(synthesized: Synthesized) -> None:
    assert synthesized.resources("AWS::EC2::NatGateway") == {}
    assert all(p.get("MapPublicIpOnLaunch") for p in synthesized.properties("AWS::EC2::Subnet").values())
    endpoints = json.dumps(synthesized.properties("AWS::EC2::VPCEndpoint"))
    assert ".s3" in endpoints and ".dynamodb" in endpoints
    groups = [
        p for p in synthesized.properties("AWS::EC2::SecurityGroup").values() if "validator" in p["GroupDescription"]
    ]
    (group,) = groups
    assert "SecurityGroupIngress" not in group
    assert [(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]


# -- data scientist: Glue and Athena -------------------------------------------------------------------


def test_glue_table_over_inventory_files_with_partition_projection(synthesized: Synthesized) -> None:
    tables = {p["TableInput"]["Name"]: p["TableInput"] for p in synthesized.properties("AWS::Glue::Table").values()}
    raw = tables["transaction_rows"]
    parameters = raw["Parameters"]
    assert parameters["skip.header.line.count"] == "1"
    assert parameters["projection.enabled"] == "true"
    assert {name for name in ("year", "month", "day") if parameters[f"projection.{name}.type"] == "integer"} == {
        "year",
        "month",
        "day",
    }
    assert "inventory_files/${year}/${month}/${day}/" in json.dumps(parameters["storage.location.template"])
    assert [c["Name"] for c in raw["PartitionKeys"]] == ["year", "month", "day"]
    descriptor = raw["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["Parameters"]["field.delim"] == "\t"
    assert [c["Name"] for c in descriptor["Columns"]] == ["ts", "warehouse", "item_id", "item_name", "change"]


def test_transactions_view_has_the_agreed_columns(synthesized: Synthesized) -> None:
    tables = {p["TableInput"]["Name"]: p["TableInput"] for p in synthesized.properties("AWS::Glue::Table").values()}
    view = tables["transactions"]
    assert view["TableType"] == "VIRTUAL_VIEW"
    text = view["ViewOriginalText"]
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    decoded = json.loads(base64.b64decode(text.removeprefix("/* Presto View: ").removesuffix(" */")))
    names = ["ts", "warehouse", "item_id", "item_name", "change", "file_key", "year", "month", "day"]
    assert [c["name"] for c in decoded["columns"]] == names
    assert [c["Name"] for c in view["StorageDescriptor"]["Columns"]] == names
    assert '"transaction_rows"' in decoded["originalSql"]
    # GIVEN a bucket in the view's text THEN it is a name, never an unresolved token (base64 hides it)
    assert "Token[" not in decoded["originalSql"] and "${" not in decoded["originalSql"]


def test_view_file_key_is_the_object_key(synthesized: Synthesized) -> None:
    # Athena runs the view's SQL; here its file_key expression is applied to a "$path" with Python's re.
    tables = {p["TableInput"]["Name"]: p["TableInput"] for p in synthesized.properties("AWS::Glue::Table").values()}
    text = tables["transactions"]["ViewOriginalText"]
    sql = json.loads(base64.b64decode(text.removeprefix("/* Presto View: ").removesuffix(" */")))["originalSql"]
    (pattern,) = re.findall(r"regexp_extract\(\"\$path\", '([^']+)', 1\) AS file_key", sql)
    path = "s3://inventory-data-123/inventory_files/2021/02/15/20210215120000_inventory.csv"
    found = re.match(pattern, path)
    assert found is not None and found.group(1) == "inventory_files/2021/02/15/20210215120000_inventory.csv"


def test_athena_workgroup_enforces_its_encrypted_results(synthesized: Synthesized) -> None:
    config = synthesized.only("AWS::Athena::WorkGroup")[1]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["OutputLocation"]


# -- reports API ---------------------------------------------------------------------------------------


def test_reports_api_requires_iam_and_reaches_the_reports_function(synthesized: Synthesized) -> None:
    (route,) = synthesized.properties("AWS::ApiGatewayV2::Route").values()
    assert route["AuthorizationType"] == "AWS_IAM"
    # $default takes every method, so HEAD reaches the function, which answers it like GET without a body.
    assert route["RouteKey"] == "$default"
    (integration,) = synthesized.properties("AWS::ApiGatewayV2::Integration").values()
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_of(synthesized, "reports"), "Arn"]}
    stage = synthesized.only("AWS::ApiGatewayV2::Stage")[1]
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]
    synthesized.template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})


# -- checks --------------------------------------------------------------------------------------------


def test_cdk_nag_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    assert synthesized.report is not None, "cdk-nag did not run"
    violations = [
        f"{v['ruleName']} at {c['constructPath']}"
        for plugin in synthesized.report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    ]
    assert violations == []
    assert synthesized.error is None


def test_cfn_lint_finds_no_errors(synthesized: Synthesized) -> None:
    template = synthesized.outdir / "Inventory.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == []
    assert result.returncode in (0, 4, 8, 12), result.stderr  # 4 = warnings, 8 = informational


# -- parameters ----------------------------------------------------------------------------------------


def test_context_parameters_reach_the_resources(tmp_path: Path) -> None:
    """GIVEN -c style overrides WHEN the app is built THEN functions, task, schedule and table follow them."""
    from app import build_app

    app, stack = build_app(
        outdir=str(tmp_path),
        context={
            "inventory:stackName": "InventoryTest",
            "inventory:purchasingEmail": "buyers@example.org",
            "inventory:defaultThreshold": "7",
            "inventory:checkDelaySeconds": "2.5",
            "inventory:validatorSchedule": "cron(30 1 * * ? *)",
            "inventory:deletionProtection": "false",
        },
    )
    app.synth()
    assert stack.stack_name == "InventoryTest"
    template = json.loads((tmp_path / f"{stack.stack_name}.template.json").read_text(encoding="utf-8"))
    resources = template["Resources"].values()
    (table,) = [r["Properties"] for r in resources if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["DeletionProtectionEnabled"] is False
    (schedule,) = [r["Properties"] for r in resources if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["ScheduleExpression"] == "cron(30 1 * * ? *)"
    functions = [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"]
    ours = [f["Environment"]["Variables"] for f in functions if f.get("Handler", "").startswith("services.")]
    assert len(ours) == len(TARGETS) + 1
    assert all(v["INVENTORY_PURCHASING_EMAIL"] == "buyers@example.org" for v in ours)
    assert all(v["INVENTORY_DEFAULT_THRESHOLD"] == "7" for v in ours)
    (task,) = [r["Properties"] for r in resources if r["Type"] == "AWS::ECS::TaskDefinition"]
    environment = {e["Name"]: e["Value"] for e in task["ContainerDefinitions"][0]["Environment"]}
    assert environment["INVENTORY_CHECK_DELAY"] == "2.5"
    # notify mails the run's summary; the task itself sends no mail and is not told where to
    assert "INVENTORY_PURCHASING_EMAIL" not in environment


def test_no_custom_resource_downloads_an_sdk_while_deploying(synthesized: Synthesized) -> None:
    # installLatestAwsSdk would make the custom resource's Lambda fetch the AWS SDK from npm on every
    # deploy: slow, and a failure wherever that Lambda has no internet access.
    custom = {
        k: v for k, v in synthesized.raw["Resources"].items() if v["Type"] == "Custom::CloudwatchLogResourcePolicy"
    }
    assert custom
    assert all(v["Properties"]["InstallLatestAwsSdk"] is False for v in custom.values())
