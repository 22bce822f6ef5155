"""The reports Lambda behind API Gateway (HTTP API, IAM auth): the shared resolver, AWS ports.

Ports are built on the first request, not at import, so a cold start that only serves the dashboard's
static files or /openapi.json never touches DynamoDB, and tests can import this module without AWS.
History needs the raw files and is answered with 501 here (see services.reports.history).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.ports import Ports, StockTable
from adapters.settings import Settings
from services.lambda_runtime import LazyTracer
from services.reports.api import create_app

logger = Logger(service="reports")
# Lazy: a Tracer imports the X-Ray SDK (~0.3 s), which the first traced request pays, not the import.
tracer = LazyTracer(service="reports")

_ports: Ports | None = None


def _table() -> StockTable:
    global _ports
    if _ports is None:
        # Imported here: the AWS wiring pulls in boto3 clients and is only needed once a report is asked for.
        from adapters.aws.wiring import bootstrap_aws

        _ports = bootstrap_aws(Settings.from_env())
    return _ports.table


app = create_app(_table)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
