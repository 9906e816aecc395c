"""Live execution events: the WebSocket APIs, the DynamoDB stream consumers that push to their connections,
and the EventBridge rules that record execution statuses no handler sees. All from the declaration:
WEBSOCKET_APIS, STREAM_CONSUMERS and EXECUTION_STATUS_RULES.

A WebSocket stage writes access logs through the API Gateway account's CloudWatch Logs role (unlike an HTTP
API stage), which a fresh account does not have. The ``api_gateway_account_role`` context says where it
comes from: ``create`` (default) has the stack set one (kept when the stack is deleted: other APIs of the
account may rely on it), ``existing`` relies on the one the account has, ``none`` deploys the WebSocket stage
without access logs.
"""

from __future__ import annotations

import json
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from segflow.declaration import (
    EXECUTION_STATUS_RULES,
    FUNCTIONS,
    LOG_RETENTION_DAYS,
    STREAM_CONSUMERS,
    TABLES,
    WEBSOCKET_APIS,
    ExecutionStatusRuleSpec,
    StreamConsumerSpec,
    WebSocketApiSpec,
    function_by_id,
)

from segflow_infra.api_auth import ApiAuth
from segflow_infra.cdk_util import acknowledge, api_access_logs, pin_logical_id
from segflow_infra.http_api import INTEGRATION_TIMEOUT_SECONDS, AccessLogSettings
from segflow_infra.orchestration import EXECUTION_STATUS_CHANGE
from segflow_infra.storage import Storage

CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"
# API Gateway sends nothing back on $connect and $disconnect; on every other route the function's returned
# body is the frame the client receives (a route response).
ROUTES_WITHOUT_RESPONSE = frozenset({CONNECT_ROUTE, DISCONNECT_ROUTE})
# Stage-wide default route throttling of the frames clients send (subscribe, ping, ...), as for the HTTP API.
THROTTLE_RATE_LIMIT = 50
THROTTLE_BURST_LIMIT = 100
# What @connections calls a WebSocketGrant allows: push a frame (POST) and drop a connection (DELETE); the
# grant covers GET (connection info) too, on the declared stage only.
MANAGE_CONNECTIONS = "execute-api:ManageConnections"

# Stream consumers: a failing batch is split until the failing record is found and retried up to this many
# times; events of one execution (one partition key) are pushed in order, hence one batch per shard at a time.
STREAM_RETRY_ATTEMPTS = 3
STREAM_PARALLELIZATION_FACTOR = 1

AccountRoleMode = Literal["create", "existing", "none"]
ACCOUNT_ROLE_CONTEXT = "api_gateway_account_role"
ACCOUNT_ROLE_MODES: tuple[AccountRoleMode, ...] = ("create", "existing", "none")
DEFAULT_ACCOUNT_ROLE: AccountRoleMode = "create"  # deploys in a fresh account, with access logs
ACCOUNT_LOGICAL_ID = "ApiGatewayAccount"
ACCOUNT_ROLE_LOGICAL_ID = "ApiGatewayCloudWatchRole"
# The AWS-managed policy API Gateway documents for the account's logging role. The role serves every REST and
# WebSocket API of the account and region, so it cannot be narrowed to this stack's log groups.
ACCOUNT_ROLE_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"

# EventBridge -> Lambda: retries of an event whose asynchronous invocation could not be queued.
RULE_RETRY_ATTEMPTS = 3
RULE_MAX_EVENT_AGE = cdk.Duration.hours(2)

# One JSON object per connect, disconnect and message. The identity fields name the IAM principal that signed
# the $connect request; $context.authorize.error explains a refused connection.
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "connectionId": "$context.connectionId",
    "messageId": "$context.messageId",
    "status": "$context.status",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "integrationError": "$context.integration.error",
    "error": "$context.error.message",
    "authorizeError": "$context.authorize.error",
}


# auth=jwt: the principal the JWT authorizer named (jwt:<sub>).
_AUTHORIZER_FIELDS = {"principal": "$context.authorizer.principalId"}


def websocket_access_log_format(auth: ApiAuth | None = None) -> str:
    fields = {**_ACCESS_LOG_FIELDS, **(_AUTHORIZER_FIELDS if auth and auth.mode == "jwt" else {})}
    return json.dumps(fields, separators=(",", ":"))


def account_role_mode(value: object) -> AccountRoleMode:
    """``-c api_gateway_account_role=create|existing|none`` (absent: create), checked."""
    mode = str(value) if value is not None else DEFAULT_ACCOUNT_ROLE
    if mode not in ACCOUNT_ROLE_MODES:
        raise ValueError(f"{ACCOUNT_ROLE_CONTEXT}: {mode!r} is not one of {', '.join(ACCOUNT_ROLE_MODES)}")
    return mode  # type: ignore[return-value]


class LiveEvents(Construct):
    """The declared WebSocket APIs (keyed by logical id), stream consumers and execution-status rules."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        functions: dict[str, lambda_.Function],
        state_machines: dict[str, sfn.StateMachine],
        auth: ApiAuth | None = None,
        account_role: AccountRoleMode = DEFAULT_ACCOUNT_ROLE,
    ) -> None:
        super().__init__(scope, construct_id)
        self.account: apigateway.CfnAccount | None = None
        if account_role == "create" and WEBSOCKET_APIS:
            self.account = _account_logging_role(self)
        self.websocket_apis: dict[str, DeclaredWebSocketApi] = {
            spec.logical_id: DeclaredWebSocketApi(
                self,
                spec.logical_id,
                spec=spec,
                functions=functions,
                auth=auth or ApiAuth(),
                access_logs=account_role != "none",
            )
            for spec in WEBSOCKET_APIS
        }
        for api in self.websocket_apis.values():
            if self.account is not None:  # the stage's logging needs the account's role set first
                api.stage.node.add_dependency(self.account)
        for function_spec in FUNCTIONS:
            for grant in function_spec.websockets:
                self.websocket_apis[grant.api].grant_manage_connections(functions[function_spec.logical_id])
        self.stream_sources: dict[tuple[str, str], event_sources.DynamoEventSource] = {
            (spec.table, spec.function): _stream_consumer(spec, storage, functions[spec.function])
            for spec in STREAM_CONSUMERS
        }
        self.status_rules: dict[str, events.Rule] = {
            spec.logical_id: self._status_rule(spec, state_machines, functions)
            for spec in EXECUTION_STATUS_RULES
        }

    def _status_rule(
        self,
        spec: ExecutionStatusRuleSpec,
        state_machines: dict[str, sfn.StateMachine],
        functions: dict[str, lambda_.Function],
    ) -> events.Rule:
        if not spec.statuses:
            raise ValueError(f"{spec.logical_id}: no execution status declared")
        state_machine = state_machines[spec.state_machine]
        rule = events.Rule(
            self,
            spec.logical_id,
            description=(f"{', '.join(spec.statuses)} executions of {spec.state_machine} -> {spec.function}"),
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": list(spec.statuses),
                },
            ),
        )
        # No dead-letter queue: the function records what the execution itself already stored (its status),
        # so an event lost after the retries leaves the record stale but nothing inconsistent.
        rule.add_target(
            targets.LambdaFunction(
                functions[spec.function], retry_attempts=RULE_RETRY_ATTEMPTS, max_event_age=RULE_MAX_EVENT_AGE
            )
        )
        pin_logical_id(rule, spec.logical_id)
        return rule


def _account_logging_role(scope: Construct) -> apigateway.CfnAccount:
    """The API Gateway account's CloudWatch Logs role (one per account and region), kept on stack deletion."""
    role = iam.Role(
        scope,
        ACCOUNT_ROLE_LOGICAL_ID,
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="API Gateway's account-level role for writing REST and WebSocket API logs",
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(ACCOUNT_ROLE_POLICY)],
    )
    role.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    pin_logical_id(role, ACCOUNT_ROLE_LOGICAL_ID)
    acknowledge(
        role,
        f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{ACCOUNT_ROLE_POLICY}]",
        "The AWS-managed policy API Gateway documents for its account-level CloudWatch Logs role; the role "
        "serves every REST and WebSocket API of the account and region (not only this stack's), and only "
        "apigateway.amazonaws.com may assume it.",
    )
    account = apigateway.CfnAccount(scope, ACCOUNT_LOGICAL_ID, cloud_watch_role_arn=role.role_arn)
    account.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    account.override_logical_id(ACCOUNT_LOGICAL_ID)
    return account


