"""Live execution events: the WebSocket APIs, the DynamoDB stream consumers that push to their connections,
and the EventBridge rules that record execution statuses no handler sees. All from the declaration:
WEBSOCKET_APIS, STREAM_CONSUMERS and EXECUTION_STATUS_RULES."""

from __future__ import annotations

import json

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


def websocket_access_log_format() -> str:
    return json.dumps(_ACCESS_LOG_FIELDS, separators=(",", ":"))


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
    ) -> None:
        super().__init__(scope, construct_id)
        self.websocket_apis: dict[str, DeclaredWebSocketApi] = {
            spec.logical_id: DeclaredWebSocketApi(
                self, spec.logical_id, spec=spec, function=functions[spec.function]
            )
            for spec in WEBSOCKET_APIS
        }
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


def _stream_consumer(
    spec: StreamConsumerSpec, storage: Storage, function: lambda_.Function
) -> event_sources.DynamoEventSource:
    """An event source mapping from the table's stream to the function; its grant reads that stream only."""
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
    )
    function.add_event_source(source)
    return source


class DeclaredWebSocketApi(Construct):
    """A WebSocket API with one route per declared route key, all to its one function, on the declared
    auto-deployed stage with access logs and throttling. ``$connect`` is IAM-authorized (SigV4).

    JWT-authorized WebSocket connections are not supported yet (``auth=jwt`` keeps IAM here): WebSocket APIs
    have no JWT authorizer, a Lambda REQUEST authorizer comes later.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: WebSocketApiSpec,
        function: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        _check(spec)
        self.spec = spec
        name = f"{cdk.Stack.of(self).stack_name}-{spec.logical_id}"
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=name,
            description=f"{name}: declared routes to {spec.function}, IAM authorization on {CONNECT_ROUTE}",
            route_selection_expression=spec.route_selection,
        )
        pin_logical_id(self.api, spec.logical_id)
        integration = integrations.WebSocketLambdaIntegration(f"{spec.function}Integration", function)
        self.routes: dict[str, apigwv2.WebSocketRoute] = {}
        for route_key in spec.routes:
            self.routes[route_key] = self.api.add_route(
                route_key,
                integration=integration,
                # Callers sign $connect with SigV4 and need execute-api:Invoke on it, whatever the auth mode.
                authorizer=authorizers.WebSocketIamAuthorizer() if route_key == CONNECT_ROUTE else None,
                return_response=True if route_key not in ROUTES_WITHOUT_RESPONSE else None,
            )
        if CONNECT_ROUTE in self.routes:
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                f"API Gateway authorizes a WebSocket connection once, on {CONNECT_ROUTE} (AWS_IAM here); "
                "the other routes carry frames of an already authorized connection and cannot have an "
                "authorizer.",
            )

        self.access_logs = api_access_logs(self, name, LOG_RETENTION_DAYS)
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=spec.stage,
            auto_deploy=True,
            access_log_settings=AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigateway.AccessLogFormat.custom(websocket_access_log_format()),
            ),
            throttle=apigwv2.ThrottleSettings(
                rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT
            ),
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


def _check(spec: WebSocketApiSpec) -> None:
    """Fail at synth on a declaration API Gateway would reject or silently cut short."""
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
