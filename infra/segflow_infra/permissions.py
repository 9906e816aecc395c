"""Declared access -> IAM, in one place so functions and state machines get the same meaning."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct
from segflow.declaration import (
    Access,
    ArnLikeCondition,
    BucketGrant,
    ServiceGrant,
    StateMachineGrant,
    TableGrant,
)

from segflow_infra.cdk_util import acknowledge, arn_token, state_machine_arn, state_machine_name, states_arn

# Object-level actions only: nothing may list, delete or change ACLs. AbortMultipartUpload lets a writer
# clean up its own large upload; CreateMultipartUpload/UploadPart are covered by s3:PutObject.
S3_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": ("s3:GetObject",),
    "write": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "read_write": ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
}

_TABLE_GRANTS: dict[Access, Callable[[dynamodb.Table, iam.IGrantable], iam.Grant]] = {
    "read": lambda table, grantee: table.grant_read_data(grantee),
    "write": lambda table, grantee: table.grant_write_data(grantee),
    "read_write": lambda table, grantee: table.grant_read_write_data(grantee),
}


def grant_table(table: dynamodb.Table, grant: TableGrant, grantee: iam.IGrantable) -> None:
    _TABLE_GRANTS[grant.access](table, grantee)


def s3_prefix_statement(bucket: s3.IBucket, grant: BucketGrant) -> iam.PolicyStatement:
    """The declared actions on ``<bucket>/<prefix>*`` for each declared prefix, nothing else."""
    if not grant.prefixes:
        raise ValueError(f"grant on {grant.bucket} names no prefix; whole-bucket access is not allowed")
    return iam.PolicyStatement(
        actions=list(S3_ACTIONS[grant.access]),
        resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in grant.prefixes],
    )


def acknowledge_prefix_wildcards(role: iam.Role, grants: tuple[BucketGrant, ...], who: str) -> None:
    """cdk-nag flags ``<prefix>*``; the wildcard is the least privilege possible for generated keys."""
    for bucket, prefix in sorted({(grant.bucket, prefix) for grant in grants for prefix in grant.prefixes}):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{arn_token(bucket)}/{prefix}*]",
            f"{who} may touch only objects under the declared '{prefix}' prefix of {bucket}; keys carry "
            "tenant and execution ids generated at run time, so no narrower ARN exists.",
        )


# What each declared state machine action allows, and on which ARN: "machine" is the state machine itself,
# "executions" every execution of it (execution ARNs carry the run-time execution name).
STATE_MACHINE_ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("states:StartExecution", "machine"),
    "describe": ("states:DescribeExecution", "executions"),
    "stop": ("states:StopExecution", "executions"),
}


def executions_arn(scope: IConstruct, logical_id: str) -> str:
    """``arn:…:execution:<state machine name>:*``: executions of one state machine (not its Map children)."""
    return states_arn(scope, "execution", f"{state_machine_name(scope, logical_id)}:*")


def state_machine_statements(scope: IConstruct, grant: StateMachineGrant) -> list[iam.PolicyStatement]:
    """One statement per declared action, on the state machine's ARN or its executions' ARN.

    The ARNs are built from the state machine's fixed name, so a grantee never depends on the state machine
    resource (which depends on the functions it invokes).
    """
    if not grant.actions:
        raise ValueError(f"grant on {grant.state_machine} names no action")
    resources = {
        "machine": state_machine_arn(scope, grant.state_machine),
        "executions": executions_arn(scope, grant.state_machine),
    }
    statements = []
    for declared in dict.fromkeys(grant.actions):
        try:
            action, target = STATE_MACHINE_ACTIONS[declared]
        except KeyError:
            raise ValueError(f"unknown state machine action {declared!r} on {grant.state_machine}") from None
        statements.append(iam.PolicyStatement(actions=[action], resources=[resources[target]]))
    return statements


def acknowledge_execution_wildcards(
    role: iam.Role, grants: tuple[StateMachineGrant, ...], who: str, scope: IConstruct
) -> None:
    """cdk-nag flags ``execution:<name>:*``; execution names are chosen per run, so none is narrower."""
    for grant in grants:
        if not any(STATE_MACHINE_ACTIONS[action][1] == "executions" for action in grant.actions):
            continue
        name = state_machine_name(scope, grant.state_machine)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
            f"execution:{name}:*]",
            f"{who} may describe or stop only executions of {name}; their names are chosen per execution at "
            "run time, so no narrower ARN exists.",
        )


def _arn(scope: IConstruct, service: str, resource: str, overrides: dict[str, str]) -> str:
    if resource == "*":
        return "*"
    kind, _, name = resource.partition("/")
    return cdk.Stack.of(scope).format_arn(
        service=service, resource=kind, resource_name=name or None, **overrides
    )


def _service_arn(scope: IConstruct, grant: ServiceGrant, resource: str) -> str:
    return _arn(scope, grant.service, resource, grant.arn_overrides())


def _nag_spelling(resource: str) -> str:
    """A resource as cdk-nag writes it in a finding id: policy variables ``${x}`` as ``<x>``."""
    return resource.replace("${", "<").replace("}", ">")


def _nag_scope(grant: ServiceGrant) -> str:
    """The region and account of the grant's ARNs as cdk-nag writes them."""
    return {
        "account": "<AWS::Region>:<AWS::AccountId>",
        "region": "<AWS::Region>:",
        "any_region": "*:",
        "none": ":",
    }[grant.arn_scope]


