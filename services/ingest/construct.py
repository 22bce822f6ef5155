"""ingest on AWS: FileArrived (inventory) -> read the file, apply its rows, emit StockChanged."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from events.rules import INVENTORY_PREFIX
from services.construct import QueueConsumer, Shared, acknowledge_bucket_grant, acknowledge_table_grant


class IngestService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        # A large file (a million rows) is parsed in seconds but takes minutes of table writes. One file
        # per invocation: ten large files in one batch could outlast the timeout, and then all ten would
        # be retried; alone, each gets the whole 10 minutes and a failure retries only itself.
        self.consumer = QueueConsumer(
            self,
            "Consumer",
            service="ingest",
            shared=shared,
            timeout=Duration.minutes(10),
            memory_size=1024,
            batch_size=1,
        )
        function = self.consumer.function
        shared.bucket.grant_read(function, f"{INVENTORY_PREFIX}*")
        shared.table.grant_read_write_data(function)
        shared.bus.grant_put_events_to(function)
        acknowledge_bucket_grant(self, shared.bucket, [f"{INVENTORY_PREFIX}*"], write=False)
        acknowledge_table_grant(self, shared.table)
