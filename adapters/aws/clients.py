"""boto3 clients created on first use, for one region and (optionally) one endpoint such as moto server.

boto3 is imported here, lazily: a Lambda handler that never reaches AWS in a code path does not pay
for it, and `inventory --help` stays fast.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from adapters.aws.names import DEFAULT_REGION


class AwsClients:
    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        # boto3 reads AWS_ENDPOINT_URL itself too; passing it explicitly keeps one source of truth.
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.region = region or _configured_region()
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with _SESSION_LOCK:
                client = self._clients.get(service)
                if client is None:
                    from botocore.config import Config

                    client = _session().client(
                        service,
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=Config(retries={"mode": "standard", "max_attempts": 5}),
                    )
                    self._clients[service] = client
        return client


_SESSION: Any = None
# Creating clients from one session is not thread-safe: every creation holds this lock.
_SESSION_LOCK = threading.RLock()


def _session() -> Any:
    """One boto3 session per process: it caches the service models every client is built from."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            import boto3

            _SESSION = boto3.session.Session()
        return _SESSION


def _configured_region() -> str:
    """AWS_REGION or AWS_DEFAULT_REGION, else the profile's region (~/.aws/config, AWS_PROFILE), else
    eu-central-1: an engineer who deployed with a profile's region finds the stack without exporting it."""
    from_env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if from_env:
        return from_env
    return str(_session().region_name or DEFAULT_REGION)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
