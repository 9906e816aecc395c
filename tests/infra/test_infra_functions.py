"""Lambda functions: one per FUNCTIONS entry, configured from its spec."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import (
    FUNCTIONS,
    LOG_RETENTION_DAYS,
    NODE_ROLE,
    SERVICE_NAME,
    STATE_MACHINES,
    FunctionSpec,
    resource_env_vars,
    settings_environment,
)
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from tests.infra.infra_helpers import (
    api_functions,
    arn,
    ref,
    render,
    role_of,
    role_statements,
    state_machine_arn,
    websocket_api_ids,
    websocket_endpoint,
)

pytestmark = pytest.mark.infra


def test_only_declared_functions_exist(synth: Any) -> None:
    assert set(synth.of_type("AWS::Lambda::Function")) == {spec.logical_id for spec in FUNCTIONS}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_function_matches_declaration(template: Any, spec: FunctionSpec) -> None:
    from aws_cdk.assertions import Match

    template.has_resource_properties(
        "AWS::Lambda::Function",
        Match.object_like(
            {
                "Handler": spec.handler,
                "Description": spec.description,
                "Runtime": "python3.12",
                "Architectures": ["arm64"],
                "MemorySize": spec.memory_mb,
                "Timeout": spec.timeout_seconds,
                "TracingConfig": {"Mode": "Active"},
                "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
            }
        ),
    )


def _resource_value(synth: Any, logical_id: str) -> str:
    """A table or bucket: its name (Ref). A state machine: its ARN, built from its fixed name. A WebSocket
    API: its stage's @connections endpoint. The node role: its ARN."""
    if logical_id == NODE_ROLE.logical_id:
        return arn(logical_id)
    if logical_id in {machine.logical_id for machine in STATE_MACHINES}:
        return state_machine_arn(synth.resources, logical_id)
    if logical_id in websocket_api_ids():
        return websocket_endpoint("https", logical_id)
    return ref(logical_id)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_function_environment(synth: Any, spec: FunctionSpec) -> None:
    from segflow_infra.api_auth import ApiAuth

    variables = synth.resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
    expected = {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
        **settings_environment(spec, EXECUTION_DATA_RETENTION_DAYS, ""),
        **{name: _resource_value(synth, logical_id) for name, logical_id in resource_env_vars(spec).items()},
        **spec.environment,
    }
    if spec.logical_id in api_functions():
        expected.update(ApiAuth().environment())  # the default authorization: IAM
    assert {name: render(value) for name, value in variables.items()} == expected


def test_state_machine_arn_in_the_environment_is_the_deployed_state_machine(synth: Any) -> None:
    """Built from the name, not referenced (no dependency cycle): it must still be the right ARN."""
    for spec in FUNCTIONS:
        variables = synth.resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
        for grant in spec.state_machines:
            machine = next(m for m in STATE_MACHINES if m.logical_id == grant.state_machine)
            name = synth.resources[machine.logical_id]["Properties"]["StateMachineName"]
            assert render(variables[machine.env_var]).endswith(f":stateMachine:{name}")


def test_functions_do_not_depend_on_the_state_machines(synth: Any) -> None:
    """A state machine depends on the functions it invokes; the reverse would be a cycle."""
    machines = {machine.logical_id for machine in STATE_MACHINES}
    for spec in FUNCTIONS:
        function = synth.resources[spec.logical_id]
        policies = role_statements(synth.resources, role_of(function))
        referenced = _references(function) | _references(policies) | set(function.get("DependsOn", []))
        assert not referenced & machines, spec.logical_id


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_function_logs_to_its_own_log_group_with_retention(synth: Any, spec: FunctionSpec) -> None:
    log_group = synth.resources[spec.logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert synth.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert synth.resources[log_group]["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS
    others = [
        fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for logical_id, fn in synth.of_type("AWS::Lambda::Function").items()
        if logical_id != spec.logical_id
    ]
    assert log_group not in others


def test_functions_do_not_depend_on_websocket_stages(synth: Any) -> None:
    """A WebSocket API's routes invoke a function that needs the API's callback URL: the URL is built from the
    API's id and the stage's fixed name, never from the stage (which depends on the routes)."""
    stages = set(synth.of_type("AWS::ApiGatewayV2::Stage"))
    for spec in FUNCTIONS:
        function = synth.resources[spec.logical_id]
        policies = role_statements(synth.resources, role_of(function))
        referenced = _references(function) | _references(policies) | set(function.get("DependsOn", []))
        assert not referenced & stages, spec.logical_id


def test_the_egress_contexts_reach_the_function_that_runs_nodes_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``-c egress_allow=… -c egress_deny=…``: the egress policy's lists, checked and normalized, in
    ExecuteSegment's environment (without the contexts, empty: the policy's defaults alone)."""
    import json

    from segflow.declaration import EGRESS_FUNCTIONS
    from segflow.domain.egress import EGRESS_ALLOW_ENV, EGRESS_DENY_ENV
    from segflow_infra.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.egress")
    context = {"egress_allow": "API.partner.example,10.1.2.3", "egress_deny": ["0.0.0.0/0", "::/0"]}
    app, stack = build_app(context=context, outdir=str(outdir), nag=False)
    app.synth()
    resources = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())["Resources"]
    for spec in FUNCTIONS:
        variables = resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
        egress = {name: variables.get(name) for name in (EGRESS_ALLOW_ENV, EGRESS_DENY_ENV)}
        if spec.logical_id in EGRESS_FUNCTIONS:
            assert egress == {
                EGRESS_ALLOW_ENV: "api.partner.example,10.1.2.3/32",
                EGRESS_DENY_ENV: "0.0.0.0/0,::/0",
            }
        else:
            assert egress == {EGRESS_ALLOW_ENV: None, EGRESS_DENY_ENV: None}


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({"egress_allow": "https://api.example.com"}, "egress_allow: 'https://api.example.com' is neither"),
        ({"egress_deny": "10.0.0.0/40"}, "egress_deny: '10.0.0.0/40' is neither"),
    ],
)
def test_an_egress_entry_that_is_no_host_address_or_cidr_stops_the_synth(
    context: dict[str, str], problem: str
) -> None:
    from segflow_infra.application import build_app

    with pytest.raises(ValueError, match=problem):
        build_app(context=context, nag=False)
