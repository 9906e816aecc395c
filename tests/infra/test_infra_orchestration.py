"""State machines: built from the ASL files with every placeholder bound to a declared resource."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.declaration import FUNCTIONS, LOG_RETENTION_DAYS, STATE_MACHINES, StateMachineSpec
from segflow_infra import asl
from segflow_infra.paths import repo_path

from tests.infra.infra_helpers import arn, ref, render, symbolic

pytestmark = pytest.mark.infra


def _definition_text(spec: StateMachineSpec) -> str:
    return repo_path(spec.definition_file).read_text()


# Declaration-level consistency: no synth needed.


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_every_placeholder_has_a_substitution_and_every_substitution_is_used(spec: StateMachineSpec) -> None:
    assert asl.placeholders(_definition_text(spec)) == set(spec.substitutions)


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_substitutions_refer_to_declared_resources(spec: StateMachineSpec) -> None:
    from segflow.declaration import BUCKETS, TABLES

    known = {
        "function_arn": {fn.logical_id for fn in FUNCTIONS},
        "bucket_name": {bucket.logical_id for bucket in BUCKETS},
        "table_name": {table.logical_id for table in TABLES},
    }
    for name, substitution in spec.substitutions.items():
        assert substitution.ref in known[substitution.kind], name


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_the_state_machine_invokes_exactly_the_functions_its_tasks_name(spec: StateMachineSpec) -> None:
    definition = asl.parse(_definition_text(spec))
    referenced = set()
    for reference in asl.lambda_references(definition):
        match = asl.PLACEHOLDER.fullmatch(reference)
        assert match, f"Task resource {reference} must be a ${{Placeholder}} bound by the declaration"
        substitution = spec.substitutions[match.group(1)]
        assert substitution.kind == "function_arn"
        referenced.add(substitution.ref)
    assert referenced == set(spec.invokes)


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_an_item_reader_has_declared_read_access(spec: StateMachineSpec) -> None:
    if asl.has_item_reader(asl.parse(_definition_text(spec))):
        assert spec.reads_items_from


# The synthesized state machines.


def test_only_declared_state_machines_exist(synth: Any) -> None:
    assert set(synth.of_type("AWS::StepFunctions::StateMachine")) == {
        spec.logical_id for spec in STATE_MACHINES
    }


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_definition_is_the_asl_file_with_declared_substitutions(synth: Any, spec: StateMachineSpec) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    substitutions = {name: render(value) for name, value in props["DefinitionSubstitutions"].items()}
    assert substitutions == {name: symbolic(sub) for name, sub in spec.substitutions.items()}
    # Stand-ins for what CloudFormation will put there, free of "${" so leftovers show.
    resolved = {name: f"resolved:{value[2:-1]}" for name, value in substitutions.items()}
    deployed = asl.substitute(props["DefinitionString"], resolved)
    assert "${" not in deployed
    expected = asl.substitute(_definition_text(spec), resolved)
    assert json.loads(deployed) == json.loads(expected)


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_every_lambda_the_definition_references_is_a_function_of_the_stack(
    synth: Any, spec: StateMachineSpec
) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    substitutions = {name: render(value) for name, value in props["DefinitionSubstitutions"].items()}
    definition = asl.parse(asl.substitute(props["DefinitionString"], substitutions))
    references = asl.lambda_references(definition)
    assert references
    for reference in references:
        assert reference.startswith("${") and reference.endswith(".Arn}"), reference
        logical_id = reference[2:-5]
        assert synth.resources[logical_id]["Type"] == "AWS::Lambda::Function"


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_state_machine_is_standard_logged_and_traced(synth: Any, spec: StateMachineSpec) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == f"{synth.stack_name}-{spec.logical_id}"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] in {"ALL", "ERROR"}
    assert logging["IncludeExecutionData"] is False
    [destination] = logging["Destinations"]
    log_group = synth.resources[destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]]
    assert log_group["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/states/")
    assert log_group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS


def _failure_rule(synth: Any, spec: StateMachineSpec) -> dict[str, Any]:
    """The state machine's own failed-executions rule (not a declared execution-status rule)."""
    from segflow.declaration import EXECUTION_STATUS_RULES

    declared = {rule.logical_id for rule in EXECUTION_STATUS_RULES}
    for logical_id, rule in synth.of_type("AWS::Events::Rule").items():
        if logical_id in declared:
            continue
        arns = rule["Properties"]["EventPattern"].get("detail", {}).get("stateMachineArn", [])
        if [render(value) for value in arns] == [ref(spec.logical_id)]:
            return rule["Properties"]
    raise AssertionError(f"no failed-executions rule for {spec.logical_id}")


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_failed_executions_rule_pattern(template: Any, synth: Any, spec: StateMachineSpec) -> None:
    from aws_cdk.assertions import Match

    template.has_resource_properties(
        "AWS::Events::Rule",
        Match.object_like(
            {
                "State": "ENABLED",
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {
                        "stateMachineArn": [{"Ref": spec.logical_id}],
                        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    },
                },
            }
        ),
    )
    assert _failure_rule(synth, spec)["State"] == "ENABLED"


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_failed_executions_go_to_a_log_group_events_may_write(synth: Any, spec: StateMachineSpec) -> None:
    [target] = _failure_rule(synth, spec)["Targets"]
    target_arn = render(target["Arn"])
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${"
    assert target_arn.startswith(prefix), target_arn
    log_group_id = target_arn.removeprefix(prefix).removesuffix("}")
    log_group = synth.resources[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS
    policies = [
        json.loads(render(policy["Properties"]["PolicyDocument"]))
        for policy in synth.of_type("AWS::Logs::ResourcePolicy").values()
    ]
    allowed = [
        statement
        for policy in policies
        for statement in policy["Statement"]
        if statement["Resource"] == arn(log_group_id)
    ]
    assert allowed == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": arn(log_group_id),
        }
    ]
