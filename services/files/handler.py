"""Lambda entry point of files: S3 "Object Created" events -> the arrival log and FileArrived.

The function consumes its SQS queue (the rule's target) with partial batch failures.
"""

from __future__ import annotations

from typing import Any

from services.lambda_runtime import logger, metrics, one_by_one, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return one_by_one("files", event, context)
