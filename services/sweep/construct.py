"""sweep on AWS: ThresholdsUpdated -> re-check stock against the new thresholds, emit BelowThreshold."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from services.construct import QueueConsumer, Shared, acknowledge_table_grant


class SweepService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        # A thresholds change may re-check every warehouse's stock of the changed items.
        self.consumer = QueueConsumer(
            self, "Consumer", service="sweep", shared=shared, timeout=Duration.minutes(10), memory_size=1024
        )
        function = self.consumer.function

        shared.table.grant_read_write_data(function)
        shared.bus.grant_put_events_to(function)
        acknowledge_table_grant(self, shared.table)
