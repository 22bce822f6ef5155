"""Create the AWS resources in an emulator (moto server), exactly as the CDK stack declares them.

Only for `inventory --backend aws --endpoint-url URL bootstrap` and the tests: on a real account the
stack creates these. Everything is derived from `adapters.aws.names` and `events.rules.RULES`, which
the stack reads too. Running it twice is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.aws.clients import AwsClients, error_code
from adapters.aws.names import (
    AUDIT_PATTERN,
    AUDIT_RULE,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_SECONDS,
    TABLE_INDEXES,
    TTL_ATTRIBUTE,
    ResourceNames,
)
from events.rules import CUSTOM_BUS, DEFAULT_BUS, RULES, TARGETS, for_bucket

_EXISTS = ("BucketAlreadyOwnedByYou", "ResourceInUseException", "ResourceAlreadyExistsException",
           "ResourceAlreadyExists", "AlreadyExistsException")  # fmt: skip


def queue_url(clients: AwsClients, name_or_url: str) -> str:
    if name_or_url.startswith(("http://", "https://")):
        return name_or_url
    return str(clients("sqs").get_queue_url(QueueName=name_or_url)["QueueUrl"])


def _queue_name(name_or_url: str) -> str:
    return name_or_url.rstrip("/").rsplit("/", 1)[-1]


def _ignore_exists(call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except Exception as exc:
        if error_code(exc) not in _EXISTS:
            raise
        return None


def provision(clients: AwsClients, names: ResourceNames, sender_email: str) -> dict[str, Any]:
    """Create bucket, table, buses, queues and DLQs, rules, the audit log group and the SES identity."""
    account = clients("sts").get_caller_identity()["Account"]
    region = clients.region
    s3 = clients("s3")
    bucket_args: dict[str, Any] = {"Bucket": names.bucket}
    if region != "us-east-1":
        bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    _ignore_exists(s3.create_bucket, **bucket_args)
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    _create_table(clients, names.table)

    events = clients("events")
    _ignore_exists(events.create_event_bus, Name=names.bus)
    logs = clients("logs")
    _ignore_exists(logs.create_log_group, logGroupName=names.audit_log_group)

    sqs = clients("sqs")
    queue_arns: dict[str, str] = {}
    for target in TARGETS:
        dlq_url = sqs.create_queue(QueueName=_queue_name(names.dlqs[target]))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=_queue_name(names.queues[target]),
            Attributes={
                "VisibilityTimeout": str(QUEUE_VISIBILITY_SECONDS),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
            },
        )["QueueUrl"]
        queue_arns[target] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    for rule in RULES:
        bus = names.bus if rule.bus == CUSTOM_BUS else DEFAULT_BUS
        events.put_rule(
            Name=rule.name,
            EventBusName=bus,
            EventPattern=json.dumps(for_bucket(rule, names.bucket)),
            Description=rule.description,
        )
        events.put_targets(
            Rule=rule.name, EventBusName=bus, Targets=[{"Id": rule.target, "Arn": queue_arns[rule.target]}]
        )

    log_group_arn = f"arn:aws:logs:{region}:{account}:log-group:{names.audit_log_group}"
    events.put_rule(
        Name=AUDIT_RULE,
        EventBusName=names.bus,
        EventPattern=json.dumps(AUDIT_PATTERN),
        Description="Every event of the system, to the audit log group",
    )
    events.put_targets(Rule=AUDIT_RULE, EventBusName=names.bus, Targets=[{"Id": "audit", "Arn": log_group_arn}])

    _ignore_exists(clients("sesv2").create_email_identity, EmailIdentity=sender_email)
    return {
        "bucket": names.bucket,
        "table": names.table,
        "bus": names.bus,
        "audit_log_group": names.audit_log_group,
        "queues": sorted(queue_arns),
        "rules": [r.name for r in RULES] + [AUDIT_RULE],
    }


def _create_table(clients: AwsClients, table: str) -> None:
    db = clients("dynamodb")
    attributes = {"PK": "S", "SK": "S"}
    indexes = []
    for name, (pk, sk, sk_type) in TABLE_INDEXES.items():
        attributes[pk] = "S"
        attributes[sk] = sk_type
        indexes.append(
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    created = _ignore_exists(
        db.create_table,
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=indexes,
    )
    if created is not None:
        db.get_waiter("table_exists").wait(TableName=table)
        db.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
