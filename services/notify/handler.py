"""Lambda entry point of notify: BelowThreshold, FileRejected, ValidationCompleted -> mails to purchasing.

It takes the whole SQS batch at once, so the alerts of one file become one digest mail; events that
fail are reported as partial batch failures.
"""

from __future__ import annotations

from typing import Any

from services.lambda_runtime import all_at_once, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return all_at_once("notify", event, context)
