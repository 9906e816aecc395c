"""An execution whose history would pass Step Functions' 25,000 events continues in new executions.

800 diamonds in a row (a step, two API calls in parallel, a join) make 1,601 stages, 1,600 of them Maps (the
calls may each take all an invocation has: a batch each): in one execution that is over 25,000 history
events. segflow continues at a stage boundary once its estimate nears the budget; every part's history stays
under the limit, and every node runs exactly once.
"""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from segflow.domain.limits import HISTORY_EVENT_BUDGET, STEP_FUNCTIONS_HISTORY_EVENT_LIMIT
from segflow.engine.batching import BATCH_SECONDS

from segflow_cli.client import SegflowClient
from tests.support.e2e import unique_path
from tests.support.history import full_history
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import api_call, edge, transform, workflow

pytestmark = pytest.mark.e2e

DIAMONDS = 800


def diamonds(url: str, count: int) -> dict:
    nodes, edges = [transform("start", {"step": 0})], []
    previous = "start"
    for index in range(count):
        left, right, join = f"left{index}", f"right{index}", f"join{index}"
        nodes += [
            api_call(left, url, body={"diamond": index, "side": "left"}, timeout_seconds=BATCH_SECONDS),
            api_call(right, url, body={"diamond": index, "side": "right"}, timeout_seconds=BATCH_SECONDS),
            transform(join, {"step": index + 1}),
        ]
        edges += [edge(previous, left), edge(previous, right), edge(left, join), edge(right, join)]
        previous = join
    return workflow("long-history", nodes, edges)


def test_a_workflow_past_the_history_limit_completes_in_parts_each_under_the_limit(
    client: SegflowClient, http_server: LocalHttpServer, measure
) -> None:
    path = unique_path("diamond")
    http_server.route("POST", path, body={"ok": True})
    definition = diamonds(http_server.url + path, DIAMONDS)

    arn = client.start(definition, {})
    description = client.wait(arn, timeout_seconds=900)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    parts = description["parts"]
    sizes = [len(full_history(stores_of(client).sfn, part)) for part in parts]
    measure(parts=len(parts), history_events=sizes, total_events=sum(sizes))
    assert sum(sizes) > STEP_FUNCTIONS_HISTORY_EVENT_LIMIT  # one execution could not have run it
    assert max(sizes) <= STEP_FUNCTIONS_HISTORY_EVENT_LIMIT
    # the estimate is close: parts that continued end just under the budget, not far below it
    assert all(HISTORY_EVENT_BUDGET - 200 <= size <= HISTORY_EVENT_BUDGET for size in sizes[:-1]), sizes
    # each earlier part ended pointing at the next one
    for earlier, later in pairwise(parts):
        output = json.loads(stores_of(client).sfn.describe_execution(executionArn=earlier)["output"])
        assert (output["status"], output["continued_as"]) == ("CONTINUED", later)
    # one execution as far as records go: every node ran once, every call was made once
    records = client.node_records(arn)
    assert len(records) == 1 + 3 * DIAMONDS
    assert {(r.status, r.attempt) for r in records.values()} <= {("succeeded", 1), ("succeeded", 0)}
    calls = http_server.requests_to(path)
    assert len(calls) == 2 * DIAMONDS
    assert len({call.headers["Idempotency-Key"] for call in calls}) == 2 * DIAMONDS
    final = client.output(arn)
    assert final is not None and final["output"] == {f"join{DIAMONDS - 1}": {"step": DIAMONDS}}
    record = client.execution_record(arn)
    assert record is not None and (record.status, record.parts) == ("SUCCEEDED", len(parts) - 1)
