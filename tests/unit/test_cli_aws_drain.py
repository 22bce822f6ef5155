"""`inventory process` on AWS: the queues are drained through the handlers; poison goes to the DLQ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws_support import aws_env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    aws_env(monkeypatch)
    with mock_aws():
        from adapters.aws.clients import AwsClients
        from adapters.aws.names import ResourceNames
        from adapters.aws.provision import provision
        from adapters.aws.wiring import bootstrap_aws
        from adapters.settings import Settings
        from local.cli_aws import AwsRuntime
        from services import lambda_runtime

        settings, names, clients = Settings(), ResourceNames.resolve(env={}), AwsClients()
        provision(clients, names, settings.sender_email)
        yield AwsRuntime(bootstrap_aws(settings, names, clients=clients), clients, names, settings)
        lambda_runtime.use_ports(None)


def test_a_message_no_handler_can_read_ends_in_its_dead_letter_queue(aws: Any) -> None:
    from adapters.aws.names import MAX_RECEIVE_COUNT
    from adapters.aws.provision import queue_url
    from local.cli_aws import drain

    # GIVEN a good file and a poison message in the ingest queue
    rows = (
        "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tBerlin 1\ta1\tShirt\t3\n"
    )
    aws.ports.objects.put("inventory_files/2021/02/15/20210215120000_inventory.csv", rows.encode())
    sqs = aws.clients("sqs")
    sqs.send_message(QueueUrl=queue_url(aws.clients, aws.names.queues["ingest"]), MessageBody='{"not": "an event"}')
    # WHEN the queues are drained
    stats = drain(aws)
    # THEN the file went all the way through, and the poison was retried, then dead-lettered
    assert aws.ports.table.warehouse_items("Berlin 1")[0].level == 3
    assert stats.retried == MAX_RECEIVE_COUNT and stats.dead == 1
    dead = sqs.receive_message(QueueUrl=queue_url(aws.clients, aws.names.dlqs["ingest"]))["Messages"]
    assert [m["Body"] for m in dead] == ['{"not": "an event"}']
