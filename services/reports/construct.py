"""reports on AWS: an HTTP API, IAM-authorised (callers sign with SigV4), in front of the reports function.

Every route goes to the one function ($default route); the function reads the stock table only.
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from kms.construct import encrypted_log_group
from services.construct import ServiceFunction, Shared, acknowledge_table_grant

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"caller":"$context.identity.caller","user":"$context.identity.user",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol",'
    '"responseLength":"$context.responseLength","integrationError":"$context.integrationErrorMessage"}'
)


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """IAccessLogSettings is an interface, not a struct: jsii needs a class that implements it."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class ReportsService(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        self.service_function = ServiceFunction(self, "Service", service="reports", shared=shared)
        self.function = self.service_function.function
        shared.table.grant_read_data(self.function)
        acknowledge_table_grant(self, shared.table)
        self.access_log = encrypted_log_group(self, "AccessLog", key=shared.key, retention=shared.log_retention)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="Serverless Inventory reports (IAM-authorised)",
            default_integration=integrations.HttpLambdaIntegration("Reports", self.function),
            default_authorizer=authorizers.HttpIamAuthorizer(),
            create_default_stage=False,
        )
        self.stage = self.api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=AccessLogSettings(self.access_log),
            # A cost and abuse guard; reports are read by people and small scripts.
            throttle=apigwv2.ThrottleSettings(rate_limit=20, burst_limit=40),
        )
        # No trailing slash, so "$ApiUrl/restock" works as the docs write it (a doubled slash is a 404).
        self.url = self.api.api_endpoint
