"""A stage of more batches than can travel inline runs as a Distributed Map reading its items (one pointer to
each batch) from S3; a stage of a few batches as an inline Map, one item a batch.

moto swallows a failing Distributed Map child (the Map succeeds): AdvanceStage must catch it from the records.
"""

from __future__ import annotations

import json
import math

import pytest
from segflow.domain.limits import (
    BATCH_MAX_SEGMENTS,
    INLINE_STAGE_MAX_BYTES,
    MAP_CHILD_RESULT_BYTES,
    MAP_STAGE_MAX_SEGMENTS,
    STATE_PAYLOAD_BUDGET_BYTES,
    STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES,
)
from segflow.engine.batching import BATCH_SECONDS

from bench.side_effect_stage import MapResults
from bench.side_effect_stage import run as run_side_effect_stage
from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output, statuses, unique_path
from tests.support.history import entered, event_types, largest_payload
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import api_call, fan_out_workflow, transform

pytestmark = pytest.mark.e2e

BRANCHES = 60


def long_calls(call_url: str, failing: dict | None = None) -> dict:
    """60 parallel API calls, each of which may take all an invocation has: a batch each, too many batches for
    their items to travel inline."""
    branches = [
        api_call(f"branch{i:02d}", call_url, body={"i": i}, timeout_seconds=BATCH_SECONDS)
        for i in range(BRANCHES)
    ]
    if failing is not None:
        branches[17] = failing
    return fan_out_workflow("long-calls", branches)


def test_a_stage_of_many_batches_runs_from_s3_and_keeps_every_result(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given 60 parallel calls long enough to make one batch each
    path = unique_path("echo")
    http_server.route("POST", path)
    wf = long_calls(http_server.url + path)

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the stage ran as a Distributed Map reading its batches from S3, one item a call
    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    assert "MapRunStarted" in event_types(events)
    [cursor] = [state["cursor"] for state in entered(events, "RunStageFromS3")]
    assert cursor["mode"] == "s3" and cursor["items_key"].endswith(".json") and "items" not in cursor
    s3 = stores_of(client).s3
    items = s3.get_object(Bucket=client.resources.bucket, Key=cursor["items_key"])["Body"].read()
    assert len(json.dumps(json.loads(items)).encode()) > INLINE_STAGE_MAX_BYTES
    assert [item["batch"] for item in json.loads(items)] == list(range(BRANCHES))
    # and every call was made once, and every branch's result reached the aggregator
    assert sorted(r.body["i"] for r in http_server.requests_to(path)) == list(range(BRANCHES))
    join = final_output(client, arn)["join"]
    assert join["count"] == BRANCHES
    assert join["results"]["branch59"]["body"]["echo"] == {"i": 59}
    assert largest_payload(events).size <= STATE_PAYLOAD_BUDGET_BYTES


def test_a_failing_branch_inside_the_distributed_map_fails_the_execution(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given 60 long calls, one of which calls an API that refuses the request
    path = unique_path("refuse")
    http_server.route("POST", path, status=400, body={"error": "refused"})
    echo = unique_path("echo")
    http_server.route("POST", echo)
    failing = api_call("branch17", http_server.url + path, timeout_seconds=BATCH_SECONDS)
    wf = long_calls(http_server.url + echo, failing=failing)

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the execution fails (though moto's Map itself reports success), naming the node
    assert description["status"] == "FAILED"
    assert "MapRunStarted" in event_types(history(client, arn))
    assert "'branch17'" in description["cause"] and "HttpError" in description["cause"]
    # and the aggregator after the stage never ran
    seen = statuses(client, arn, wf)
    assert seen["branch17"] == "failed"
    assert seen["join"] == "pending"
    execution = client.execution_record(arn)
    assert execution is not None and execution.status == "FAILED"


def test_a_stage_of_calls_costs_one_transition_a_batch_and_three_bytes_of_map_result_a_batch(
    embedded: EmbeddedAws, http_server: LocalHttpServer
) -> None:
    # Given a stage of 250 API calls (three batches: an inline Map), its Map's collected result recorded
    path = unique_path("calls")
    http_server.route("POST", path)
    calls = 250
    with MapResults().recording() as results:
        # When it runs (``python -m bench.side_effect_stage`` runs the same with 1,000)
        run = run_side_effect_stage(embedded, calls, http_server.url + path, results, timeout_seconds=300)

    # Then it succeeds with small states, every call made once
    assert run.status == "SUCCEEDED", run.failure
    assert run.largest_payload <= STATE_PAYLOAD_BUDGET_BYTES
    assert len(http_server.requests_to(path)) == calls
    # and its transitions are those of the states around the stage, plus one per batch: InitializeStateBag,
    # RunFirstStage (the root), RouteStage, RunStage, the batches, AdvanceStage, RouteStage, RunSegment (the
    # join), RouteStage, FinalizeExecution
    batches = math.ceil(calls / BATCH_MAX_SEGMENTS)
    assert run.transitions == 9 + batches
    # and each batch added {} to the Map's result, whatever its segments returned
    assert results.sizes == [batches * MAP_CHILD_RESULT_BYTES + 1]
    # so even the widest stage allowed, at one segment a batch, stays under the limit
    assert MAP_STAGE_MAX_SEGMENTS * MAP_CHILD_RESULT_BYTES + 1 < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES


def test_a_wide_stage_of_pure_nodes_runs_in_one_task_without_a_map(client: SegflowClient) -> None:
    # Given 40 parallel branches of transforms only (no side effects, nothing to wait for)
    branches = [transform(f"branch{i:02d}", {"i": i, "square": i * i}) for i in range(40)]
    wf = fan_out_workflow("wide-pure", branches)

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then no Map ran: one ExecuteSegment task ran every branch, one after another, and the aggregator after
    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    assert "MapStateEntered" not in event_types(events)
    [run] = entered(events, "RunFirstStage")  # the start node's stage, chained through branches and join
    assert run["cursor"]["mode"] == "single" and run["cursor"]["stage"] == 0
    join = final_output(client, arn)["join"]
    assert join["count"] == 40
    assert join["results"]["branch39"] == {"i": 39, "square": 1521}
    assert largest_payload(events).size <= STATE_PAYLOAD_BUDGET_BYTES
