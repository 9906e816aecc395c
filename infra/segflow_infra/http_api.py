"""One API Gateway HTTP API per HTTP_APIS entry: its declared routes only, all to its one function."""

from __future__ import annotations

import json

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from segflow.declaration import HTTP_APIS, LOG_RETENTION_DAYS, HttpApiSpec, function_by_id

from segflow_infra.api_auth import ApiAuth
from segflow_infra.cdk_util import acknowledge, api_access_logs, pin_logical_id

DEFAULT_STAGE = "$default"
# API Gateway gives up on a Lambda integration after 30 s; the function must finish first.
INTEGRATION_TIMEOUT_SECONDS = 30
# Stage-wide default route throttling (token bucket): steady requests per second and burst. The account
# limit (10,000 rps per region, shared by all APIs) stays far above, and so does Lambda's concurrency.
THROTTLE_RATE_LIMIT = 50
THROTTLE_BURST_LIMIT = 100

# One JSON object per request. $context.authorizer.error explains 401/403s; the identity fields name the
# caller: the IAM principal (auth=iam) or the token's subject (auth=jwt).
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
}
_CALLER_FIELDS = {
    "iam": {"caller": "$context.identity.caller", "userArn": "$context.identity.userArn"},
    "jwt": {"sub": "$context.authorizer.claims.sub"},
}


def access_log_format(auth: ApiAuth) -> str:
    return json.dumps({**_ACCESS_LOG_FIELDS, **_CALLER_FIELDS[auth.mode]}, separators=(",", ":"))


class HttpApis(Construct):
    """The declared HTTP APIs, keyed by logical id."""

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: dict[str, lambda_.Function], auth: ApiAuth
    ) -> None:
        super().__init__(scope, construct_id)
        self.apis: dict[str, DeclaredHttpApi] = {
            spec.logical_id: DeclaredHttpApi(
                self, spec.logical_id, spec=spec, function=functions[spec.function], auth=auth
            )
            for spec in HTTP_APIS
        }


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """Access log settings of an API Gateway v2 stage (HTTP or WebSocket): a destination and a format."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, log_format: apigateway.AccessLogFormat):
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return self._format


class DeclaredHttpApi(Construct):
    """An HTTP API with one route per declared (method, path), behind the chosen authorizer, on the
    auto-deployed ``$default`` stage with access logs and throttling."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: HttpApiSpec,
        function: lambda_.Function,
        auth: ApiAuth,
    ) -> None:
        super().__init__(scope, construct_id)
        _check(spec)
        name = f"{cdk.Stack.of(self).stack_name}-{spec.logical_id}"
        for variable, value in auth.environment().items():
            function.add_environment(variable, value)

        self.authorizer = _authorizer(spec, auth)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=name,
            description=f"{name}: declared routes to {spec.function}, {auth.mode.upper()} authorization",
            create_default_stage=False,
            default_authorizer=self.authorizer,
        )
        pin_logical_id(self.api, spec.logical_id)
        integration = integrations.HttpLambdaIntegration(
            f"{spec.function}Integration",
            function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        for route in spec.routes:
            added = self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integration,
                authorizer=apigwv2.HttpNoneAuthorizer() if route.public else None,
            )
            for public_route in added if route.public else []:
                acknowledge(
                    public_route,
                    "AwsSolutions-APIG4",
                    f"{route.method} {route.path} serves a static page that holds no tenant's data; what it "
                    "shows comes over the IAM-authorized WebSocket API, whose signed link rides in the URL "
                    "fragment.",
                )

        self.access_logs = api_access_logs(self, name, LOG_RETENTION_DAYS)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name=DEFAULT_STAGE,
            auto_deploy=True,
            access_log_settings=AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigateway.AccessLogFormat.custom(access_log_format(auth)),
            ),
            throttle=apigwv2.ThrottleSettings(
                rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT
            ),
        )

    @property
    def url(self) -> str:
        """The API's default endpoint, ``https://<api id>.execute-api.<region>.amazonaws.com``."""
        return self.api.api_endpoint


def _authorizer(spec: HttpApiSpec, auth: ApiAuth) -> apigwv2.IHttpRouteAuthorizer:
    if auth.mode == "iam":
        # Callers sign with SigV4 and need execute-api:Invoke on the API's routes.
        return authorizers.HttpIamAuthorizer()
    assert auth.jwt_issuer is not None
    return authorizers.HttpJwtAuthorizer(
        f"{spec.logical_id}JwtAuthorizer",
        auth.jwt_issuer,
        jwt_audience=list(auth.jwt_audience),
        identity_source=["$request.header.Authorization"],
    )


def _check(spec: HttpApiSpec) -> None:
    """Fail at synth on a declaration API Gateway would reject or silently cut short."""
    keys = [(route.method, route.path) for route in spec.routes]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"{spec.logical_id}: routes declared twice: {duplicates}")
    if not spec.routes:
        raise ValueError(f"{spec.logical_id}: no routes declared")
    timeout = function_by_id(spec.function).timeout_seconds
    if timeout >= INTEGRATION_TIMEOUT_SECONDS:
        raise ValueError(
            f"{spec.function} times out after {timeout} s; behind {spec.logical_id} it must finish within "
            f"API Gateway's {INTEGRATION_TIMEOUT_SECONDS} s integration timeout"
        )
