"""Helpers for end-to-end tests: what a user can observe of an execution (records, outputs, storage)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from segflow import declaration
from segflow.domain import s3_layout

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import InvokeResult, local_function_name
from tests.support.stores import stores_of


def unique_path(prefix: str) -> str:
    """A route path no other test uses (the HTTP server is shared by the session)."""
    return f"/{prefix}-{uuid.uuid4().hex[:10]}"


def node_outputs(client: SegflowClient, execution_arn: str) -> dict[str, Any]:
    """Every succeeded node's output, loaded from DynamoDB or S3 as the engine stored it."""
    return {
        node_id: client.node_output(record)
        for node_id, record in client.node_records(execution_arn).items()
        if record.status == "succeeded"
    }


def statuses(client: SegflowClient, execution_arn: str, workflow: dict[str, Any]) -> dict[str, str]:
    """node_id -> status as a user sees it (pending when the node has no record)."""
    return {view.node_id: view.status for view in client.node_views(execution_arn, workflow)}


def final_output(client: SegflowClient, execution_arn: str) -> Any:
    result = client.output(execution_arn)
    assert result is not None, "a succeeded execution has an output"
    return result["output"]


def s3_object_count(client: SegflowClient, prefix: str = "") -> int:
    count = 0
    pages = stores_of(client).s3.get_paginator("list_objects_v2")
    for page in pages.paginate(Bucket=client.resources.bucket, Prefix=prefix):
        count += page.get("KeyCount", 0)
    return count


def dynamodb_item_count(embedded: EmbeddedAws, table: str) -> int:
    dynamodb = embedded.client("dynamodb")
    count = 0
    kwargs: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    while True:
        page = dynamodb.scan(**kwargs)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            return count
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def execution_count(client: SegflowClient) -> int:
    pages = (
        stores_of(client)
        .sfn.get_paginator("list_executions")
        .paginate(stateMachineArn=client.resources.state_machine_arn)
    )
    return sum(len(page["executions"]) for page in pages)


def plans_prefix(client: SegflowClient, workflow_id: str) -> str:
    """Where every plan of the workflow is stored (one per definition and code version, not per execution)."""
    return f"{s3_layout.MANIFESTS}{client.tenant_id}/{workflow_id}/"


def invoke(embedded: EmbeddedAws, function: declaration.FunctionSpec, event: dict[str, Any]) -> InvokeResult:
    """Invoke a deployed function the way the state machine does (through the embedded Lambda runtime)."""
    name = local_function_name(embedded.runtime.stage, function)
    return embedded.runtime.invoke(name, json.dumps(event).encode())


def payload_of(result: InvokeResult) -> Any:
    return json.loads(result.payload)


def create_pk_sk_table(dynamodb: Any, name: str) -> None:
    """A table keyed as segflow's own are (string ``pk`` and ``sk``), on demand."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def create_key_table(dynamodb: Any, name: str, key: str) -> None:
    """A user's own table with a string hash key (what data nodes write to), on demand."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
