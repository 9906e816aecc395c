"""Live events: the WebSocket APIs, the stream consumers and the execution-status rules, as declared."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.declaration import (
    EXECUTION_STATUS_RULES,
    LOG_RETENTION_DAYS,
    STACK_OUTPUTS,
    STREAM_CONSUMERS,
    WEBSOCKET_APIS,
    ExecutionStatusRuleSpec,
    StreamConsumerSpec,
    WebSocketApiSpec,
    function_by_id,
)

from tests.infra.conftest import JWT_CONTEXT, Synth
from tests.infra.infra_helpers import (
    EXECUTE_API_ARN_PREFIX,
    arn,
    ref,
    render,
    synth_resources,
    websocket_endpoint,
)

pytestmark = pytest.mark.infra

# API Gateway answers nothing on these; every other route returns the function's body to the client.
NO_RESPONSE_ROUTES = {"$connect", "$disconnect"}


def _of_api(synth: Synth, resource_type: str, spec: WebSocketApiSpec) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synth.of_type(resource_type).items()
        if resource["Properties"].get("ApiId") == {"Ref": spec.logical_id}
    }


def _routes(synth: Synth, spec: WebSocketApiSpec) -> dict[str, tuple[str, dict[str, Any]]]:
    """Route key -> (logical id, properties)."""
    routes = _of_api(synth, "AWS::ApiGatewayV2::Route", spec)
    keys = [props["RouteKey"] for props in routes.values()]
    assert len(keys) == len(set(keys))
    return {props["RouteKey"]: (logical_id, props) for logical_id, props in routes.items()}


# Declaration-level consistency: no synth needed.


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_declared_websocket_routes_are_unique_and_include_connect(spec: WebSocketApiSpec) -> None:
    assert len(spec.routes) == len(set(spec.routes))
    assert "$connect" in spec.routes, "the IAM authorizer sits on $connect"


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_websocket_function_finishes_within_the_integration_timeout(spec: WebSocketApiSpec) -> None:
    from segflow_infra.http_api import INTEGRATION_TIMEOUT_SECONDS

    assert function_by_id(spec.function).timeout_seconds < INTEGRATION_TIMEOUT_SECONDS


def test_websocket_grants_name_declared_apis() -> None:
    from segflow.declaration import FUNCTIONS

    declared = {spec.logical_id for spec in WEBSOCKET_APIS}
    for spec in FUNCTIONS:
        assert {grant.api for grant in spec.websockets} <= declared, spec.logical_id


# The WebSocket APIs.


def test_only_declared_websocket_apis_exist(synth: Synth) -> None:
    apis = {
        logical_id: api["Properties"]
        for logical_id, api in synth.of_type("AWS::ApiGatewayV2::Api").items()
        if api["Properties"]["ProtocolType"] == "WEBSOCKET"
    }
    assert set(apis) == {spec.logical_id for spec in WEBSOCKET_APIS}
    for spec in WEBSOCKET_APIS:
        props = apis[spec.logical_id]
        assert props["Name"] == f"{synth.stack_name}-{spec.logical_id}"
        assert props["RouteSelectionExpression"] == spec.route_selection
        assert props.get("DisableExecuteApiEndpoint", False) is False


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_one_route_per_declared_route_key(synth: Synth, spec: WebSocketApiSpec) -> None:
    assert set(_routes(synth, spec)) == set(spec.routes)


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_every_route_proxies_to_the_declared_function(synth: Synth, spec: WebSocketApiSpec) -> None:
    integrations = _of_api(synth, "AWS::ApiGatewayV2::Integration", spec)
    assert integrations
    for integration in integrations.values():
        assert integration["IntegrationType"] == "AWS_PROXY"
        uri = render(integration["IntegrationUri"])
        assert uri.endswith(f"/functions/{arn(spec.function)}/invocations"), uri
        assert integration.get("TimeoutInMillis", 29000) <= 29000
    for key, (_, route) in _routes(synth, spec).items():
        prefix, integration = route["Target"]["Fn::Join"][1]
        assert prefix == "integrations/" and integration["Ref"] in integrations, key


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_connect_is_iam_authorized_and_no_other_route_has_an_authorizer(
    synth: Synth, spec: WebSocketApiSpec
) -> None:
    for key, (_, route) in _routes(synth, spec).items():
        assert route["AuthorizationType"] == ("AWS_IAM" if key == "$connect" else "NONE"), key
        assert "AuthorizerId" not in route, key
    assert not _of_api(synth, "AWS::ApiGatewayV2::Authorizer", spec)


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_jwt_mode_puts_the_declared_jwt_authorizer_on_connect_only(
    jwt_synth: Synth, spec: WebSocketApiSpec
) -> None:
    """WebSocket APIs have no JWT authorizer type: a Lambda REQUEST authorizer reads the token from the query
    (browsers cannot set headers on a WebSocket) and API Gateway refuses a $connect without it (401)."""
    assert spec.jwt_authorizer is not None
    [(authorizer_id, authorizer)] = _of_api(jwt_synth, "AWS::ApiGatewayV2::Authorizer", spec).items()
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == [f"route.request.querystring.{spec.token_parameter}"]
    assert render(authorizer["AuthorizerUri"]).endswith(f"/functions/{arn(spec.jwt_authorizer)}/invocations")
    for key, (_, route) in _routes(jwt_synth, spec).items():
        if key == "$connect":
            assert route["AuthorizationType"] == "CUSTOM"
            assert route["AuthorizerId"] == {"Ref": authorizer_id}
        else:
            assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route, key
    # API Gateway may invoke the authorizer function, through this authorizer only.
    permissions = [
        resource["Properties"]
        for resource in jwt_synth.of_type("AWS::Lambda::Permission").values()
        if render(resource["Properties"]["FunctionName"]) == arn(spec.jwt_authorizer)
    ]
    assert [(p["Principal"], render(p["SourceArn"])) for p in permissions] == [
        (
            "apigateway.amazonaws.com",
            f"{EXECUTE_API_ARN_PREFIX}:{ref(spec.logical_id)}/authorizers/{ref(authorizer_id)}",
        )
    ]


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_the_jwt_authorizer_checks_the_http_apis_issuer_audiences_and_tenant_claim(
    synth: Synth, jwt_synth: Synth, spec: WebSocketApiSpec
) -> None:
    from segflow.api.identity import JWT_AUDIENCE_ENV, JWT_ISSUER_ENV, TENANT_CLAIM_ENV

    assert spec.jwt_authorizer is not None
    variables = jwt_synth.resources[spec.jwt_authorizer]["Properties"]["Environment"]["Variables"]
    assert variables[JWT_ISSUER_ENV] == JWT_CONTEXT["jwt_issuer"]
    assert variables[JWT_AUDIENCE_ENV].split(",") == [
        a.strip() for a in JWT_CONTEXT["jwt_audience"].split(",")
    ]
    assert variables[TENANT_CLAIM_ENV] == JWT_CONTEXT["tenant_claim"]
    [http_authorizer] = [
        resource["Properties"]
        for resource in jwt_synth.of_type("AWS::ApiGatewayV2::Authorizer").values()
        if resource["Properties"]["AuthorizerType"] == "JWT"
    ]
    assert http_authorizer["JwtConfiguration"] == {
        "Issuer": variables[JWT_ISSUER_ENV],
        "Audience": variables[JWT_AUDIENCE_ENV].split(","),
    }
    # In IAM mode the function is deployed but unconfigured (it denies every call) and nothing invokes it.
    iam_variables = synth.resources[spec.jwt_authorizer]["Properties"]["Environment"]["Variables"]
    assert not {JWT_ISSUER_ENV, JWT_AUDIENCE_ENV, TENANT_CLAIM_ENV} & set(iam_variables)
    assert not [
        resource
        for resource in synth.of_type("AWS::Lambda::Permission").values()
        if render(resource["Properties"]["FunctionName"]) == arn(spec.jwt_authorizer)
    ]


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_routes_other_than_connect_and_disconnect_return_the_function_response(
    synth: Synth, spec: WebSocketApiSpec
) -> None:
    routes = _routes(synth, spec)
    responses = {
        props["RouteId"]["Ref"]: props
        for props in _of_api(synth, "AWS::ApiGatewayV2::RouteResponse", spec).values()
    }
    for key, (logical_id, route) in routes.items():
        if key in NO_RESPONSE_ROUTES:
            assert "RouteResponseSelectionExpression" not in route, key
            assert logical_id not in responses, key
        else:
            assert route["RouteResponseSelectionExpression"] == "$default", key
            assert responses[logical_id]["RouteResponseKey"] == "$default", key
    assert len(responses) == len(set(spec.routes) - NO_RESPONSE_ROUTES)


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_api_gateway_may_invoke_the_function_on_declared_routes_only(
    synth: Synth, spec: WebSocketApiSpec
) -> None:
    permissions = [
        resource["Properties"]
        for resource in synth.of_type("AWS::Lambda::Permission").values()
        if render(resource["Properties"]["FunctionName"]) == arn(spec.function)
    ]
    assert {permission["Principal"] for permission in permissions} == {"apigateway.amazonaws.com"}
    assert {permission["Action"] for permission in permissions} == {"lambda:InvokeFunction"}
    assert {render(permission["SourceArn"]) for permission in permissions} == {
        f"{EXECUTE_API_ARN_PREFIX}:{ref(spec.logical_id)}/*{route}" for route in spec.routes
    }


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_declared_stage_auto_deploys_throttles_and_logs_access(synth: Synth, spec: WebSocketApiSpec) -> None:
    from segflow_infra.live_events import THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT

    [stage] = _of_api(synth, "AWS::ApiGatewayV2::Stage", spec).values()
    assert stage["StageName"] == spec.stage
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": THROTTLE_BURST_LIMIT,
        "ThrottlingRateLimit": THROTTLE_RATE_LIMIT,
    }
    settings = stage["AccessLogSettings"]
    log_group_id, attribute = settings["DestinationArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    log_group = synth.resources[log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS
    assert (
        log_group["Properties"]["LogGroupName"]
        == f"/aws/vendedlogs/apigateway/{synth.stack_name}-{spec.logical_id}"
    )
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert {"eventType", "routeKey", "connectionId", "status", "integrationError", "authorizeError"} <= set(
        fields
    )
    assert fields["userArn"] == "$context.identity.userArn"


@pytest.mark.parametrize("spec", WEBSOCKET_APIS, ids=lambda spec: spec.logical_id)
def test_grantees_learn_the_callback_url_of_the_declared_stage(synth: Synth, spec: WebSocketApiSpec) -> None:
    from segflow.declaration import FUNCTIONS

    for function in FUNCTIONS:
        variables = synth.resources[function.logical_id]["Properties"]["Environment"]["Variables"]
        if spec.logical_id in {grant.api for grant in function.websockets}:
            assert render(variables[spec.env_var]) == websocket_endpoint("https", spec.logical_id)
        else:
            assert spec.env_var not in variables, function.logical_id


def test_websocket_url_output_is_the_stage_url(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    declared = {name: spec for name, spec in STACK_OUTPUTS.items() if spec.kind == "websocket_url"}
    assert {spec.ref for spec in declared.values()} == {api.logical_id for api in WEBSOCKET_APIS}
    for name, spec in declared.items():
        assert render(outputs[name]["Value"]) == websocket_endpoint("wss", spec.ref)


# Stream consumers.


def _mappings(synth: Synth) -> list[dict[str, Any]]:
    return [resource["Properties"] for resource in synth.of_type("AWS::Lambda::EventSourceMapping").values()]


def test_only_declared_stream_consumers_exist(synth: Synth) -> None:
    actual = sorted((render(m["EventSourceArn"]), render(m["FunctionName"])) for m in _mappings(synth))
    assert actual == sorted(
        (ref(f"{consumer.table}.StreamArn"), ref(consumer.function)) for consumer in STREAM_CONSUMERS
    )


@pytest.mark.parametrize("spec", STREAM_CONSUMERS, ids=lambda spec: f"{spec.table}-{spec.function}")
def test_stream_consumer_settings(synth: Synth, spec: StreamConsumerSpec) -> None:
    from segflow_infra.live_events import STREAM_RETRY_ATTEMPTS

    [mapping] = [
        m
        for m in _mappings(synth)
        if render(m["EventSourceArn"]) == ref(f"{spec.table}.StreamArn")
        and render(m["FunctionName"]) == ref(spec.function)
    ]
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["BatchSize"] == spec.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == spec.max_batching_window_seconds
    assert mapping["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS == 3
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Events of one execution share a partition key: one batch per shard at a time keeps them in order.
    assert mapping["ParallelizationFactor"] == 1
    assert mapping.get("Enabled", True) is True
    pattern = spec.filter_pattern()
    if pattern is None:
        assert "FilterCriteria" not in mapping
    else:
        [only] = mapping["FilterCriteria"]["Filters"]
        assert json.loads(only["Pattern"]) == pattern == {"eventName": list(spec.event_names)}


def test_push_events_is_invoked_for_new_events_only() -> None:
    """TTL deletions (REMOVE) and rewrites (MODIFY) of the execution log carry nothing to push."""
    from segflow.declaration import EVENTS_TABLE, PUSH_EVENTS

    [consumer] = [c for c in STREAM_CONSUMERS if c.table == EVENTS_TABLE.logical_id]
    assert consumer.function == PUSH_EVENTS.logical_id
    assert consumer.filter_pattern() == {"eventName": ["INSERT"]}
    assert consumer.accepts({"eventName": "INSERT"})
    assert not consumer.accepts({"eventName": "REMOVE"}) and not consumer.accepts({"eventName": "MODIFY"})


# The API Gateway account's CloudWatch Logs role (WebSocket access logs need it).


def _websocket_stages(resources: dict[str, Any]) -> list[dict[str, Any]]:
    apis = {spec.logical_id for spec in WEBSOCKET_APIS}
    return [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::ApiGatewayV2::Stage"
        and resource["Properties"]["ApiId"].get("Ref") in apis
    ]


def test_by_default_the_stack_sets_the_account_logging_role_before_the_websocket_stage(synth: Synth) -> None:
    from segflow_infra.live_events import ACCOUNT_LOGICAL_ID, ACCOUNT_ROLE_LOGICAL_ID, ACCOUNT_ROLE_POLICY

    [(account_id, account)] = synth.of_type("AWS::ApiGateway::Account").items()
    assert account_id == ACCOUNT_LOGICAL_ID
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [ACCOUNT_ROLE_LOGICAL_ID, "Arn"]}
    role = synth.resources[ACCOUNT_ROLE_LOGICAL_ID]
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert [render(policy) for policy in role["Properties"]["ManagedPolicyArns"]] == [
        f"arn:${{AWS::Partition}}:iam::aws:policy/{ACCOUNT_ROLE_POLICY}"
    ]
    # Account-wide: other APIs may log through it, so deleting the stack keeps both.
    assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain"
    for stage in _websocket_stages(synth.resources):
        assert ACCOUNT_LOGICAL_ID in stage["DependsOn"]
        assert "AccessLogSettings" in stage["Properties"]


@pytest.fixture(scope="module")
def account_role_synths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The stack with an account role the account already has, and without WebSocket access logs (cdk-nag
    on: the synth raises on an unacknowledged finding)."""
    return {
        mode: synth_resources(tmp_path_factory.mktemp(f"cdk.out.{mode}"), {"api_gateway_account_role": mode})
        for mode in ("existing", "none")
    }


