"""bootstrap_aws(): the AWS runtime's ports (DynamoDB, S3, EventBridge, SES), as local.wiring does locally."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.aws.bus import EventBridgeBus
from adapters.aws.clients import AwsClients
from adapters.aws.mailer import SesMailer
from adapters.aws.names import ResourceNames
from adapters.aws.object_store import S3ObjectStore
from adapters.aws.stock_table import DynamoStockTable
from adapters.ports import Ports
from adapters.settings import Settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def bootstrap_aws(
    settings: Settings,
    names: ResourceNames | None = None,
    endpoint_url: str | None = None,
    clients: AwsClients | None = None,
) -> Ports:
    """Ports on AWS. No call reaches AWS here: clients are created on first use."""
    names = names or ResourceNames.resolve()
    clients = clients or AwsClients(endpoint_url)
    table = DynamoStockTable(clients, names.table, settings.default_threshold)
    bus = EventBridgeBus(clients, names.bus, table=table, base_delay=settings.retry_base_seconds)
    # A transaction's events are sent when it commits, straight to EventBridge.
    table.publisher = bus.send_now
    return Ports(
        objects=S3ObjectStore(clients, names.bucket),
        table=table,
        bus=bus,
        mailer=SesMailer(clients),
        clock=SystemClock(),
        settings=settings,
    )


def stack_outputs(stack: str, clients: AwsClients) -> dict[str, str]:
    """A deployed stack's outputs (OutputKey -> OutputValue), where the resource names are."""
    response = clients("cloudformation").describe_stacks(StackName=stack)
    stacks = response.get("Stacks") or []
    if not stacks:
        raise LookupError(f"no stack named {stack}")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
