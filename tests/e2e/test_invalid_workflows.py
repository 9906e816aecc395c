"""Invalid workflows are refused before anything is written, whether they come through the client or not."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.support.e2e import dynamodb_item_count, execution_count, plans_prefix, s3_object_count
from tests.support.stores import stores_of
from tests.support.workflows import edge, transform, workflow

pytestmark = pytest.mark.e2e

SEED_ROLLBACK_NODE = {
    "node_id": "rollback_on_error",
    "type": "rollback",
    "target_type": "workflow",
    "config": {"workflow_id": "{{current_workflow_id}}", "version": 2, "reason": "Error detected in v3"},
}
# Not a version number, 'previous' or a template: refused before anything runs.
BAD_ROLLBACK_NODE = {
    **SEED_ROLLBACK_NODE,
    "config": {**SEED_ROLLBACK_NODE["config"], "version": "latest-ish"},
}


def invalid_workflow() -> dict[str, Any]:
    """Valid JSON, invalid workflow: 'report' reads a node that does not run before it."""
    return workflow(
        "invalid",
        [transform("fetch", 1), transform("other", 2), transform("report", "{{ nodes.other.v }}")],
        [edge("fetch", "report")],
    )


def rollback_workflow() -> dict[str, Any]:
    return workflow(
        "with-rollback",
        [transform("check", {"ok": False}), BAD_ROLLBACK_NODE],
        [edge("check", "rollback_on_error")],
    )


def storage_snapshot(client: SegflowClient, embedded: EmbeddedAws) -> tuple[int, int, int]:
    return (
        s3_object_count(client),
        dynamodb_item_count(embedded, client.resources.executions_table),
        execution_count(client),
    )


@pytest.mark.parametrize(
    "definition", [invalid_workflow, rollback_workflow], ids=["invalid", "rollback-bad-version"]
)
def test_the_client_refuses_it_and_writes_nothing(
    client: SegflowClient, embedded: EmbeddedAws, definition: Any
) -> None:
    before = storage_snapshot(client, embedded)
    with pytest.raises(WorkflowValidationError) as caught:
        client.start(definition())
    after = storage_snapshot(client, embedded)
    assert after == before, "no S3 object, no DynamoDB item, no execution"
    issue = caught.value.issues[0]
    if definition is invalid_workflow:
        assert issue.location == "node 'report'" and "nodes.other" in issue.message
    else:
        assert issue.location == "node 'rollback_on_error'" and "config.version" in issue.message


def upload(client: SegflowClient, document: Any, tenant: str = "default") -> str:
    """Put a workflow where submissions go, bypassing the client's validation."""
    body = json.dumps(document).encode()
    key = f"submissions/{tenant}/workflows/{hashlib.sha256(body).hexdigest()}.json"
    stores_of(client).s3.put_object(Bucket=client.resources.bucket, Key=key, Body=body)
    return key


def start_directly(client: SegflowClient, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = f"{request['tenant_id']}.direct-{uuid.uuid4().hex[:12]}"
    arn = stores_of(client).sfn.start_execution(
        stateMachineArn=client.resources.state_machine_arn, name=name, input=json.dumps(request)
    )["executionArn"]
    return arn, client.wait(arn, timeout_seconds=60)


@pytest.mark.parametrize(
    ("definition", "node"),
    [(invalid_workflow, "report"), (rollback_workflow, "rollback_on_error")],
    ids=["invalid", "rollback"],
)
def test_a_start_that_bypasses_the_client_fails_in_initialization_and_writes_nothing(
    client: SegflowClient, embedded: EmbeddedAws, definition: Any, node: str
) -> None:
    # Given an invalid workflow uploaded straight to S3
    document = definition()
    key = upload(client, document)
    tables_before = dynamodb_item_count(embedded, client.resources.executions_table)

    # When the state machine is started on it directly
    arn, description = start_directly(client, {"tenant_id": "default", "workflow": {"s3_key": key}})

    # Then the execution fails with WorkflowValidationError naming the node
    assert description["status"] == "FAILED"
    assert description["error"] == "WorkflowValidationError"
    assert f"node '{node}'" in description["cause"]
    # and no manifest, reference copy or record was written for it
    assert s3_object_count(client, plans_prefix(client, document["workflow_id"])) == 0
    assert s3_object_count(client, f"reference/workflow-configs/default/{document['workflow_id']}/") == 0
    assert s3_object_count(client, f"reference/workflow-partitions/default/{document['workflow_id']}/") == 0
    assert client.execution_record(arn) is None
    assert dynamodb_item_count(embedded, client.resources.executions_table) == tables_before


def test_a_malformed_request_fails_naming_the_field(client: SegflowClient) -> None:
    arn, description = start_directly(client, {"tenant_id": "default", "workflow": {"key": "x"}})
    assert description["status"] == "FAILED"
    assert "workflow.s3_key" in description["cause"] or "s3_key" in description["cause"]
    assert client.execution_record(arn) is None


def test_a_workflow_of_another_tenant_is_refused(client: SegflowClient) -> None:
    key = upload(client, workflow("other-tenant", [transform("a", 1)]), tenant="acme")
    arn, description = start_directly(client, {"tenant_id": "default", "workflow": {"s3_key": key}})
    assert description["status"] == "FAILED"
    assert "submissions/default/" in description["cause"]
    assert client.execution_record(arn) is None


def test_a_missing_submission_fails_cleanly(client: SegflowClient) -> None:
    key = "submissions/default/workflows/does-not-exist.json"
    _, description = start_directly(client, {"tenant_id": "default", "workflow": {"s3_key": key}})
    assert description["status"] == "FAILED"
    assert key in description["cause"]


def test_an_initialization_failure_has_a_readable_cause(client: SegflowClient) -> None:
    key = upload(client, invalid_workflow())
    _, description = start_directly(client, {"tenant_id": "default", "workflow": {"s3_key": key}})
    assert description["error"] == "WorkflowValidationError"
    assert description["cause"].startswith("invalid workflow"), description["cause"][:200]
    assert "stackTrace" not in description["cause"]
