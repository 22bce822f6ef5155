"""alerts on AWS: StockChanged -> detect crossings below the threshold, emit BelowThreshold."""

from __future__ import annotations

from constructs import Construct

from services.construct import QueueConsumer, Shared, acknowledge_table_grant


class AlertsService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        self.consumer = QueueConsumer(self, "Consumer", service="alerts", shared=shared)
        function = self.consumer.function

        shared.table.grant_read_write_data(function)
        shared.bus.grant_put_events_to(function)
        acknowledge_table_grant(self, shared.table)
