"""Nodes act for their tenant with the node role's session, never with the engine's role.

Tenant B's workflows aim every kind of node at segflow's own tables and bucket, and at tenant A's records in
them: IAM refuses each (AccessDenied naming B's session of the node role), A's records are unchanged, and a
deployer who names segflow's own resources as user resources changes nothing (an explicit deny).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from segflow import declaration
from segflow.adapters import factory
from segflow.adapters.workflow_versions import workflow_pk
from segflow.declaration import UserResources
from segflow.domain import s3_layout
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.waiting import wait_for
from tests.support.workflows import approval, data_query, dynamodb_update, edge, transform, workflow

pytestmark = pytest.mark.e2e

TENANT_A = f"iso-a-{uuid.uuid4().hex[:6]}"
TENANT_B = f"iso-b-{uuid.uuid4().hex[:6]}"
SESSION_OF_B = f"assumed-role/segflow-test-tenantnoderole/tenant-{TENANT_B}"


def client_of(embedded: EmbeddedAws, client: SegflowClient, tenant: str) -> SegflowClient:
    return SegflowClient(embedded.session, client.resources, tenant_id=tenant)


@pytest.fixture(scope="module")
def tenant_a(embedded: EmbeddedAws, client: SegflowClient) -> dict[str, Any]:
    """Tenant A: a published workflow that posts its input somewhere, and one finished execution."""
    workflow_id = f"payroll-{uuid.uuid4().hex[:6]}"
    definition = workflow(workflow_id, [transform("pay", {"ssn": "{{ input.ssn }}"})])
    with embedded.running_as("ManagementApi"):
        version, _ = factory.workflow_versions().publish(TENANT_A, definition, "alice")
    arn, description = run_to_end(client_of(embedded, client, TENANT_A), definition, {"ssn": "078-05-1120"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    return {"workflow_id": workflow_id, "version": version.version, "execution_arn": arn}


def table_name(client: SegflowClient, logical_id: str) -> str:
    names: dict[str, str | None] = {
        declaration.EXECUTIONS_TABLE.logical_id: client.resources.executions_table,
        declaration.WORKFLOWS_TABLE.logical_id: client.resources.workflows_table,
        declaration.EVENTS_TABLE.logical_id: client.resources.events_table,
        declaration.DEPLOYMENTS_TABLE.logical_id: client.resources.deployments_table,
    }
    name = names[logical_id]
    assert name is not None
    return name


def run_as_b(embedded: EmbeddedAws, client: SegflowClient, node: dict[str, Any]) -> dict[str, Any]:
    node_id = node["node_id"]
    wf = workflow(
        "snoop", [node, transform("report", "{{ nodes." + node_id + " }}")], [edge(node_id, "report")]
    )
    _, description = run_to_end(client_of(embedded, client, TENANT_B), wf)
    return description


def assert_refused_by_iam(description: dict[str, Any], action: str) -> None:
    assert description["status"] == "FAILED", "tenant B's node reached segflow's own storage"
    cause = description["cause"]
    assert "AccessDenied" in cause, cause
    assert f"{SESSION_OF_B} is not authorized to perform: {action}" in cause, cause


@pytest.mark.parametrize(
    "table",
    [
        declaration.EXECUTIONS_TABLE.logical_id,
        declaration.WORKFLOWS_TABLE.logical_id,
        declaration.EVENTS_TABLE.logical_id,
        declaration.DEPLOYMENTS_TABLE.logical_id,
    ],
)
def test_a_node_cannot_read_segflows_tables(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any], table: str
) -> None:
    key = {"pk": workflow_pk(TENANT_A, tenant_a["workflow_id"]), "sk": "META"}
    node = data_query("read", "dynamodb", operation="get", table=table_name(client, table), key=key)
    assert_refused_by_iam(run_as_b(embedded, client, node), "dynamodb:GetItem")


def test_a_node_cannot_list_another_tenants_workflows_through_the_index(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any]
) -> None:
    node = data_query(
        "read",
        "dynamodb",
        operation="query",
        table=client.resources.workflows_table,
        index="by_tenant",
        key_condition_expression="gsi1pk = :tenant",
        expression_attribute_values={":tenant": f"TENANT#{TENANT_A}"},
    )
    assert_refused_by_iam(run_as_b(embedded, client, node), "dynamodb:Query")


def test_a_node_cannot_rewrite_another_tenants_stored_definition(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any]
) -> None:
    workflows = client.resources.workflows_table
    assert workflows is not None
    pk = workflow_pk(TENANT_A, tenant_a["workflow_id"])
    before = embedded.client("dynamodb").query(
        TableName=workflows, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]
    node = dynamodb_update(
        "rewrite",
        workflows,
        {"pk": pk, "sk": "META"},
        "SET active_version = :v",
        expression_attribute_values={":v": 99},
    )
    assert_refused_by_iam(run_as_b(embedded, client, node), "dynamodb:UpdateItem")
    after = embedded.client("dynamodb").query(
        TableName=workflows, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]
    assert after == before


@pytest.mark.parametrize("prefix", [s3_layout.SUBMISSIONS, s3_layout.MANIFESTS, s3_layout.REFERENCE])
def test_a_node_cannot_read_segflows_bucket(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any], prefix: str
) -> None:
    """A's uploaded definition and input, A's manifest, A's reference copies."""
    listed = embedded.client("s3").list_objects_v2(Bucket=client.resources.bucket, Prefix=prefix)["Contents"]
    key_of_a = next(item["Key"] for item in listed if TENANT_A in item["Key"])
    node = data_query("read", "s3", bucket=client.resources.bucket, key=key_of_a, format="text")
    assert_refused_by_iam(run_as_b(embedded, client, node), "s3:GetObject")


