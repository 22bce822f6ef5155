"""thresholds on AWS: FileArrived (thresholds) -> read the file, change thresholds, emit ThresholdsUpdated."""

from __future__ import annotations

from constructs import Construct

from events.rules import THRESHOLDS_PREFIX
from services.construct import QueueConsumer, Shared, acknowledge_bucket_grant, acknowledge_table_grant


class ThresholdsService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        self.consumer = QueueConsumer(self, "Consumer", service="thresholds", shared=shared)
        function = self.consumer.function
        shared.bucket.grant_read(function, f"{THRESHOLDS_PREFIX}*")
        shared.table.grant_read_write_data(function)
        shared.bus.grant_put_events_to(function)
        acknowledge_bucket_grant(self, shared.bucket, [f"{THRESHOLDS_PREFIX}*"], write=False)
        acknowledge_table_grant(self, shared.table)
