"""notify on AWS: BelowThreshold, FileRejected and ValidationCompleted -> mail through SES.

The event source waits up to BATCHING_WINDOW for more messages, so the alerts one file causes reach the
function as one batch and purchasing gets one digest mail, not one mail per item.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from services.construct import QueueConsumer, Shared, acknowledge_table_grant
from services.dispatch import BATCH_SIZE

BATCHING_WINDOW = Duration.seconds(20)


def ses_identities(*addresses: str) -> list[str]:
    """The SES identities a send from/to these addresses is checked against: each address and its domain."""
    names: list[str] = []
    for address in addresses:
        for name in (address, address.rpartition("@")[2]):
            if name and name not in names:
                names.append(name)
    return names


class NotifyService(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, shared: Shared, sender_email: str, purchasing_email: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.consumer = QueueConsumer(
            self,
            "Consumer",
            service="notify",
            shared=shared,
            # As many as the local bus hands notify at once (a BelowThreshold message is ~1.5 KB, so 1,000
            # stay far below Lambda's 6 MB payload): a big file's alerts come in as few digests as possible.
            batch_size=BATCH_SIZE["notify"],
            batching_window=BATCHING_WINDOW,
            # Few concurrent batches (2 is the least SQS allows), so a file's alerts meet in one batch
            # rather than being spread over many; a digest is still sent once (marked in the table).
            max_concurrency=2,
        )
        function = self.consumer.function
        # Which events were already mailed is kept in the table (sent once, even on retries).
        shared.table.grant_read_write_data(function)
        stack = Stack.of(self)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[
                    stack.format_arn(service="ses", resource="identity", resource_name=name)
                    for name in ses_identities(sender_email, purchasing_email)
                ],
                conditions={"StringEquals": {"ses:FromAddress": sender_email}},
            )
        )
        acknowledge_table_grant(self, shared.table)