def test_a_node_cannot_read_another_tenants_approval_task_token(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    a = client_of(embedded, client, TENANT_A)
    arn = a.start(workflow("gated", [approval("gate", "pay?")]))
    execution_id = execution_id_of(arn)
    key = {"pk": f"EXEC#{TENANT_A}#{execution_id}", "sk": "APPROVAL#gate"}
    wait_for(lambda: "task_token" in _item(embedded, client, key), "A's approval to wait with its token", 30)
    try:
        node = data_query(
            "read", "dynamodb", operation="get", table=client.resources.executions_table, key=key
        )
        assert_refused_by_iam(run_as_b(embedded, client, node), "dynamodb:GetItem")
    finally:
        a.stop(arn)


def _item(embedded: EmbeddedAws, client: SegflowClient, key: dict[str, str]) -> dict[str, Any]:
    answer = embedded.client("dynamodb").get_item(
        TableName=client.resources.executions_table, Key={k: {"S": v} for k, v in key.items()}
    )
    return dict(answer.get("Item", {}))


def test_naming_segflows_own_storage_as_user_resources_grants_nothing(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any]
) -> None:
    """A deployer's mistake (``-c data_tables=<segflow's table>``): the node role's explicit deny holds."""
    embedded.stack.grant_user_resources(
        UserResources(tables=(client.resources.executions_table,), buckets=(client.resources.bucket,))
    )
    key = {"pk": f"EXEC#{TENANT_A}#{execution_id_of(tenant_a['execution_arn'])}", "sk": "META"}
    node = data_query("read", "dynamodb", operation="get", table=client.resources.executions_table, key=key)
    description = run_as_b(embedded, client, node)
    assert_refused_by_iam(description, "dynamodb:GetItem")
    assert "with an explicit deny" in description["cause"]


def test_a_node_cannot_forge_another_tenants_effect_marker(
    embedded: EmbeddedAws, client: SegflowClient, tenant_a: dict[str, Any]
) -> None:
    """The one item the node role may write in segflow's tables is its own tenant's effect marker, by PutItem
    inside the node's transaction: an update node aimed at A's marker partition is refused."""
    node = dynamodb_update(
        "forge",
        client.resources.executions_table,
        {"pk": f"EFFECT#{TENANT_A}#any", "sk": "NODE#charge"},
        "SET applied_at = :t",
        expression_attribute_values={":t": 1},
    )
    assert_refused_by_iam(run_as_b(embedded, client, node), "dynamodb:UpdateItem")
