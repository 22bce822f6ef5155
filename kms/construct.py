"""The customer-managed KMS key that encrypts everything the stack stores or queues.

One key, rotation on. It encrypts the bucket (SSE-KMS with a bucket key), the table, the custom bus
and its archive, every queue and dead-letter queue, every log group, the ops topic, the Athena results
and the Fargate task's logs. One key keeps the key policy readable in one place; the services that
cannot use IAM grants (they act as themselves, not as a role of this account) are named below, each
narrowed to this account and, where the service supports it, to the encryption context it uses.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


class InventoryKey(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Serverless Inventory: data, queues, bus, logs, topic and query results",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            # Losing the key loses every object, item and archived event encrypted with it.
            removal_policy=RemovalPolicy.RETAIN,
        )
        account = {"aws:SourceAccount": stack.account}
        # CloudWatch Logs encrypts log groups as the logs service, per log group ARN.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        # EventBridge encrypts the custom bus and its archive, and writes to the encrypted target
        # queues (S3 notifications on the default bus as well): without this, deliveries fail silently
        # into the targets' dead-letter queues.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeBusArchiveAndTargets",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": account},
            )
        )
        # CloudWatch alarms publish to the encrypted ops topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToOpsTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": account},
            )
        )


def encrypted_log_group(
    scope: Construct, construct_id: str, *, key: kms.IKey, retention: logs.RetentionDays
) -> logs.LogGroup:
    """Every log group of the stack: encrypted with the stack's key, kept for the configured retention."""
    return logs.LogGroup(
        scope, construct_id, encryption_key=key, retention=retention, removal_policy=RemovalPolicy.DESTROY
    )
