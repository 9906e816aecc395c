"""Checkpoints (node records) in the executions table: keyed per execution, expiring through TTL."""

from __future__ import annotations

import time
from typing import Any

import pytest
from segflow.adapters.execution_records import LAUNCH
from segflow.declaration import EXECUTE_SEGMENT, EXECUTIONS_TABLE
from segflow.domain.ids import execution_id_of
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS, LAUNCH_NOTE_KEPT_SECONDS, RETENTION_DAYS_ENV

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


def items_of(embedded: EmbeddedAws, table: str, pk_prefix: str) -> list[dict[str, Any]]:
    dynamodb = embedded.client("dynamodb")
    items, kwargs = [], {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [i for i in page["Items"] if i["pk"]["S"].startswith(pk_prefix)]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_checkpoints_are_keyed_per_execution_and_carry_the_ttl_attribute(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    table = client.resources.executions_table
    key_schema = embedded.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    assert [(k["AttributeName"], k["KeyType"]) for k in key_schema] == [("pk", "HASH"), ("sk", "RANGE")]
    ttl = embedded.client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", EXECUTIONS_TABLE.ttl_attribute)

    # Given two executions of the same workflow (a wait node leaves a 'waiting' checkpoint on the way)
    document = workflow(
        "checkpointed",
        [transform("a", 1), wait("pause", 1), transform("b", 2)],
        chain_edges(["a", "pause", "b"]),
    )
    started = time.time()
    first, _ = run_to_end(client, document)
    second, _ = run_to_end(client, document)

    for arn in (first, second):
        execution_id = execution_id_of(arn)
        items = items_of(embedded, table, f"EXEC#default#{execution_id}")
        nodes = [i for i in items if i["sk"]["S"].startswith("NODE")]
        # Then every checkpoint of the execution lives under its own partition key, never the workflow's:
        # the wait node's item, and the pages of the pure nodes, one per segment
        assert {i["pk"]["S"] for i in nodes} == {f"EXEC#default#{execution_id}"}
        assert sorted(i["sk"]["S"] for i in nodes) == ["NODE#pause", "NODES#s00001#a", "NODES#s00002#b"]
        assert set(client.node_records(arn)) == {"a", "pause", "b"}
        # and every item of the execution expires after the retention period
        retention = EXECUTION_DATA_RETENTION_DAYS * 86_400
        for item in items:
            expires_at = int(item[EXECUTIONS_TABLE.ttl_attribute]["N"])
            if item["sk"]["S"] == LAUNCH:  # the note of the start: read in its first minutes, kept a day
                assert expires_at <= time.time() + LAUNCH_NOTE_KEPT_SECONDS + 5
                continue
            assert started + retention - 5 <= expires_at <= time.time() + retention + 5, item["sk"]
    # nothing is keyed by the workflow: every item names one execution (the execution ids begin with it)
    executions = tuple(f"EXEC#default#{execution_id_of(arn)}" for arn in (first, second))
    keys = {i["pk"]["S"] for i in items_of(embedded, table, "EXEC#default#checkpointed")}
    assert keys and all(key.startswith(executions) for key in keys)


def test_the_retention_the_stack_sets_is_the_checkpoints_ttl(
    client: SegflowClient, embedded: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stack passes -c retention_days=N to every function as SEGFLOW_RETENTION_DAYS
    monkeypatch.setattr(embedded.stack, "retention_days", 2)
    assert embedded.stack.function_environment(EXECUTE_SEGMENT)[RETENTION_DAYS_ENV] == "2"
    started = time.time()
    arn, _ = run_to_end(client, workflow("short-lived", [transform("only", 1)]))
    items = items_of(embedded, client.resources.executions_table, f"EXEC#default#{execution_id_of(arn)}")
    assert items
    for item in items:
        expires_at = int(item[EXECUTIONS_TABLE.ttl_attribute]["N"])
        if item["sk"]["S"] == LAUNCH:  # the note of the start: read in its first minutes, kept a day at most
            assert expires_at <= time.time() + LAUNCH_NOTE_KEPT_SECONDS + 5
            continue
        assert started + 2 * 86_400 - 5 <= expires_at <= time.time() + 2 * 86_400 + 5, item["sk"]
