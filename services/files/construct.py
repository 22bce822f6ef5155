"""files on AWS: S3 'Object Created' events from the default bus -> classify, keep the arrival log."""

from __future__ import annotations

from constructs import Construct

from events.rules import INVENTORY_PREFIX, THRESHOLDS_PREFIX
from services.construct import QueueConsumer, Shared, acknowledge_bucket_grant, acknowledge_table_grant


class FilesService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        self.consumer = QueueConsumer(self, "Consumer", service="files", shared=shared)
        function = self.consumer.function
        shared.bucket.grant_read(function, f"{INVENTORY_PREFIX}*")
        shared.bucket.grant_read(function, f"{THRESHOLDS_PREFIX}*")
        shared.table.grant_read_write_data(function)
        shared.bus.grant_put_events_to(function)
        acknowledge_bucket_grant(self, shared.bucket, [f"{INVENTORY_PREFIX}*", f"{THRESHOLDS_PREFIX}*"], write=False)
        acknowledge_table_grant(self, shared.table)
