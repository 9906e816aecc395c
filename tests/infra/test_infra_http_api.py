"""HTTP APIs: the declared routes only, to the declared function, behind the chosen authorizer, logged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from segflow.declaration import HTTP_APIS, LOG_RETENTION_DAYS, STACK_OUTPUTS, HttpApiSpec, function_by_id

from tests.infra.conftest import JWT_CONTEXT, Synth
from tests.infra.infra_helpers import arn, ref, render

pytestmark = pytest.mark.infra

EXECUTE_API = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"


def _of_api(synth: Synth, resource_type: str, spec: HttpApiSpec) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synth.of_type(resource_type).items()
        if resource["Properties"].get("ApiId") == {"Ref": spec.logical_id}
    }


def _routes(synth: Synth, spec: HttpApiSpec) -> dict[str, dict[str, Any]]:
    """Route key ("GET /workflows") -> route properties."""
    routes = _of_api(synth, "AWS::ApiGatewayV2::Route", spec)
    keys = [props["RouteKey"] for props in routes.values()]
    assert len(keys) == len(set(keys))
    return {props["RouteKey"]: props for props in routes.values()}


def _declared_keys(spec: HttpApiSpec) -> set[str]:
    return {f"{route.method} {route.path}" for route in spec.routes}


def _public_keys(spec: HttpApiSpec) -> set[str]:
    return {f"{route.method} {route.path}" for route in spec.routes if route.public}


def test_only_the_console_page_is_public() -> None:
    assert {key for spec in HTTP_APIS for key in _public_keys(spec)} == {"GET /console"}


# Declaration-level consistency: no synth needed.


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_declared_routes_are_unique_and_exact(spec: HttpApiSpec) -> None:
    keys = [(route.method, route.path) for route in spec.routes]
    assert len(keys) == len(set(keys))
    for method, path in keys:
        assert path.startswith("/") and "+}" not in path and path != "/{proxy+}", (method, path)


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_api_function_finishes_within_the_integration_timeout(spec: HttpApiSpec) -> None:
    from segflow_infra.http_api import INTEGRATION_TIMEOUT_SECONDS

    assert function_by_id(spec.function).timeout_seconds < INTEGRATION_TIMEOUT_SECONDS


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_api_function_is_not_invoked_by_a_state_machine_it_may_start(spec: HttpApiSpec) -> None:
    from segflow.declaration import STATE_MACHINES

    function = function_by_id(spec.function)
    for grant in function.state_machines:
        machine = next(m for m in STATE_MACHINES if m.logical_id == grant.state_machine)
        assert function.logical_id not in machine.invokes


# The synthesized API (default context: IAM authorization).


def test_only_declared_http_apis_exist(synth: Synth) -> None:
    apis = {
        logical_id: api
        for logical_id, api in synth.of_type("AWS::ApiGatewayV2::Api").items()
        if api["Properties"]["ProtocolType"] != "WEBSOCKET"  # test_infra_live_events checks those
    }
    assert set(apis) == {spec.logical_id for spec in HTTP_APIS}
    for logical_id, api in apis.items():
        assert api["Properties"]["ProtocolType"] == "HTTP"
        assert api["Properties"]["Name"] == f"{synth.stack_name}-{logical_id}"
        assert "CorsConfiguration" not in api["Properties"]
        assert api["Properties"].get("DisableExecuteApiEndpoint", False) is False


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_one_route_per_declared_method_and_path(synth: Synth, spec: HttpApiSpec) -> None:
    assert set(_routes(synth, spec)) == _declared_keys(spec)


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_no_catch_all_route(synth: Synth, spec: HttpApiSpec) -> None:
    for key in _routes(synth, spec):
        method, path = key.split(" ", 1)
        assert key != "$default" and method != "ANY" and "+}" not in path, key


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_every_route_proxies_to_the_declared_function_with_payload_v2(
    synth: Synth, spec: HttpApiSpec
) -> None:
    integrations = _of_api(synth, "AWS::ApiGatewayV2::Integration", spec)
    assert integrations
    for integration in integrations.values():
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert render(integration["IntegrationUri"]) == arn(spec.function)
        assert integration.get("TimeoutInMillis", 30000) <= 30000
    for key, route in _routes(synth, spec).items():
        prefix, integration = route["Target"]["Fn::Join"][1]
        assert prefix == "integrations/" and integration["Ref"] in integrations, key


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_api_gateway_may_invoke_the_function_on_declared_routes_only(synth: Synth, spec: HttpApiSpec) -> None:
    permissions = [
        resource["Properties"]
        for resource in synth.of_type("AWS::Lambda::Permission").values()
        if render(resource["Properties"]["FunctionName"]) == arn(spec.function)
    ]
    assert {permission["Principal"] for permission in permissions} == {"apigateway.amazonaws.com"}
    assert {permission["Action"] for permission in permissions} == {"lambda:InvokeFunction"}
    # Any stage, any method, one declared path each: no permission for the API as a whole.
    assert {render(permission["SourceArn"]) for permission in permissions} == {
        f"{EXECUTE_API}:{ref(spec.logical_id)}/*/*{route.path}" for route in spec.routes
    }


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_iam_authorization_by_default(synth: Synth, spec: HttpApiSpec) -> None:
    for key, route in _routes(synth, spec).items():
        assert route["AuthorizationType"] == ("NONE" if key in _public_keys(spec) else "AWS_IAM"), key
        assert "AuthorizerId" not in route, key
    assert not _of_api(synth, "AWS::ApiGatewayV2::Authorizer", spec)
    variables = synth.resources[spec.function]["Properties"]["Environment"]["Variables"]
    assert variables["SEGFLOW_API_AUTH"] == "iam"


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_default_stage_auto_deploys_throttles_and_logs_access(synth: Synth, spec: HttpApiSpec) -> None:
    from segflow_infra.http_api import THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT

    [stage] = _of_api(synth, "AWS::ApiGatewayV2::Stage", spec).values()
    assert stage["StageName"] == "$default"
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
    assert {"routeKey", "status", "authorizerError", "integrationError", "userArn"} <= set(fields)


def test_api_url_output_is_the_default_endpoint(synth: Synth) -> None:
    from segflow.declaration import OUTPUT_MANAGEMENT_API_URL

    spec = STACK_OUTPUTS[OUTPUT_MANAGEMENT_API_URL]
    assert spec.kind == "http_api_url"
    value = synth.template["Outputs"][OUTPUT_MANAGEMENT_API_URL]["Value"]
    assert value == {"Fn::GetAtt": [spec.ref, "ApiEndpoint"]}


# The same app with JWT authorization.


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_jwt_authorizer_guards_every_route_but_the_public_ones(jwt_synth: Synth, spec: HttpApiSpec) -> None:
    [(authorizer_id, authorizer)] = _of_api(jwt_synth, "AWS::ApiGatewayV2::Authorizer", spec).items()
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"] == {
        "Issuer": JWT_CONTEXT["jwt_issuer"],
        "Audience": ["segflow-cli", "segflow-console"],
    }
    routes = _routes(jwt_synth, spec)
    assert set(routes) == _declared_keys(spec)
    for key, route in routes.items():
        if key in _public_keys(spec):
            assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route, key
            continue
        assert route["AuthorizationType"] == "JWT", key
        assert route["AuthorizerId"] == {"Ref": authorizer_id}, key


@pytest.mark.parametrize("spec", HTTP_APIS, ids=lambda spec: spec.logical_id)
def test_jwt_mode_tells_the_function_the_mode_and_the_tenant_claim(
    jwt_synth: Synth, spec: HttpApiSpec
) -> None:
    variables = jwt_synth.resources[spec.function]["Properties"]["Environment"]["Variables"]
    assert variables["SEGFLOW_API_AUTH"] == "jwt"
    assert variables["SEGFLOW_TENANT_CLAIM"] == "custom:tenant_id"
    [stage] = _of_api(jwt_synth, "AWS::ApiGatewayV2::Stage", spec).values()
    assert json.loads(stage["AccessLogSettings"]["Format"])["sub"] == "$context.authorizer.claims.sub"


def test_jwt_mode_changes_nothing_but_authorization(synth: Synth, jwt_synth: Synth) -> None:
    def kinds(template: Synth) -> dict[str, str]:
        return {logical_id: resource["Type"] for logical_id, resource in template.resources.items()}

    iam_kinds, jwt_kinds = kinds(synth), kinds(jwt_synth)
    added = {logical_id: kind for logical_id, kind in jwt_kinds.items() if logical_id not in iam_kinds}
    # The HTTP API's JWT authorizer; the WebSocket API's REQUEST authorizer and API Gateway's permission to
    # invoke its function.
    assert sorted(added.values()) == sorted(
        ["AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Authorizer", "AWS::Lambda::Permission"]
    )
    assert set(iam_kinds) <= set(jwt_kinds)


def test_jwt_template_passes_nag_and_cfn_lint(jwt_synth: Synth) -> None:
    report = json.loads((jwt_synth.outdir / "validation-report.json").read_text())
    assert [plugin for plugin in report["pluginReports"] if plugin["conclusion"] != "success"] == []
    beside_python = Path(sys.executable).with_name("cfn-lint")
    cfn_lint = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed: pip install cfn-lint==1.58.0")
    template = jwt_synth.outdir / f"{jwt_synth.stack_name}.template.json"
    result = subprocess.run(
        [cfn_lint, "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Choosing the authorization through context.


def test_auth_context_defaults_to_iam() -> None:
    from segflow_infra.api_auth import ApiAuth

    auth = ApiAuth.from_context(lambda key: None)
    assert auth == ApiAuth(mode="iam")
    assert auth.environment() == {"SEGFLOW_API_AUTH": "iam", "SEGFLOW_TENANT_CLAIM": "tenant_id"}


def test_auth_context_jwt() -> None:
    from segflow_infra.api_auth import ApiAuth

    auth = ApiAuth.from_context(JWT_CONTEXT.get)
    assert auth.mode == "jwt"
    assert auth.jwt_issuer == JWT_CONTEXT["jwt_issuer"]
    assert auth.jwt_audience == ("segflow-cli", "segflow-console")
    assert auth.tenant_claim == "custom:tenant_id"
    # A list works too (cdk.json context can hold one).
    assert ApiAuth.from_context({**JWT_CONTEXT, "jwt_audience": ["a", "b"]}.get).jwt_audience == ("a", "b")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"auth": "cognito"}, "auth"),
        ({"auth": "jwt"}, "jwt_issuer"),
        ({"auth": "jwt", "jwt_issuer": "http://insecure.example.com"}, "jwt_issuer"),
        ({"auth": "jwt", "jwt_issuer": "https://issuer.example.com"}, "jwt_audience"),
        ({"auth": "jwt", "jwt_issuer": "https://issuer.example.com", "jwt_audience": "a,,b"}, "jwt_audience"),
        ({"jwt_issuer": "https://issuer.example.com"}, "only with auth=jwt"),
        ({"tenant_claim": "org"}, "only with auth=jwt"),
        ({**JWT_CONTEXT, "tenant_claim": "bad claim"}, "tenant_claim"),
    ],
)
def test_auth_context_rejects_incomplete_or_mismatched_settings(
    context: dict[str, str], message: str
) -> None:
    from segflow_infra.api_auth import ApiAuth

    with pytest.raises(ValueError, match=message):
        ApiAuth.from_context(context.get)


def test_bad_auth_context_fails_the_synth() -> None:
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: pip install the infra pins")
    from segflow_infra.application import build_app

    with pytest.raises(ValueError, match="jwt_issuer"):
        build_app(context={"auth": "jwt"}, nag=False)


def test_env_var_names_match_what_the_handler_reads() -> None:
    from segflow.api import identity
    from segflow_infra import api_auth

    assert api_auth.TENANT_CLAIM_ENV == identity.TENANT_CLAIM_ENV
    assert api_auth.DEFAULT_TENANT_CLAIM == identity.DEFAULT_TENANT_CLAIM
    assert api_auth.API_AUTH_ENV == identity.API_AUTH_ENV
