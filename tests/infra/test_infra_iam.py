"""Least privilege: each role allows exactly what the declaration grants, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.declaration import FUNCTIONS, STATE_MACHINES, FunctionSpec, StateMachineSpec
from segflow_infra.asl import has_distributed_map
from segflow_infra.paths import repo_path

from tests.infra.infra_helpers import arn, grants, role_of, role_statements

pytestmark = pytest.mark.infra

DYNAMODB_READ = {
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:Query",
    "dynamodb:Scan",
}
DYNAMODB_WRITE = {
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}
DYNAMODB = {"read": DYNAMODB_READ, "write": DYNAMODB_WRITE, "read_write": DYNAMODB_READ | DYNAMODB_WRITE}
S3 = {
    "read": {"s3:GetObject"},
    "write": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "read_write": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
}
# Actions AWS defines without resource-level permissions; the only ones allowed on "*".
LAMBDA_TRACING = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
STATE_MACHINE_LOGGING_AND_TRACING = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def _expected_function_grants(spec: FunctionSpec, log_group: str) -> set[tuple[str, str]]:
    expected = {(action, "*") for action in LAMBDA_TRACING}
    expected |= {(action, arn(log_group)) for action in ("logs:CreateLogStream", "logs:PutLogEvents")}
    for table in spec.tables:
        expected |= {(action, arn(table.table)) for action in DYNAMODB[table.access]}
    for bucket in spec.buckets:
        for prefix in bucket.prefixes:
            expected |= {(action, f"{arn(bucket.bucket)}/{prefix}*") for action in S3[bucket.access]}
    return expected


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_function_role_allows_exactly_the_declared_access(synth: Any, spec: FunctionSpec) -> None:
    function = synth.resources[spec.logical_id]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    actual = grants(role_statements(synth.resources, role_of(function)))
    assert actual == _expected_function_grants(spec, log_group)


def _expected_state_machine_grants(spec: StateMachineSpec, name: str) -> set[tuple[str, str]]:
    expected = {(action, "*") for action in STATE_MACHINE_LOGGING_AND_TRACING}
    for function in spec.invokes:
        expected |= {
            ("lambda:InvokeFunction", arn(function)),
            ("lambda:InvokeFunction", f"{arn(function)}:*"),
        }
    for bucket in spec.reads_items_from:
        assert bucket.access == "read", "a Map ItemReader only reads"
        expected |= {("s3:GetObject", f"{arn(bucket.bucket)}/{prefix}*") for prefix in bucket.prefixes}
    if not has_distributed_map(json.loads(repo_path(spec.definition_file).read_text())):
        return expected
    states = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    expected.add(("states:StartExecution", f"{states}:stateMachine:{name}"))
    for action in ("states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"):
        expected.add((action, f"{states}:execution:{name}/*"))
    return expected


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_state_machine_role_allows_exactly_the_declared_access(synth: Any, spec: StateMachineSpec) -> None:
    state_machine = synth.resources[spec.logical_id]
    name = state_machine["Properties"]["StateMachineName"]
    actual = grants(role_statements(synth.resources, role_of(state_machine)))
    assert actual == _expected_state_machine_grants(spec, name)


def test_roles_have_no_managed_or_inline_policies_and_one_trusted_service(synth: Any) -> None:
    for logical_id, role in synth.of_type("AWS::IAM::Role").items():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props, logical_id
        assert "Policies" not in props, logical_id
        [statement] = props["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"]["Service"] in {"lambda.amazonaws.com", "states.amazonaws.com"}


def test_each_function_has_its_own_role(synth: Any) -> None:
    roles = [role_of(function) for function in synth.of_type("AWS::Lambda::Function").values()]
    assert len(roles) == len(set(roles))
