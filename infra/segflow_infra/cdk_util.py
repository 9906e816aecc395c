"""Small helpers shared by the constructs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def api_access_logs(scope: Construct, name: str, days: int) -> logs.LogGroup:
    """An API Gateway stage's access-log group. The /aws/vendedlogs/ prefix keeps log delivery from adding to
    the account's size-limited CloudWatch Logs resource policy."""
    return logs.LogGroup(
        scope,
        "AccessLogs",
        log_group_name=f"/aws/vendedlogs/apigateway/{name}",
        retention=retention(days),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only certain retention periods; fail at synth on any other."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"unsupported log retention {days} days; use one of {sorted(_RETENTION)}") from None


def pin_logical_id(construct: IConstruct, logical_id: str) -> None:
    """Give a declared resource its declaration logical id in the template (no path prefix, no hash)."""
    default_child = construct.node.default_child
    if not isinstance(default_child, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to rename")
    default_child.override_logical_id(logical_id)


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one cdk-nag finding on ``scope`` (and its children) for a stated reason."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def arn_token(logical_id: str, attribute: str = "Arn") -> str:
    """How cdk-nag spells a ``Fn::GetAtt`` inside a finding id, e.g. ``<DataBucket.Arn>``."""
    return f"<{logical_id}.{attribute}>"


def state_machine_name(scope: IConstruct, logical_id: str) -> str:
    """The fixed name of a declared state machine: ``<stack name>-<logical id>``.

    Fixed names let roles and environments name a state machine's ARNs without referencing the resource,
    so a function may be granted access to a state machine that invokes it without a dependency cycle.
    """
    return f"{cdk.Stack.of(scope).stack_name}-{logical_id}"


def states_arn(scope: IConstruct, resource: str, resource_name: str) -> str:
    """``arn:<partition>:states:<region>:<account>:<resource>:<resource_name>``."""
    return cdk.Stack.of(scope).format_arn(
        service="states",
        resource=resource,
        resource_name=resource_name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


def state_machine_arn(scope: IConstruct, logical_id: str) -> str:
    return states_arn(scope, "stateMachine", state_machine_name(scope, logical_id))
