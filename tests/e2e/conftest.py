"""moto server in this process, on a free loopback port, for the end-to-end tests on the AWS runtime."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.aws_support import REGION as AWS_REGION
from tests.aws_support import aws_env

REGION = AWS_REGION


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    aws_env(monkeypatch)
    for var in ("AWS_ENDPOINT_URL", "INVENTORY_HOME", "INVENTORY_BUCKET", "INVENTORY_TABLE", "INVENTORY_BUS"):
        monkeypatch.delenv(var, raising=False)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        # moto's backends are globals of this process: without a reset, SES's sent mails and the
        # buckets of one test would still be there for the next test on this worker.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
