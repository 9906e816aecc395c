"""A table or bucket shared by tenants, named as keyed by tenant (``-c tenant_data_tables=…``,
``-c tenant_data_buckets=…``): each tenant's nodes reach only its own items and objects, by IAM
(``dynamodb:LeadingKeys`` and key prefixes against the session's tenant tag)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from segflow.declaration import UserResources

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import node_outputs
from tests.support.workflows import data_query, dynamodb_update, workflow

pytestmark = pytest.mark.e2e

ACME, GLOBEX = f"acme-{uuid.uuid4().hex[:6]}", f"globex-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def shared_table(embedded: EmbeddedAws) -> Iterator[str]:
    """Keyed by ``<tenant>#<order>`` (hash) with a ``by_status`` index keyed by ``<tenant>#<status>``."""
    name = f"shared-orders-{uuid.uuid4().hex[:6]}"
    dynamodb = embedded.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "status")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for tenant in (ACME, GLOBEX):
        item = {"pk": {"S": f"{tenant}#1"}, "status": {"S": f"{tenant}#open"}, "total": {"N": "10"}}
        dynamodb.put_item(TableName=name, Item=item)
    embedded.stack.grant_user_resources(UserResources(tenant_tables=(name,)))
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def shared_bucket(embedded: EmbeddedAws) -> str:
    name = f"shared-reports-{uuid.uuid4().hex[:6]}"
    s3 = embedded.client("s3")
    s3.create_bucket(Bucket=name)
    for tenant in (ACME, GLOBEX):
        s3.put_object(Bucket=name, Key=f"{tenant}/report.json", Body=json.dumps({"owner": tenant}).encode())
    embedded.stack.grant_user_resources(UserResources(tenant_buckets=(name,)))
    return name


def run_as(embedded: EmbeddedAws, client: SegflowClient, tenant: str, node: dict[str, Any]) -> Any:
    tenant_client = SegflowClient(embedded.session, client.resources, tenant_id=tenant)
    arn, description = run_to_end(tenant_client, workflow("shared", [node]))
    return tenant_client, arn, description


def refused(description: dict[str, Any], action: str) -> bool:
    cause = description.get("cause") or ""
    return (
        description["status"] == "FAILED"
        and f"assumed-role/segflow-test-tenantnoderole/tenant-{ACME} is not authorized to perform: {action}"
        in cause
    )


def test_a_tenant_reads_its_own_items_and_is_refused_anothers(
    embedded: EmbeddedAws, client: SegflowClient, shared_table: str
) -> None:
    def get(key: str) -> Any:
        node = data_query("read", "dynamodb", operation="get", table=shared_table, key={"pk": key})
        return run_as(embedded, client, ACME, node)

    own, arn, description = get(f"{ACME}#1")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(own, arn)["read"]["pk"] == f"{ACME}#1"
    _, _, description = get(f"{GLOBEX}#1")
    assert refused(description, "dynamodb:GetItem"), description
    _, _, description = get(ACME + "-lookalike#1")  # a longer tenant id sharing the prefix
    assert refused(description, "dynamodb:GetItem"), description


def test_a_tenant_queries_only_its_own_partitions_also_through_an_index(
    embedded: EmbeddedAws, client: SegflowClient, shared_table: str
) -> None:
    def query(status: str) -> Any:
        node = data_query(
            "read",
            "dynamodb",
            operation="query",
            table=shared_table,
            index="by_status",
            key_condition_expression="#s = :s",
            expression_attribute_names={"#s": "status"},
            expression_attribute_values={":s": status},
        )
        return run_as(embedded, client, ACME, node)

    own, arn, description = query(f"{ACME}#open")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert [item["pk"] for item in node_outputs(own, arn)["read"]] == [f"{ACME}#1"]
    _, _, description = query(f"{GLOBEX}#open")
    assert refused(description, "dynamodb:Query"), description


def test_a_tenant_cannot_update_another_tenants_item(
    embedded: EmbeddedAws, client: SegflowClient, shared_table: str
) -> None:
    node = dynamodb_update(
        "write", shared_table, {"pk": f"{GLOBEX}#1"}, "SET total = :t", expression_attribute_values={":t": 0}
    )
    _, _, description = run_as(embedded, client, ACME, node)
    assert refused(description, "dynamodb:UpdateItem"), description
    item = embedded.client("dynamodb").get_item(TableName=shared_table, Key={"pk": {"S": f"{GLOBEX}#1"}})
    assert item["Item"]["total"] == {"N": "10"}


def test_a_tenant_reads_only_objects_under_its_own_prefix(
    embedded: EmbeddedAws, client: SegflowClient, shared_bucket: str
) -> None:
    def read(key: str) -> Any:
        node = data_query("read", "s3", bucket=shared_bucket, key=key, format="json")
        return run_as(embedded, client, ACME, node)

    own, arn, description = read(f"{ACME}/report.json")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(own, arn)["read"] == {"owner": ACME}
    _, _, description = read(f"{GLOBEX}/report.json")
    assert refused(description, "s3:GetObject"), description
