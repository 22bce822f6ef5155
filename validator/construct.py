"""The nightly validator on AWS: EventBridge Scheduler at 03:00 UTC -> ECS RunTask on Fargate.

Network: a VPC with public subnets only and no NAT gateway. The task gets a public IP to reach AWS APIs
(ECR, CloudWatch Logs, EventBridge, KMS) and a security group that admits nothing in and lets only HTTPS
out; S3 and DynamoDB traffic goes through free gateway endpoints. Interface endpoints for the rest would
cost about $7 a month each per zone while the task runs a few minutes a night (docs/decisions.md).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from events.rules import INVENTORY_PREFIX
from kms.construct import encrypted_log_group
from services.construct import Shared, acknowledge, alarm_on_any, alarm_on_dead_letters, encrypted_queue, logical_id
from validator.report import PREFIX as REPORT_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parent.parent
METRIC_NAMESPACE = "Inventory"  # where the Lambda functions put their metrics too


class NightlyValidator(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: Shared,
        schedule_expression: str,
        check_delay_seconds: float,
    ) -> None:
        super().__init__(scope, construct_id)
        flow_logs = encrypted_log_group(self, "FlowLogs", key=shared.key, retention=shared.log_retention)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )
            },
            restrict_default_security_group=True,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="Nightly validator: nothing in, HTTPS out",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs over HTTPS")
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc)
        self.task_logs = encrypted_log_group(self, "TaskLogs", key=shared.key, retention=shared.log_retention)
        image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(PROJECT_ROOT),
            file="validator/Dockerfile",
            platform=ecr_assets.Platform.LINUX_ARM64,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=512,
            memory_limit_mib=1024,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.task_definition.add_container(
            "validator",
            image=ecs.ContainerImage.from_docker_image_asset(image),
            logging=ecs.LogDriver.aws_logs(stream_prefix="validator", log_group=self.task_logs),
            environment=task_environment(shared, check_delay_seconds),
            readonly_root_filesystem=False,
        )
        grant_what_the_run_does(self.task_definition.task_role, shared)
        self.dead_letter_queue = encrypted_queue(
            self, "ScheduleDeadLetterQueue", shared.key, retention_period=Duration.days(14)
        )
        alarm_on_failed_runs(self, "FailedRunAlarm", self.task_logs, shared.ops_topic)
        alarm_on_dead_letters(
            self,
            "ScheduleDeadLetterAlarm",
            self.dead_letter_queue,
            shared.ops_topic,
            "the nightly validator did not start",
        )
        # The scheduler's own role (the target adds RunTask and PassRole): it must also encrypt into the
        # dead-letter queue, or a failed start would vanish instead of alarming.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
            ),
            description="Serverless Inventory: starts the nightly validator task",
        )
        shared.key.grant(self.scheduler_role, "kms:Decrypt", "kms:GenerateDataKey")
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="Nightly validation of every file since the last checkpoint",
            schedule=scheduler.ScheduleExpression.expression(schedule_expression, TimeZone.ETC_UTC),
            target=scheduler_targets.EcsRunFargateTask(
                self.cluster,
                task_definition=self.task_definition,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
                assign_public_ip=True,
                security_groups=[self.security_group],
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.hours(1),
                role=self.scheduler_role,
            ),
            key=shared.key,
        )
        acknowledge(
            self.task_definition,
            {
                f"AwsSolutions-IAM5[Resource::<{logical_id(shared.bucket)}.Arn>/{prefix}*]": why
                for prefix, why in (
                    (INVENTORY_PREFIX, "reads the inventory files it validates, and no other prefix"),
                    (REPORT_PREFIX, "writes its reports under their own prefix, and nowhere else"),
                )
            },
        )
        acknowledge(
            self.task_definition,
            {
                "AwsSolutions-ECS2": "the environment holds resource names and settings, no secrets",
                "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken (image pull) accepts no resource",
            },
        )
        acknowledge(
            self.cluster,
            {
                "AwsSolutions-ECS4": "one short task a night: its logs and DLQ alarm suffice; Insights would cost",
            },
        )
        acknowledge(
            self.dead_letter_queue,
            {"AwsSolutions-SQS3": "this queue is the schedule's dead-letter queue"},
        )


def alarm_on_failed_runs(scope: Construct, construct_id: str, task_logs: logs.ILogGroup, topic: sns.ITopic) -> None:
    """The dead-letter alarm only sees a task that never started; a run that fails or cannot start logs a
    JSON line with level ERROR (validator/__main__.py), and this counts them."""
    errors = logs.MetricFilter(
        scope,
        f"{construct_id}Filter",
        log_group=task_logs,
        filter_pattern=logs.FilterPattern.string_value("$.level", "=", "ERROR"),
        # One namespace per stack: two stacks in one account must not set off each other's alarm.
        metric_namespace=f"{METRIC_NAMESPACE}/{Stack.of(scope).stack_name}",
        metric_name="ValidatorErrors",
        metric_value="1",
    )
    alarm_on_any(
        scope,
        construct_id,
        errors.metric(period=Duration.minutes(5), statistic="Sum"),
        topic,
        "the nightly validator failed: read its task logs (level ERROR); the next run resumes from the last checkpoint",
    )


# What validator/__main__.py reads (TASK_ENVIRONMENT there): resource names and the slow check's delay.
# Nothing else: the task sends no mail and reads no threshold, so the e-mail addresses stay out of it.
def task_environment(shared: Shared, check_delay_seconds: float) -> dict[str, str]:
    return {
        "INVENTORY_BUCKET": shared.bucket.bucket_name,
        "INVENTORY_TABLE": shared.table.table_name,
        "INVENTORY_BUS": shared.bus.event_bus_name,
        "INVENTORY_CHECK_DELAY": str(check_delay_seconds),
    }


# The DynamoDB calls of a run: the arrival log (a Query on the `arrivals` index) and its own lease,
# checkpoint and carried state (get/put/update/delete, batch writes, and the checkpoint's
# TransactWriteItems, which IAM checks as the Put and Update inside it).
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
ARRIVALS_INDEX = "arrivals"
# One key encrypts the bucket (SSE-KMS: GenerateDataKey to write a report, Decrypt to read a file), the
# table (DynamoDB with a customer-managed key acts with the caller's Encrypt/Decrypt/DescribeKey, the
# set the CDK's grant_read_write_data gives, less ReEncrypt*, which only a key change needs) and the
# bus. Not proven against a real account from here: see docs/aws.md.
KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def grant_what_the_run_does(role: iam.IRole, shared: Shared) -> None:
    """Least privilege, written out: the CDK's grant_read_write would add deletes anywhere in the
    bucket, Scan and streams on the table, and every index."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[shared.bucket.arn_for_objects(f"{INVENTORY_PREFIX}*")])
    )
    # Without ListBucket S3 answers 403, not 404, for a key that is gone, and the run would stop where
    # it should report the file as missing (validator.run catches NoSuchObject, which only a 404 gives).
    # A prefix condition cannot narrow it: a GetObject carries no s3:prefix to match.
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[shared.bucket.bucket_arn]))
    # GetObject too: the object store heads what it has just written (AwsObjectStore.put returns its size
    # and ETag), and S3 authorises HeadObject as GetObject. Without it every run failed at its report.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject"], resources=[shared.bucket.arn_for_objects(f"{REPORT_PREFIX}*")]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(TABLE_ACTIONS),
            resources=[shared.table.table_arn, f"{shared.table.table_arn}/index/{ARRIVALS_INDEX}"],
        )
    )
    shared.bus.grant_put_events_to(role)
    shared.key.grant(role, *KEY_ACTIONS)
