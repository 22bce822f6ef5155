"""`python -m validator`: the nightly run as the ECS (Fargate) task starts it, on the AWS adapters.

Configuration comes from the task's environment:
  INVENTORY_BUCKET        the data bucket (files and reports)
  INVENTORY_TABLE         the single DynamoDB table (ledger, stock, and the validator's checkpoint/lease)
  INVENTORY_BUS           the custom EventBridge bus ValidationCompleted goes to
  INVENTORY_CHECK_DELAY   seconds per transaction for the spec's slow check (default 10)
  INVENTORY_CHECKPOINT_EVERY  transactions between checkpoints (default 1000; also every 30 s)
  AWS_REGION / AWS_DEFAULT_REGION, optional AWS_ENDPOINT_URL (an emulator)

Exit status: 0 when the run completed, was stopped by SIGTERM with a checkpoint, or found another run
active (EventBridge Scheduler must not retry that); 1 on a configuration error, a lost lease or a
failure (the next start resumes from the last checkpoint). Every exit 1 logs a JSON line with level
ERROR, which the stack's alarm counts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from adapters.ports import Ports
from adapters.settings import Settings, SettingsError

REQUIRED = ("INVENTORY_BUCKET", "INVENTORY_TABLE", "INVENTORY_BUS")
# Every variable the task reads besides AWS's own; validator/construct.py gives the task these and no more.
TASK_ENVIRONMENT = (*REQUIRED, "INVENTORY_CHECK_DELAY", "INVENTORY_CHECKPOINT_EVERY")


def _log(message: str, level: str = "INFO", **fields: Any) -> None:
    sys.stdout.write(json.dumps({"level": level, "service": "validator", "message": message, **fields}) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> int:
    """A run that cannot start: one line for a person reading stderr, one ERROR line for the alarm."""
    sys.stderr.write(f"error: {message}\n")
    _log(message, level="ERROR", status="not_started")
    return 1


def build_ports(settings: Settings, env: Mapping[str, str]) -> tuple[Ports, Any]:
    """The AWS ports, and the DynamoDB client for the validator's own state, from `env` alone.

    One AwsClients for both, so the state and the ports agree on region and endpoint: a boto3 client
    of its own would read neither AWS_REGION nor the names in `env`, only os.environ."""
    from adapters.aws.clients import AwsClients
    from adapters.aws.names import ResourceNames, region
    from adapters.aws.wiring import bootstrap_aws

    clients = AwsClients(env.get("AWS_ENDPOINT_URL") or None, region(env))
    return bootstrap_aws(settings, ResourceNames.resolve(env), clients=clients), clients("dynamodb")


def main(env: Mapping[str, str] | None = None) -> int:
    from adapters.aws.validator_state import DynamoValidatorState
    from validator.run import JsonLogProgress, RunActive, run_validation, stop_on_sigterm
    from validator.state import LeaseLost

    env = dict(os.environ if env is None else env)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        return _fail(f"missing environment variable(s): {', '.join(missing)}")
    try:
        settings = Settings.from_env(env=env)
        every = int(env.get("INVENTORY_CHECKPOINT_EVERY") or 1000)
    except (SettingsError, ValueError) as exc:
        return _fail(str(exc))
    with stop_on_sigterm() as stop:
        try:
            ports, dynamodb = build_ports(settings, env)
            state = DynamoValidatorState(env["INVENTORY_TABLE"], dynamodb)
            summary = run_validation(
                ports, state, settings, checkpoint_every=every, progress=JsonLogProgress(), stop=stop
            )
        except RunActive as exc:
            _log(str(exc), status="active")
            return 0
        except LeaseLost as exc:
            # Another task took over after our lease expired: it carries on from our last checkpoint.
            _log(str(exc), level="ERROR", status="lease_lost")
            return 1
        except Exception as exc:
            # The next start resumes from the last checkpoint, but nobody would know this one failed:
            # the ERROR line is what the stack's alarm counts (validator/construct.py).
            traceback.print_exc()
            _log(f"validation failed: {type(exc).__name__}: {exc}", level="ERROR", status="failed")
            return 1
    _log("validation " + summary.status, **summary.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