def test_with_an_existing_account_role_the_stack_leaves_account_settings_alone(
    synth: Synth, account_role_synths: dict[str, dict[str, Any]]
) -> None:
    resources = account_role_synths["existing"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Account"]
    assert "ApiGatewayCloudWatchRole" not in resources
    for stage, default_stage in zip(
        _websocket_stages(resources), _websocket_stages(synth.resources), strict=True
    ):
        assert stage["Properties"]["AccessLogSettings"] == default_stage["Properties"]["AccessLogSettings"]
        assert "DependsOn" not in stage


def test_without_access_logs_only_the_websocket_stage_stops_logging(
    synth: Synth, account_role_synths: dict[str, dict[str, Any]]
) -> None:
    resources = account_role_synths["none"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Account"]
    for stage in _websocket_stages(resources):
        assert "AccessLogSettings" not in stage["Properties"]
    names = {
        r["Properties"].get("LogGroupName") for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"
    }
    default_names = {
        r["Properties"].get("LogGroupName") for r in synth.of_type("AWS::Logs::LogGroup").values()
    }
    assert default_names - names == {
        f"/aws/vendedlogs/apigateway/{synth.stack_name}-{spec.logical_id}" for spec in WEBSOCKET_APIS
    }
    http_stages = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Stage" and r not in _websocket_stages(resources)
    ]
    assert http_stages and all("AccessLogSettings" in stage["Properties"] for stage in http_stages)


def test_a_bad_account_role_mode_stops_the_synth() -> None:
    from segflow_infra.application import build_app

    with pytest.raises(
        ValueError, match="api_gateway_account_role: 'maybe' is not one of create, existing, none"
    ):
        build_app(context={"api_gateway_account_role": "maybe"})


# Execution-status rules.


def _rule(synth: Synth, spec: ExecutionStatusRuleSpec) -> dict[str, Any]:
    resource = synth.resources[spec.logical_id]
    assert resource["Type"] == "AWS::Events::Rule"
    return resource["Properties"]


@pytest.mark.parametrize("spec", EXECUTION_STATUS_RULES, ids=lambda spec: spec.logical_id)
def test_status_rule_pattern(synth: Synth, spec: ExecutionStatusRuleSpec) -> None:
    props = _rule(synth, spec)
    assert props["State"] == "ENABLED"
    pattern = props["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert [render(value) for value in pattern["detail"]["stateMachineArn"]] == [ref(spec.state_machine)]
    assert pattern["detail"]["status"] == list(spec.statuses)
    assert set(pattern) == {"source", "detail-type", "detail"}
    assert set(pattern["detail"]) == {"stateMachineArn", "status"}


@pytest.mark.parametrize("spec", EXECUTION_STATUS_RULES, ids=lambda spec: spec.logical_id)
def test_status_rule_invokes_its_function_with_retries_and_may_only_it(
    synth: Synth, spec: ExecutionStatusRuleSpec
) -> None:
    [target] = _rule(synth, spec)["Targets"]
    assert render(target["Arn"]) == arn(spec.function)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 2 * 60 * 60}
    assert "DeadLetterConfig" not in target
    permissions = [
        resource["Properties"]
        for resource in synth.of_type("AWS::Lambda::Permission").values()
        if resource["Properties"]["Principal"] == "events.amazonaws.com"
        and render(resource["Properties"]["FunctionName"]) == arn(spec.function)
    ]
    assert [(p["Action"], render(p["SourceArn"])) for p in permissions] == [
        ("lambda:InvokeFunction", arn(spec.logical_id))
    ]
