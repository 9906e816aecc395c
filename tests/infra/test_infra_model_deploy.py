"""deploy/model in the stack: the deployments table, SageMaker grants on segflow-* names, and the one
execution role the stack may pass (``-c sagemaker_execution_role_arn=...``), only to SageMaker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.declaration import DEPLOYMENTS_TABLE, MODEL_DEPLOY_FUNCTION, NODE_ROLE, SAGEMAKER_ROLE_ENV

from tests.infra.infra_helpers import role_of, role_statements

pytestmark = pytest.mark.infra

ROLE_ARN = "arn:aws:iam::123456789012:role/churn-model-execution"


@pytest.fixture(scope="module")
def role_synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from segflow_infra.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.sagemaker")
    app, stack = build_app(context={"sagemaker_execution_role_arn": ROLE_ARN}, outdir=str(outdir))
    app.synth()
    return json.loads((outdir / f"{stack.stack_name}.template.json").read_text())["Resources"]


def test_the_role_is_passed_only_to_sagemaker_and_only_by_the_node_role(
    role_synth: dict[str, Any],
) -> None:
    """Deploy nodes act for their tenant: the node role passes the execution role; no function does."""
    passes = {}
    roles = {role_of(r): lid for lid, r in role_synth.items() if r["Type"] == "AWS::Lambda::Function"}
    roles[NODE_ROLE.logical_id] = NODE_ROLE.logical_id
    for role, owner in roles.items():
        for statement in role_statements(role_synth, role):
            actions = statement.get("Action", [])
            if statement["Effect"] == "Allow" and "iam:PassRole" in (
                actions if isinstance(actions, list) else [actions]
            ):
                passes[owner] = statement
    assert list(passes) == [NODE_ROLE.logical_id]
    statement = passes[NODE_ROLE.logical_id]
    assert statement["Resource"] == ROLE_ARN
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    variables = role_synth[MODEL_DEPLOY_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert variables[SAGEMAKER_ROLE_ENV] == ROLE_ARN


def test_without_the_context_nothing_may_be_passed(synth: Any) -> None:
    function = synth.resources[MODEL_DEPLOY_FUNCTION]
    statements = role_statements(synth.resources, role_of(function))
    statements += role_statements(synth.resources, NODE_ROLE.logical_id)
    assert not [s for s in statements if "iam:PassRole" in json.dumps(s.get("Action", ""))]
    assert function["Properties"]["Environment"]["Variables"][SAGEMAKER_ROLE_ENV] == ""


def test_the_deployments_table_keeps_its_records(synth: Any) -> None:
    table = synth.resources[DEPLOYMENTS_TABLE.logical_id]["Properties"]
    assert "TimeToLiveSpecification" not in table, "the deployment log is an audit trail"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"by_tenant", "by_model"}


def test_a_malformed_role_arn_is_refused() -> None:
    from segflow_infra.application import sagemaker_execution_role_arn

    with pytest.raises(ValueError, match="sagemaker_execution_role_arn"):
        sagemaker_execution_role_arn({"sagemaker_execution_role_arn": "churn-role"}.get)
