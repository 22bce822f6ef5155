"""What every Lambda handler shares: Powertools (Logger, Tracer, Metrics), the ports built once per
container, and turning the SQS records EventBridge delivered back into our envelopes.

Each service's queue holds EventBridge events (the rule's target is the queue), so a record's body is
the EventBridge event; Powertools' EventBridgeModel checks its shape, `envelope_from_eventbridge` restores
our id, time and version. Run-time imports only: no aws_cdk, no test libraries.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from adapters.ports import Ports
from events import Envelope
from services import dispatch

# stderr: on Lambda both streams reach CloudWatch Logs; run in-process, stdout stays the command's answer.
logger = Logger(service="inventory", stream=sys.stderr)


class LazyTracer:
    """Powertools' Tracer, created on the first call of a handler rather than at import.

    Creating a Tracer imports the X-Ray SDK, which builds a botocore client for its sampling rules
    (about 0.25 s): that cost belongs to the first invocation with tracing on, not to every import
    (tests, `inventory process`, a cold start that fails before it is traced).
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Tracer | None = None

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            self._tracer = Tracer(service=self.service)
        return self._tracer

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        traced: list[Handler] = []

        @functools.wraps(handler)
        def call(event: dict[str, Any], context: Any) -> dict[str, Any]:
            if not traced:
                traced.append(self.tracer.capture_lambda_handler(handler))
            return traced[0](event, context)

        return call


tracer = LazyTracer(service="inventory")
metrics = Metrics(namespace="Inventory", service="inventory")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_ports: Ports | None = None

# A call that changed nothing has no metrics; that is normal here, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def ports() -> Ports:
    """The ports of this container, built on first use from the environment (see adapters.aws.names)."""
    global _ports
    if _ports is None:
        from adapters.aws.names import ResourceNames
        from adapters.aws.wiring import bootstrap_aws
        from adapters.settings import Settings

        _ports = bootstrap_aws(Settings.from_env(), ResourceNames.resolve())
    return _ports


def use_ports(value: Ports | None) -> None:
    """Run the handlers on ports built elsewhere (`inventory process` runs them in its own process)."""
    global _ports, _default_checked
    _ports = value
    # Ports built elsewhere carry that process's settings, not the deployed ones: never record them.
    _default_checked = value is not None


# The functions that read thresholds from files check the default once per container: a deploy that
# changes INVENTORY_DEFAULT_THRESHOLD starts new containers, so the first file after it notices.
CHECKS_DEFAULT = frozenset({"ingest", "thresholds"})
_default_checked = False


def check_default_threshold(target: str) -> None:
    global _default_checked
    if _default_checked or target not in CHECKS_DEFAULT:
        return
    from services.thresholds.logic import apply_default_threshold

    apply_default_threshold(ports())
    _default_checked = True


class EventFailed(Exception):
    """One event could not be handled; its SQS message is retried, then dead-lettered."""


def parse_record(body: str) -> Envelope:
    # Imported on first use: the parser package loads every Powertools model (~0.25 s).
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    from adapters.aws.bus import envelope_from_eventbridge

    raw = json.loads(body)
    # EventBridge always sends the account; moto's default input template leaves it out.
    raw.setdefault("account", "")
    EventBridgeModel.model_validate(raw)
    return envelope_from_eventbridge(raw)


def one_by_one(target: str, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Each record on its own (Powertools BatchProcessor): a failure retries that record only."""
    processor = BatchProcessor(event_type=EventType.SQS)
    check_default_threshold(target)

    def record_handler(record: SQSRecord) -> None:
        envelope = parse_record(record.body)
        logger.set_correlation_id(envelope.id)
        with _counting(target, [envelope]):
            failed = dispatch.handle_batch(target, ports(), [envelope])
        if failed:
            raise EventFailed(failed[envelope.id])

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def all_at_once(target: str, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The whole batch in one call (notify: one file's alerts become one digest); partial failures."""
    failures: list[str] = []
    envelopes: dict[str, Envelope] = {}
    for record in event.get("Records", []):
        try:
            envelopes[record["messageId"]] = parse_record(record["body"])
        except Exception:
            logger.exception("unreadable record", extra={"message_id": record.get("messageId")})
            failures.append(record["messageId"])
    if envelopes:
        logger.set_correlation_id(next(iter(envelopes.values())).id)
        with _counting(target, list(envelopes.values())):
            failed = dispatch.handle_batch(target, ports(), list(envelopes.values()))
        for message_id, envelope in envelopes.items():
            if envelope.id in failed:
                logger.error("event failed", extra={"event_id": envelope.id, "error": failed[envelope.id]})
                failures.append(message_id)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}


class _counting:
    """Adds the business metrics of what a handler call did: files, rows, rejected rows, alerts."""

    def __init__(self, target: str, envelopes: list[Envelope]) -> None:
        self.target = target
        self.envelopes = envelopes
        self.before: dict[str, int] = {}

    def __enter__(self) -> None:
        self.before = dict(getattr(ports().bus, "sent", {}))

    def __exit__(self, *exc: object) -> None:
        sent: dict[str, int] = getattr(ports().bus, "sent", {})

        def delta(detail_type: str) -> int:
            return sent.get(detail_type, 0) - self.before.get(detail_type, 0)

        _add("files", delta("FileArrived"))
        _add("alerts", delta("BelowThreshold"))
        if self.target == "ingest" and exc[0] is None:
            for envelope in self.envelopes:
                record = ports().table.file(str(envelope.detail.get("key", "")))
                if record is not None and record.status == "applied":
                    _add("rows", record.good_rows)
                    _add("rejected_rows", record.bad_rows)


def _add(name: str, value: int) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
