"""The command line on AWS: `inventory --backend aws [--endpoint-url URL] [--stack NAME] ...`.

`bootstrap` creates the resources in an emulator (moto server); `process` drains the services' queues,
running the Lambda handlers in this process exactly as Lambda would call them (an SQS batch in, partial
batch failures out); `events list` reads the audit log group. `put` and `report` are the local
commands, on the AWS ports.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from adapters.aws.clients import AwsClients
    from adapters.aws.names import ResourceNames
    from adapters.ports import Ports
    from adapters.settings import Settings
    from events import Envelope
    from local.cli import State

SQS_RECEIVE_MAX = 10


@dataclass
class AwsRuntime:
    ports: Ports
    clients: AwsClients
    names: ResourceNames
    settings: Settings

    @classmethod
    def connect(cls, settings: Settings, endpoint_url: str | None, stack: str | None) -> AwsRuntime:
        from adapters.aws.clients import AwsClients
        from adapters.aws.names import ResourceNames
        from adapters.aws.wiring import bootstrap_aws, stack_outputs

        clients = AwsClients(endpoint_url)
        outputs = stack_outputs(stack, clients) if stack else None
        names = ResourceNames.resolve(outputs=outputs)
        return cls(bootstrap_aws(settings, names, clients=clients), clients, names, settings)


def bootstrap(ctx: typer.Context) -> None:
    """Create the AWS resources in an emulator (needs --backend aws --endpoint-url URL)."""
    from adapters.aws.provision import provision
    from local.cli import UserError, state
    from local.output import emit

    st = state(ctx)
    if st.backend != "aws" or not st.endpoint_url:
        raise UserError("bootstrap creates resources in an emulator only: use --backend aws --endpoint-url URL")
    aws = st.aws()
    emit(provision(aws.clients, aws.names, aws.settings.sender_email), st.format)


# ------------------------------------------------------------------------------------------ process


@dataclass
class DrainStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    by_target: dict[str, int] = field(default_factory=dict)


class LambdaContext:
    """What the Lambda runtime hands a handler, for handlers run in this process."""

    def __init__(self, target: str) -> None:
        self.function_name = f"inventory-{target}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:inventory-{target}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/inventory-{target}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def process_aws(st: State, invoke_local: bool | None = None) -> None:
    from local.cli import UserError
    from local.output import emit

    if invoke_local is None:
        invoke_local = bool(st.endpoint_url)
    if not invoke_local:
        raise UserError(
            "on AWS the Lambda functions consume the queues themselves; "
            "`process --invoke-local` runs the handlers here instead"
        )
    # The handlers' CloudWatch metrics (EMF JSON lines) mean something only inside Lambda; here they
    # would only bury the summary. Set before the handlers are imported.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    stats = drain(st.aws())
    summary = {"delivered": stats.delivered, "retried": stats.retried, "dead": stats.dead, **stats.by_target}
    emit(summary, st.format, title="Processed")
    if stats.dead:
        raise UserError(f"{stats.dead} message(s) are in the dead-letter queues")


def drain(aws: AwsRuntime, max_rounds: int = 1000) -> DrainStats:
    """Receive from every service's queue and run its handler, until all queues are empty."""
    from adapters.aws.provision import queue_url
    from events.rules import TARGETS
    from services import dispatch, lambda_runtime

    lambda_runtime.use_ports(aws.ports)
    sqs = aws.clients("sqs")
    urls = {t: queue_url(aws.clients, aws.names.queues[t]) for t in TARGETS}
    arns = {
        t: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for t, u in urls.items()
    }
    stats = DrainStats()
    for _ in range(max_rounds):
        progressed = False
        for target in TARGETS:
            # Everything waiting for a target goes in one batch (up to its Lambda batch size).
            limit = dispatch.BATCH_SIZE.get(target, dispatch.DEFAULT_BATCH_SIZE)
            messages = _receive(sqs, urls[target], limit)
            if not messages:
                continue
            progressed = True
            failed = _invoke(target, [_record(m, arns[target], aws.clients.region) for m in messages])
            done = [m for m in messages if m["MessageId"] not in failed]
            _delete(sqs, urls[target], done)
            stats.delivered += len(done)
            stats.by_target[target] = stats.by_target.get(target, 0) + len(done)
            for message in messages:
                if message["MessageId"] in failed:
                    stats.retried += 1
                    # Visible again at once: the queue's redrive policy dead-letters it after a few receives.
                    sqs.change_message_visibility(
                        QueueUrl=urls[target], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
        if not progressed:
            break
    stats.dead = dead_letter_count(aws)
    return stats


def dead_letter_count(aws: AwsRuntime) -> int:
    from adapters.aws.provision import queue_url

    sqs = aws.clients("sqs")
    total = 0
    for dlq in aws.names.dlqs.values():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url(aws.clients, dlq), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        total += int(attributes["ApproximateNumberOfMessages"])
    return total


def _receive(sqs: Any, url: str, limit: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(SQS_RECEIVE_MAX, limit - len(messages)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            break
        messages.extend(got)
    return messages


def _delete(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), SQS_RECEIVE_MAX):
        chunk = messages[start : start + SQS_RECEIVE_MAX]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
        )


def _record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def _invoke(target: str, records: list[dict[str, Any]]) -> set[str]:
    """Call the target's Lambda handler; returns the message ids it reported as failed."""
    module = importlib.import_module(f"services.{target}.handler")
    # Handlers log and emit metrics on stdout, as on Lambda; keep this command's stdout for its answer.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            response = module.handler({"Records": records}, LambdaContext(target))
        except Exception as exc:
            # As on Lambda: an error out of the handler (Powertools raises when every record failed)
            # returns the whole batch to the queue.
            print(f"{target}: the whole batch failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return {r["messageId"] for r in records}
    return {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}


# ------------------------------------------------------------------------------------------- events


def audit_events(aws: AwsRuntime, detail_type: str | None = None, since: datetime | None = None) -> list[Envelope]:
    """Events of the custom bus from the audit log group, oldest first, each id once."""
    from adapters.aws.bus import envelope_from_eventbridge

    paginator = aws.clients("logs").get_paginator("filter_log_events")
    lines: list[tuple[int, Envelope]] = []
    for page in paginator.paginate(logGroupName=aws.names.audit_log_group):
        for log_event in page.get("events", []):
            lines.append((int(log_event["timestamp"]), envelope_from_eventbridge(json.loads(log_event["message"]))))
    seen: set[str] = set()
    out: list[Envelope] = []
    for _, event in sorted(lines, key=lambda line: line[0]):
        if event.id in seen:
            continue  # EventBridge delivers at least once, and a retried producer republishes the same id
        seen.add(event.id)
        if detail_type and event.detail_type != detail_type:
            continue
        if since and event.time < since:
            continue
        out.append(event)
    return out


def register(app: typer.Typer) -> None:
    app.command("bootstrap")(bootstrap)
