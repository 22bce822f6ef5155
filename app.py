"""The CDK app: `python app.py` synthesises the whole system into cdk.out/ (offline, after the first
Lambda bundle); `make deploy` deploys it. It composes the constructs; what each holds is in its module:

  kms/construct.py                the customer-managed key
  adapters/aws/construct.py       the data bucket, the stock table, Glue/Athena over the bucket
  events/construct.py             the custom bus, archive, audit log, schema registry
  services/construct.py           what a service is made of: rules -> queue -> function, alarms, ops topic
  services/<name>/construct.py    one per service: its consumer or API and its permissions
  validator/construct.py          the nightly Fargate task and its schedule

Parameters are CDK context (cdk.json, or `-c inventory:purchasingEmail=...`), validated once below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.aws.construct import Analytics, Storage
from adapters.limits import MAX_CHECK_DELAY, MAX_THRESHOLD
from adapters.settings import EMAIL_PATTERN
from events.construct import InventoryEvents
from events.rules import TARGETS
from kms.construct import InventoryKey
from services.alerts.construct import AlertsService
from services.bundling import lambda_code_dir
from services.construct import OpsTopic, QueueConsumer, Shared, acknowledge_cdk_helpers
from services.files.construct import FilesService
from services.ingest.construct import IngestService
from services.notify.construct import NotifyService
from services.reports.construct import ReportsService
from services.sweep.construct import SweepService
from services.thresholds.construct import ThresholdsService
from validator.construct import NightlyValidator

ROOT = Path(__file__).resolve().parent
CONTEXT_PREFIX = "inventory:"


class StackSettings(BaseModel):
    """The deploy-time parameters (cdk.json "context", keys prefixed `inventory:`)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    stack_name: str = Field("Inventory", alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    purchasing_email: str = Field("purchasing@example.com", alias="purchasingEmail", pattern=EMAIL_PATTERN)
    sender_email: str = Field("inventory@example.com", alias="senderEmail", pattern=EMAIL_PATTERN)
    default_threshold: int = Field(10, alias="defaultThreshold", ge=0, le=MAX_THRESHOLD)
    # The task refuses more than MAX_CHECK_DELAY at start (adapters/settings.py): refuse it here, at synth.
    check_delay_seconds: float = Field(10, alias="checkDelaySeconds", ge=0, le=MAX_CHECK_DELAY)
    validator_schedule: str = Field("cron(0 3 * * ? *)", alias="validatorSchedule", pattern=r"^(cron|rate)\(.+\)$")
    deletion_protection: bool = Field(True, alias="deletionProtection")
    # A name of aws_logs.RetentionDays: ONE_MONTH, ONE_YEAR, ...
    log_retention: str = Field("ONE_YEAR", alias="logRetention")

    @field_validator("log_retention")
    @classmethod
    def _known_retention(cls, value: str) -> str:
        if value not in logs.RetentionDays.__members__:
            raise ValueError(f"not a name of aws_logs.RetentionDays: {value!r}")
        return value

    @classmethod
    def from_app(cls, app: App) -> StackSettings:
        values = {name: app.node.try_get_context(CONTEXT_PREFIX + name) for name in cls.context_names()}
        return cls.model_validate({k: v for k, v in values.items() if v is not None})

    @classmethod
    def context_names(cls) -> list[str]:
        return [str(field.alias) for field in cls.model_fields.values()]


class InventoryStack(Stack):
    def __init__(self, scope: Construct, settings: StackSettings, code: lambda_.Code) -> None:
        super().__init__(
            scope,
            settings.stack_name,
            description="Serverless Inventory: stock levels from warehouse files, alerts, reports, nightly validation",
        )
        key = InventoryKey(self, "Keys").key
        storage = Storage(self, "Storage", key=key, deletion_protection=settings.deletion_protection)
        retention = logs.RetentionDays[settings.log_retention]
        bus = InventoryEvents(self, "Events", key=key, log_retention=retention)
        ops = OpsTopic(self, "Ops", key=key)
        environment = {
            "INVENTORY_BUCKET": storage.bucket.bucket_name,
            "INVENTORY_TABLE": storage.table.table_name,
            "INVENTORY_BUS": bus.bus.event_bus_name,
            "INVENTORY_PURCHASING_EMAIL": settings.purchasing_email,
            "INVENTORY_SENDER_EMAIL": settings.sender_email,
            "INVENTORY_DEFAULT_THRESHOLD": str(settings.default_threshold),
            "POWERTOOLS_METRICS_NAMESPACE": "Inventory",
        }
        shared = Shared(
            key=key,
            bucket=storage.bucket,
            table=storage.table,
            bus=bus.bus,
            buses={name: bus.bus_named(name) for name in ("default", "inventory")},
            ops_topic=ops.topic,
            code=code,
            environment=environment,
            log_retention=retention,
        )
        consumers: dict[str, QueueConsumer] = {
            "files": FilesService(self, "Files", shared=shared).consumer,
            "ingest": IngestService(self, "Ingest", shared=shared).consumer,
            "thresholds": ThresholdsService(self, "Thresholds", shared=shared).consumer,
            "alerts": AlertsService(self, "Alerts", shared=shared).consumer,
            "sweep": SweepService(self, "Sweep", shared=shared).consumer,
            "notify": NotifyService(
                self,
                "Notify",
                shared=shared,
                sender_email=settings.sender_email,
                purchasing_email=settings.purchasing_email,
            ).consumer,
        }
        missing = set(TARGETS) - set(consumers)
        if missing:
            raise ValueError(f"events.rules targets without a service construct: {sorted(missing)}")
        reports = ReportsService(self, "Reports", shared=shared)
        analytics = Analytics(self, "Analytics", key=key, bucket=storage.bucket)
        validator = NightlyValidator(
            self,
            "Validator",
            shared=shared,
            schedule_expression=settings.validator_schedule,
            check_delay_seconds=settings.check_delay_seconds,
        )

        acknowledge_cdk_helpers(self)

        # What the `inventory` command line reads with --stack NAME.
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "BusName", value=bus.bus.event_bus_name)
        CfnOutput(self, "AuditLogGroupName", value=bus.audit_log.log_group_name)
        CfnOutput(self, "ApiUrl", value=reports.url)
        for target, consumer in consumers.items():
            CfnOutput(self, queue_output(target), value=consumer.queue.queue_url)
            CfnOutput(self, dead_letter_queue_output(target), value=consumer.dead_letter_queue.queue_url)
        CfnOutput(self, "OpsTopicArn", value=ops.topic.topic_arn)
        CfnOutput(self, "AthenaWorkGroup", value=analytics.workgroup.ref)
        CfnOutput(self, "GlueDatabase", value=analytics.database_name)
        CfnOutput(self, "ValidatorCluster", value=validator.cluster.cluster_name)


def queue_output(target: str) -> str:
    """QueueIngestUrl...: the output names adapters.aws.names reads (issue 5)."""
    return f"Queue{target.capitalize()}Url"


def dead_letter_queue_output(target: str) -> str:
    return f"Dlq{target.capitalize()}Url"


def load_context(path: Path = ROOT / "cdk.json") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return loaded


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> tuple[App, InventoryStack]:
    """The app with cdk-nag's AwsSolutions checks registered (synthesis fails on any unacknowledged finding).

    cdk.json's context is loaded here too, so plain `python app.py` sees the same parameters as the CDK
    CLI (which passes them itself, and whose -c values win)."""
    # Plain `python app.py` writes to ./cdk.out like the CLI does (the CLI passes CDK_OUTDIR itself).
    outdir = outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out")
    app = App(outdir=outdir, context={**load_context(), **(context or {})})
    settings = StackSettings.from_app(app)
    stack = InventoryStack(app, settings, lambda_.Code.from_asset(str(lambda_code_dir())))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


if __name__ == "__main__":
    build_app()[0].synth()
