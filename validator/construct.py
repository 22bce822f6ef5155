"""The nightly validator on AWS: EventBridge Scheduler at 03:00 UTC -> ECS RunTask on Fargate.

Network: a VPC with public subnets only and no NAT gateway. The task gets a public IP to reach AWS APIs
(ECR, CloudWatch Logs, EventBridge, KMS) and a security group that admits nothing in and lets only HTTPS
out; S3 and DynamoDB traffic goes through free gateway endpoints. Interface endpoints for the rest would
cost about $7 a month each per zone while the task runs a few minutes a night (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, TimeZone
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from services.construct import (
    Shared,
    acknowledge,
    acknowledge_bucket_grant,
    acknowledge_key_grant,
    acknowledge_table_grant,
    alarm_on_dead_letters,
    encrypted_queue,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class NightlyValidator(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: Shared,
        schedule_expression: str,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=shared.key,
            retention=shared.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
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
        self.task_logs = logs.LogGroup(
            self,
            "TaskLogs",
            encryption_key=shared.key,
            retention=shared.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
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
            environment={**environment, "POWERTOOLS_SERVICE_NAME": "validator"},
            readonly_root_filesystem=False,
        )
        task_role = self.task_definition.task_role
        # Reads every file since its checkpoint, writes its report next to the data.
        shared.bucket.grant_read_write(task_role)
        shared.table.grant_read_write_data(task_role)
        shared.bus.grant_put_events_to(task_role)
        self.dead_letter_queue = encrypted_queue(
            self, "ScheduleDeadLetterQueue", shared.key, retention_period=Duration.days(14)
        )
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
        acknowledge_key_grant(self.task_definition)
        acknowledge_bucket_grant(self.task_definition, shared.bucket, ["*"], write=True)
        acknowledge_table_grant(self.task_definition, shared.table)
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
