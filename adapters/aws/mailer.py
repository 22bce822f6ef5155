"""Mail on SES v2: the raw MIME message (text + HTML alternative) that SMTP and the .eml outbox get."""

from __future__ import annotations

from adapters.aws.clients import AwsClients
from adapters.mime import to_mime
from adapters.ports import Mail


class SesMailer:
    def __init__(self, clients: AwsClients, configuration_set: str | None = None) -> None:
        self.clients = clients
        self.configuration_set = configuration_set

    def send(self, mail: Mail) -> str:
        request = {
            "FromEmailAddress": mail.sender,
            "Destination": {"ToAddresses": list(mail.to)},
            "Content": {"Raw": {"Data": bytes(to_mime(mail))}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        response = self.clients("sesv2").send_email(**request)
        return str(response["MessageId"])