def _stream_consumer(
    spec: StreamConsumerSpec, storage: Storage, function: lambda_.Function
) -> event_sources.DynamoEventSource:
    """An event source mapping from the table's stream to the function, delivering the declared event names
    only (filter criteria); its grant reads that stream only."""
    table_spec = next((table for table in TABLES if table.logical_id == spec.table), None)
    if table_spec is None or not table_spec.stream:
        raise ValueError(f"{spec.function} consumes the stream of {spec.table}, which declares no stream")
    source = event_sources.DynamoEventSource(
        storage.tables[spec.table],
        starting_position=lambda_.StartingPosition.LATEST,
        batch_size=spec.batch_size,
        max_batching_window=cdk.Duration.seconds(spec.max_batching_window_seconds),
        retry_attempts=STREAM_RETRY_ATTEMPTS,
        bisect_batch_on_error=True,
        report_batch_item_failures=True,
        parallelization_factor=STREAM_PARALLELIZATION_FACTOR,
        filters=[lambda_.FilterCriteria.filter(pattern)] if (pattern := spec.filter_pattern()) else None,
    )
    function.add_event_source(source)
    return source


class DeclaredWebSocketApi(Construct):
    """A WebSocket API with one route per declared route key, all to its one function, on the declared
    auto-deployed stage with throttling and (unless ``access_logs`` is off) access logs.

    ``$connect`` is IAM-authorized (SigV4) with ``auth=iam``. With ``auth=jwt`` the declared JWT authorizer
    (a Lambda REQUEST authorizer) checks the token of the ``token`` query parameter against the HTTP API's
    issuer and audiences, and hands the tenant to the function in the authorizer context.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: WebSocketApiSpec,
        functions: dict[str, lambda_.Function],
        auth: ApiAuth,
        access_logs: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        _check(spec, auth)
        self.spec = spec
        name = f"{cdk.Stack.of(self).stack_name}-{spec.logical_id}"
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=name,
            description=(
                f"{name}: declared routes to {spec.function}, {auth.mode.upper()} authorization on "
                f"{CONNECT_ROUTE}"
            ),
            route_selection_expression=spec.route_selection,
        )
        pin_logical_id(self.api, spec.logical_id)
        integration = integrations.WebSocketLambdaIntegration(
            f"{spec.function}Integration", functions[spec.function]
        )
        connect_authorizer = self._connect_authorizer(auth, functions)
        self.routes: dict[str, apigwv2.WebSocketRoute] = {}
        for route_key in spec.routes:
            self.routes[route_key] = self.api.add_route(
                route_key,
                integration=integration,
                authorizer=connect_authorizer if route_key == CONNECT_ROUTE else None,
                return_response=True if route_key not in ROUTES_WITHOUT_RESPONSE else None,
            )
        if CONNECT_ROUTE in self.routes:
            kind = "AWS_IAM" if auth.mode == "iam" else "a JWT REQUEST authorizer"
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                f"API Gateway authorizes a WebSocket connection once, on {CONNECT_ROUTE} ({kind} here); "
                "the other routes carry frames of an already authorized connection and cannot have an "
                "authorizer.",
            )

        self.access_logs = api_access_logs(self, name, LOG_RETENTION_DAYS) if access_logs else None
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=spec.stage,
            auto_deploy=True,
            access_log_settings=AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigateway.AccessLogFormat.custom(websocket_access_log_format(auth)),
            )
            if self.access_logs is not None
            else None,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT
            ),
        )
        if self.access_logs is None:
            acknowledge(
                self.stage,
                "AwsSolutions-APIG1",
                f"Access logs of the {spec.stage} stage are off by the deployer's choice "
                f"({ACCOUNT_ROLE_CONTEXT}=none): WebSocket stages log through the API Gateway account's "
                "CloudWatch Logs role, which this deployment neither creates nor finds.",
            )

    def _connect_authorizer(
        self, auth: ApiAuth, functions: dict[str, lambda_.Function]
    ) -> apigwv2.IWebSocketRouteAuthorizer:
        if auth.mode == "iam":
            # Callers sign $connect with SigV4 and need execute-api:Invoke on it.
            return authorizers.WebSocketIamAuthorizer()
        assert self.spec.jwt_authorizer is not None  # _check
        function = functions[self.spec.jwt_authorizer]
        for variable, value in auth.authorizer_environment().items():
            function.add_environment(variable, value)
        # Without the parameter API Gateway answers 401 and never invokes the authorizer.
        return authorizers.WebSocketLambdaAuthorizer(
            f"{self.spec.logical_id}JwtAuthorizer",
            function,
            identity_source=[f"route.request.querystring.{self.spec.token_parameter}"],
        )

    @property
    def url(self) -> str:
        """Where clients connect: ``wss://<api id>.execute-api.<region>.amazonaws.com/<stage>``."""
        return self.stage.url

    @property
    def callback_url(self) -> str:
        """The @connections endpoint: ``https://<api id>.execute-api.<region>.amazonaws.com/<stage>``.

        Built from the API's id and the stage's fixed name, so it does not depend on the stage resource.
        """
        return self.stage.callback_url

    def connections_arn(self) -> str:
        """``arn:…:execute-api:<region>:<account>:<api id>/<stage>/*/@connections/*``: this stage's
        connections, by any @connections method."""
        return cdk.Stack.of(self).format_arn(
            service="execute-api",
            resource=self.api.api_id,
            resource_name=f"{self.spec.stage}/*/@connections/*",
        )

    def grant_manage_connections(self, function: lambda_.Function) -> None:
        """What a WebSocketGrant gives: @connections on this API's stage, and its URL in the environment.

        Unlike ``WebSocketApi.grant_manage_connections`` (every stage), only the declared stage.
        """
        assert function.role is not None
        function.add_to_role_policy(
            iam.PolicyStatement(actions=[MANAGE_CONNECTIONS], resources=[self.connections_arn()])
        )
        function.add_environment(self.spec.env_var, self.callback_url)
        acknowledge(
            function.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
            f"<{self.spec.logical_id}>/{self.spec.stage}/*/@connections/*]",
            f"@connections of the {self.spec.stage} stage of {self.spec.logical_id} only: connection ids "
            "are assigned by API Gateway per connection, and pushing and dropping use two methods "
            "(POST, DELETE).",
        )


def _check(spec: WebSocketApiSpec, auth: ApiAuth) -> None:
    """Fail at synth on a declaration API Gateway would reject or silently cut short."""
    if auth.mode == "jwt" and spec.jwt_authorizer is None:
        raise ValueError(f"{spec.logical_id}: auth=jwt needs a jwt_authorizer function on {CONNECT_ROUTE}")
    if len(spec.routes) != len(set(spec.routes)):
        raise ValueError(f"{spec.logical_id}: routes declared twice: {sorted(spec.routes)}")
    if not spec.routes:
        raise ValueError(f"{spec.logical_id}: no routes declared")
    timeout = function_by_id(spec.function).timeout_seconds
    if timeout >= INTEGRATION_TIMEOUT_SECONDS:
        raise ValueError(
            f"{spec.function} times out after {timeout} s; behind {spec.logical_id} it must finish within "
            f"API Gateway's {INTEGRATION_TIMEOUT_SECONDS} s integration timeout"
        )
