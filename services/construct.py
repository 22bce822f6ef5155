"""What every service's construct is made of: one Lambda function template, the queue in front of it,
and the ops topic their dead-letter alarms go to.

A consumer service is: the rules of events.rules whose target it is -> its SQS queue (dead-letter queue
after 5 receives; failed deliveries from EventBridge land there too) -> its function, which reports
partial batch failures. Services differ only in their permissions and batching, set in their own
`services/<name>/construct.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from events.rules import DEFAULT_BUS, RULES, Rule, for_bucket
from kms.construct import encrypted_log_group

MAX_RECEIVES = 5
METRICS_NAMESPACE = "Inventory"


@dataclass(frozen=True)
class Shared:
    """The stack's shared pieces a service construct may use (each service grants itself what it needs)."""

    key: kms.IKey
    bucket: s3.IBucket
    table: dynamodb.ITable
    bus: events.IEventBus
    buses: Mapping[str, events.IEventBus]  # events.rules bus name -> bus
    ops_topic: sns.ITopic
    code: lambda_.Code
    environment: Mapping[str, str]  # the INVENTORY_* settings every runtime reads
    log_retention: logs.RetentionDays


class OpsTopic(Construct):
    """Where alarms go: subscribe the on-call address after deploying (see docs/deploy.md)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Topic", display_name="Serverless Inventory alarms", master_key=key, enforce_ssl=True
        )


def alarm_on_any(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, topic: sns.ITopic, description: str
) -> None:
    """An alarm to the ops topic as soon as the metric counts one (no data is no trouble)."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))


def alarm_on_dead_letters(scope: Construct, construct_id: str, dlq: sqs.IQueue, topic: sns.ITopic, what: str) -> None:
    alarm_on_any(
        scope,
        construct_id,
        dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
        topic,
        f"{what}: messages in {dlq.node.path}; inspect, fix, then redrive",
    )


def encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey, **kwargs: object) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        **kwargs,  # type: ignore[arg-type]
    )


class ServiceFunction(Construct):
    """One service's Lambda: Python 3.12 on arm64, Powertools settings, its own encrypted log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service: str,
        shared: Shared,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = encrypted_log_group(self, "Logs", key=shared.key, retention=shared.log_retention)
        # Its own role, without the AWS managed basic-execution policy: it may write to its log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Serverless Inventory {service} function",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            description=f"Serverless Inventory: {service}",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            code=shared.code,
            handler=f"services.{service}.handler.handler",
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                **shared.environment,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            environment_encryption=shared.key,
        )
        acknowledge(
            self,
            {
                "AwsSolutions-L1": "Python 3.12 is the runtime the project builds and tests wheels for",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray PutTraceSegments/PutTelemetryRecords accept no resource",
            },
        )
        acknowledge_key_grant(self)


class QueueConsumer(Construct):
    """The rules targeting `service` -> its queue (with dead-letter queue) -> its function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service: str,
        shared: Shared,
        batch_size: int = 10,
        batching_window: Duration | None = None,
        timeout: Duration = Duration.seconds(60),
        memory_size: int = 512,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [rule for rule in RULES if rule.target == service]
        if not rules:
            raise ValueError(f"no rule in events.rules targets {service!r}")
        self.dead_letter_queue = encrypted_queue(
            self, "DeadLetterQueue", shared.key, retention_period=Duration.days(14)
        )
        window = batching_window or Duration.seconds(0)
        self.queue = encrypted_queue(
            self,
            "Queue",
            shared.key,
            # AWS's advice for Lambda consumers: six times the function timeout, plus the batching window.
            visibility_timeout=Duration.seconds(6 * timeout.to_seconds() + window.to_seconds()),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES),
        )
        self.rules: list[events.Rule] = []
        for rule in rules:
            event_rule = events.Rule(
                self,
                f"Rule-{rule.name}",
                description=rule.description or rule.name,
                event_bus=shared.buses[rule.bus],
                # Replaced by the verbatim pattern below; the L2 only needs to know the rule has one.
                event_pattern=events.EventPattern(detail_type=[str(t) for t in rule.pattern["detail-type"]]),
                targets=[
                    targets.SqsQueue(
                        self.queue,
                        # Deliveries EventBridge cannot make (a missing KMS grant, say) land here, not nowhere.
                        dead_letter_queue=self.dead_letter_queue,
                        retry_attempts=185,
                        max_event_age=Duration.hours(24),
                    )
                ],
            )
            _verbatim_pattern(event_rule, for_bucket(rule, shared.bucket.bucket_name))
            self.rules.append(event_rule)
        self.service_function = ServiceFunction(
            self,
            "Service",
            service=service,
            shared=shared,
            timeout=timeout,
            memory_size=memory_size,
        )
        self.function = self.service_function.function
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_batching_window=batching_window,
                report_batch_item_failures=True,
                # Caps the pollers, not the function: no throttling, so no receives wasted toward the DLQ.
                max_concurrency=max_concurrency,
            )
        )
        alarm_on_dead_letters(
            self,
            "DeadLetterAlarm",
            self.dead_letter_queue,
            shared.ops_topic,
            f"{service} could not handle events",
        )
        alarm_on_lost_deliveries(self, "DeliveryAlarm", rules, self.rules, shared, service)


