"""boto3 clients created on first use, for one region and (optionally) one endpoint such as moto server.

boto3 is imported here, lazily: a Lambda handler that never reaches AWS in a code path does not pay
for it, and `inventory --help` stays fast.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from adapters.aws.names import region as default_region


class AwsClients:
    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        # boto3 reads AWS_ENDPOINT_URL itself too; passing it explicitly keeps one source of truth.
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.region = region or default_region()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    import boto3
                    from botocore.config import Config

                    client = boto3.session.Session().client(
                        service,
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=Config(retries={"mode": "standard", "max_attempts": 5}),
                    )
                    self._clients[service] = client
        return client


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
