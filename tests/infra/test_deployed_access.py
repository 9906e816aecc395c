"""The IAM the local runtime enforces is the IAM that deploys.

infra/deployed-access.json (what segflow_local enforces) must equal what a fresh synth grants each function's
role; the grants the local provisioner adds for your named resources (the stack's contexts) must equal what
the stack adds for the same contexts; each function's environment locally must equal the stack's, value for
value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from segflow import declaration
from segflow.declaration import UserResources
from segflow.domain.egress import EGRESS_ALLOW_ENV

from segflow_local.deployed_access import (
    SNAPSHOT_PATH,
    LocalNames,
    _abstract_stage,
    _Resolver,
    load_snapshot,
    resolve_policies,
    snapshot_from_template,
)
from segflow_local.embedded import EmbeddedAws
from segflow_local.iam_policy import Policy
from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from segflow_local.provisioner import SAGEMAKER_ROLE_ARN, pass_role_statements, user_grant_statements

pytestmark = pytest.mark.infra

USER_CONTEXT = {
    "data_tables": "orders,stock",
    "data_buckets": "example-orders",
    "notification_topics": "order-events,order-events.fifo",
    "invoke_functions": "score-order",
    "tenant_data_tables": "shared-orders",
    "tenant_data_buckets": "shared-reports",
    declaration.SAGEMAKER_ROLE_CONTEXT: SAGEMAKER_ROLE_ARN,
}
USER_RESOURCES = UserResources(
    tables=("orders", "stock"),
    buckets=("example-orders",),
    topics=("order-events", "order-events.fifo"),
    functions=("score-order",),
    tenant_tables=("shared-orders",),
    tenant_buckets=("shared-reports",),
)


def _names(embedded: EmbeddedAws) -> LocalNames:
    from segflow_local.provisioner import _local_names

    return _local_names(embedded.stack, embedded.client("dynamodb"))


def _grants(policy: Policy) -> set[tuple[str, str, str]]:
    """(action, resource, conditions) allowed: statements compared by meaning, however CDK merged them."""
    return {
        (action.lower(), resource, json.dumps(statement.conditions, sort_keys=True, default=list))
        for statement in policy.statements
        if statement.effect == "Allow"
        for action in statement.actions
        for resource in statement.resources
    }


def test_the_snapshot_is_what_the_stack_synthesizes(synth: Any) -> None:
    fresh = snapshot_from_template(synth.template, "dev")
    assert fresh == {k: v for k, v in load_snapshot().items() if k != "comment"} | {
        "comment": fresh["comment"]
    }, f"{SNAPSHOT_PATH.name} is out of date: run `make access`"


def test_every_function_the_state_machine_and_the_node_role_have_a_policy(embedded: EmbeddedAws) -> None:
    expected = {spec.logical_id for spec in declaration.FUNCTIONS} | {"StateMachine", "TenantNodeRole"}
    assert set(embedded.stack.policies) == expected


def test_local_user_resource_grants_are_the_stacks(tmp_path: Path, embedded: EmbeddedAws) -> None:
    from segflow_infra.application import build_app

    app, stack = build_app(context=USER_CONTEXT, outdir=str(tmp_path))
    app.synth()
    template = json.loads((tmp_path / f"{stack.stack_name}.template.json").read_text())
    names = _names(embedded)
    with_users = resolve_policies(snapshot_from_template(template, "dev"), names)
    without = resolve_policies(load_snapshot(), names)
    for spec in declaration.FUNCTIONS:  # user resources change no function's policy
        assert _grants(without[spec.logical_id]) == _grants(with_users[spec.logical_id]), spec.logical_id
    node_role = declaration.NODE_ROLE.logical_id
    local = Policy(
        without[node_role].statements
        + user_grant_statements(USER_RESOURCES, LOCAL_REGION, LOCAL_ACCOUNT_ID)
        + pass_role_statements(SAGEMAKER_ROLE_ARN)
    )
    assert _grants(local) == _grants(with_users[node_role])


def test_each_function_gets_exactly_the_stacks_environment(synth: Any, embedded: EmbeddedAws) -> None:
    """Value for value, with local names; except what only the deployment decides (API auth mode, the
    @connections URL, the SageMaker role), which must still be present exactly where the stack sets it."""
    from segflow_infra.api_auth import API_AUTH_ENV, TENANT_CLAIM_ENV

    deployment_specific = {
        API_AUTH_ENV,
        TENANT_CLAIM_ENV,
        declaration.SAGEMAKER_ROLE_ENV,
        *(api.env_var for api in declaration.WEBSOCKET_APIS),
        # the local runtime allows loopback (the examples' servers); the stack's default list is empty
        EGRESS_ALLOW_ENV,
    }
    resolver = _Resolver(_names(embedded), {})
    for spec in declaration.FUNCTIONS:
        stack = synth.resources[spec.logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        local = embedded.stack.function_environment(spec)
        local_names = set(local) - {API_AUTH_ENV, TENANT_CLAIM_ENV}
        assert local_names == set(stack) - {API_AUTH_ENV, TENANT_CLAIM_ENV}, spec.logical_id
        for name, value in stack.items():
            if name in deployment_specific:
                continue
            assert local[name] == resolver.value(_abstract_stage(value, "dev")), f"{spec.logical_id}: {name}"