def service_statement(scope: IConstruct, grant: ServiceGrant) -> iam.PolicyStatement:
    """The declared actions on the declared resources (of the stack's region and account unless the grant's
    scope says otherwise), under the declared condition if any."""
    if not grant.actions or not grant.resources:
        raise ValueError(f"a {grant.service} grant needs actions and resources")
    conditions = None
    condition = grant.condition
    if isinstance(condition, ArnLikeCondition):
        values = [_arn(scope, condition.service, r, {}) for r in condition.resources]
        conditions = {"ArnLike": {condition.key: values}}
    elif condition is not None:
        conditions = {condition.operator: {condition.key: list(condition.values)}}
    return iam.PolicyStatement(
        actions=list(grant.actions),
        resources=[_service_arn(scope, grant, r) for r in grant.resources],
        conditions=conditions,
    )


def pass_role_statement(role_arn: str, service_principal: str) -> iam.PolicyStatement:
    """iam:PassRole on one role, and only to one service."""
    return iam.PolicyStatement(
        actions=["iam:PassRole"],
        resources=[role_arn],
        conditions={"StringEquals": {"iam:PassedToService": service_principal}},
    )


def acknowledge_service_wildcards(role: iam.Role, grants: tuple[ServiceGrant, ...], who: str) -> None:
    """cdk-nag flags ``<kind>/<prefix>*``: the names are chosen at run time, within the declared prefix."""
    for grant in grants:
        for resource in grant.resources:
            if resource == "*" or not resource.endswith("*"):
                continue
            kind, _, name = resource.partition("/")
            where = (
                "in any region, only through an inference profile of this account and region "
                f"({grant.condition.key})"
                if grant.arn_scope == "any_region" and isinstance(grant.condition, ArnLikeCondition)
                else "names chosen at run time"
            )
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{grant.service}:{_nag_scope(grant)}:"
                f"{_nag_spelling(resource)}]",
                f"{who} may use only {grant.service} {kind} resources matching {name}, {where} (SageMaker "
                "resources per tenant, model and environment; any registry version; any foundation model or "
                "inference profile a workflow names, a cross-region profile reaching the model in each of "
                "its destination regions; keys under the tenant's own segflow/<tenant>/ path).",
            )


def acknowledge_user_resource_wildcards(role: iam.Role, grants: tuple[ServiceGrant, ...]) -> None:
    """cdk-nag flags ``table/<name>/index/*`` and ``<bucket>/*`` of the user's resources, named at deploy."""
    for grant in grants:
        for resource in grant.resources:
            if not resource.endswith("*"):
                continue
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{grant.service}:{_nag_scope(grant)}:"
                f"{_nag_spelling(resource)}]",
                f"{', '.join(grant.actions)} on the {resource.removesuffix('/*')} the deployment named "
                "(its indexes; its objects, whose keys workflows choose at run time); nothing else.",
            )