# How to get lost deliveries back: the custom bus's events are archived; S3's on the default bus are not,
# but storing an object again over itself announces it anew (the files service takes it for a duplicate
# of what it already recorded, and records what it missed).
_RECOVER = {
    False: "replay them from the bus archive (aws events start-replay)",
    True: "announce the objects again: aws s3 cp s3://BUCKET/KEY s3://BUCKET/KEY --metadata-directive REPLACE",
}


def alarm_on_lost_deliveries(
    scope: Construct,
    construct_id: str,
    declared: Sequence[Rule],
    deployed: Sequence[events.Rule],
    shared: Shared,
    service: str,
) -> None:
    """EventBridge gave up on a delivery to the service's queue and could not put it in the dead-letter
    queue either (InvocationsFailedToBeSentToDlq; what it does put there, the DLQ alarm sees). Both queues
    use the stack's key, so a key policy that refuses EventBridge would lose events with no message
    anywhere: this alarm says so. One metric per rule: CloudWatch charges per metric of an alarm."""
    metrics: dict[str, cloudwatch.IMetric] = {}
    for n, (rule, event_rule) in enumerate(zip(declared, deployed, strict=True)):
        # A custom bus's rules are measured with the bus's name too; the default bus's by rule name alone.
        dimensions = {"RuleName": event_rule.rule_name}
        if rule.bus != DEFAULT_BUS:
            dimensions["EventBusName"] = shared.buses[rule.bus].event_bus_name
        metrics[f"m{n}"] = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="InvocationsFailedToBeSentToDlq",
            dimensions_map=dimensions,
            statistic="Sum",
            period=Duration.minutes(5),
        )
    alarm_on_any(
        scope,
        construct_id,
        cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({m}, 0)" for m in metrics),
            using_metrics=metrics,
            period=Duration.minutes(5),
        ),
        shared.ops_topic,
        f"EventBridge could deliver events neither to {service}'s queue nor to its "
        f"dead-letter queue (check the key policy and the queues); {_RECOVER[service == 'files']}",
    )


def _verbatim_pattern(rule: events.Rule, pattern: Mapping[str, object]) -> None:
    """Give the rule its events.rules pattern exactly as declared (prefix matchers included), instead of
    translating it field by field into the CDK's EventPattern."""
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    cfn_rule.add_property_override("EventPattern", dict(pattern))


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge cdk-nag findings on `scope` and everything below it, each with its one-line reason."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=id_, reason=reason) for id_, reason in findings.items()))


def logical_id(resource: IConstruct) -> str:
    """How cdk-nag names a resource inside a finding id, e.g. <StorageBucket5CB7C8EA.Arn>."""
    stack = Stack.of(resource)
    element = resource.node.default_child or resource
    return str(stack.resolve(stack.get_logical_id(element)))  # type: ignore[arg-type]


def acknowledge_key_grant(scope: IConstruct) -> None:
    acknowledge(
        scope,
        {
            f"AwsSolutions-IAM5[Action::kms:{action}]": "the CDK's KMS grant, on the one stack key only"
            for action in ("GenerateDataKey*", "ReEncrypt*")
        },
    )


def acknowledge_bucket_grant(scope: IConstruct, bucket: s3.IBucket, patterns: Sequence[str], write: bool) -> None:
    actions = ["GetObject*", "GetBucket*", "List*"] + (["DeleteObject*", "Abort*"] if write else [])
    findings = {
        f"AwsSolutions-IAM5[Action::s3:{action}]": "the CDK's S3 grant action group, on the data bucket only"
        for action in actions
    }
    for pattern in patterns:
        findings[f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{pattern}]"] = (
            "objects under the data prefix this service works on"
        )
    acknowledge(scope, findings)


def acknowledge_table_grant(scope: IConstruct, table: dynamodb.ITable) -> None:
    acknowledge(
        scope,
        {f"AwsSolutions-IAM5[Resource::<{logical_id(table)}.Arn>/index/*]": "the stock table's own indexes"},
    )


# Lambda-backed helpers the CDK adds at the stack's root, by the id prefix it gives them.
CDK_HELPERS = {
    "BucketNotificationsHandler": "the CDK's handler that turns on the bucket's EventBridge notifications",
    "AWS679f53fac002430cb0da5b7982bd2287": "the CDK's AwsCustomResource that sets the audit log group's policy",
    "EventsLogGroupPolicy": "the CDK's AwsCustomResource that lets EventBridge write to the audit log group",
}


def acknowledge_cdk_helpers(stack: Stack) -> None:
    """The CDK's own deploy-time helpers: managed basic-execution role, logs:PutResourcePolicy on *."""
    for child in stack.node.children:
        reason = next((why for prefix, why in CDK_HELPERS.items() if child.node.id.startswith(prefix)), None)
        if reason:
            acknowledge(
                child,
                {
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]": reason,
                    "AwsSolutions-IAM5[Resource::*]": reason + " (the API takes no resource)",
                    "AwsSolutions-L1": reason + " (its runtime is the CDK's choice)",
                },
            )
