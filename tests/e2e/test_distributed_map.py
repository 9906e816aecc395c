"""A stage too large to travel inline runs as a Distributed Map reading its items from S3.

moto swallows a failing Distributed Map child (the Map succeeds): AdvanceStage must catch it from the records.
"""

from __future__ import annotations

import pytest
from segflow.domain.limits import (
    INLINE_STAGE_MAX_BYTES,
    MAP_CHILD_RESULT_BYTES,
    STATE_PAYLOAD_BUDGET_BYTES,
    STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES,
)

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

BRANCHES = 40


def forty_branches(call_url: str, failing: dict | None = None) -> dict:
    """40 parallel branches, one of them an API call: a stage with side effects runs as a Map."""
    branches = [transform(f"branch{i:02d}", {"i": i, "square": i * i}) for i in range(BRANCHES)]
    branches[0] = api_call("branch00", call_url, body={"i": 0})
    if failing is not None:
        branches[17] = failing
    return fan_out_workflow("wide", branches)


def test_a_wide_stage_runs_from_s3_and_keeps_every_result(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given 40 parallel branches, one of which calls an API: their stage is larger than an inline stage may be
    path = unique_path("echo")
    http_server.route("POST", path)
    wf = forty_branches(http_server.url + path)

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the stage ran as a Distributed Map reading from S3
    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    assert "MapRunStarted" in event_types(events)
    [cursor] = [state["cursor"] for state in entered(events, "RunStageFromS3")]
    assert cursor["mode"] == "s3" and cursor["items_key"].endswith(".json") and "items" not in cursor
    s3 = stores_of(client).s3
    items = s3.get_object(Bucket=client.resources.bucket, Key=cursor["items_key"])["Body"].read()
    assert len(items) > INLINE_STAGE_MAX_BYTES
    # and every branch's result reached the aggregator
    join = final_output(client, arn)["join"]
    assert join["count"] == BRANCHES
    assert join["results"]["branch39"] == {"i": 39, "square": 1521}
    assert largest_payload(events).size <= STATE_PAYLOAD_BUDGET_BYTES


def test_a_failing_branch_inside_the_distributed_map_fails_the_execution(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given 40 branches, one of which calls an API that refuses the request
    path = unique_path("refuse")
    http_server.route("POST", path, status=400, body={"error": "refused"})
    echo = unique_path("echo")
    http_server.route("POST", echo)
    wf = forty_branches(http_server.url + echo, failing=api_call("branch17", http_server.url + path))

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


def test_a_wide_stage_of_pure_nodes_runs_in_one_task_without_a_map(client: SegflowClient) -> None:
    # Given 40 parallel branches of transforms only (no side effects, nothing to wait for)
    branches = [transform(f"branch{i:02d}", {"i": i, "square": i * i}) for i in range(BRANCHES)]
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
    assert join["count"] == BRANCHES
    assert join["results"]["branch39"] == {"i": 39, "square": 1521}
    assert largest_payload(events).size <= STATE_PAYLOAD_BUDGET_BYTES


def test_a_side_effect_stage_collects_three_bytes_a_segment_so_ten_thousand_fit(
    embedded: EmbeddedAws, http_server: LocalHttpServer
) -> None:
    # Given a stage of 60 API calls (a Distributed Map), its Map's collected result recorded
    path = unique_path("calls")
    http_server.route("POST", path)
    with MapResults().recording() as results:
        # When it runs (``python -m bench.side_effect_stage`` runs the same with 10,000)
        run = run_side_effect_stage(embedded, 60, http_server.url + path, results, timeout_seconds=300)

    # Then it succeeds with small states, and each segment added {} to the Map's result, whatever it returned
    assert run.status == "SUCCEEDED"
    assert run.largest_payload <= STATE_PAYLOAD_BUDGET_BYTES
    assert results.sizes == [60 * MAP_CHILD_RESULT_BYTES + 1]
    # so a stage of 10,000 segments collects 30,001 bytes of the 262,144 allowed
    assert 10_000 * MAP_CHILD_RESULT_BYTES + 1 < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES
