"""Stages with side effects run in batches: many segments in one invocation, their calls in flight
together, each node type within its own concurrency limit, each segment recorded as it would be alone."""

from __future__ import annotations

import pytest
from segflow.domain.limits import API_CALL_MAX_CONCURRENCY

from bench import history as bench_history
from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output, statuses, unique_path
from tests.support.history import event_types, lambda_inputs
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, fan_out_workflow

pytestmark = pytest.mark.e2e

# Long enough that, even on a loaded machine, a batch has started as many calls as it may before any ends.
SLOW_CALL_SECONDS = 2


def test_a_stage_of_calls_in_one_batch_keeps_to_the_api_call_limit_in_one_task(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    # Given twice as many slow API calls in parallel as api_call nodes may run at once in one invocation
    server = fresh_http_server
    path = unique_path("limited")
    server.route("POST", path, delay_seconds=SLOW_CALL_SECONDS)
    calls = 2 * API_CALL_MAX_CONCURRENCY
    branches = [api_call(f"c{i:02d}", server.url + path, body={"i": i}) for i in range(calls)]

    # When the workflow runs
    arn, description = run_to_end(client, fan_out_workflow("limited", branches))

    # Then every call was made once, never more than the limit in flight at once, and many at once
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert sorted(r.body["i"] for r in server.requests_to(path)) == list(range(calls))
    assert API_CALL_MAX_CONCURRENCY // 2 < server.peak_in_flight <= API_CALL_MAX_CONCURRENCY
    # and the whole workflow was one ExecuteSegment Task: InitializeStateBag, RunFirstStage (the start, its
    # calls, the join), RouteStage, FinalizeExecution
    events = history(client, arn)
    assert len(lambda_inputs(events, "ExecuteSegment")) == 1
    assert bench_history.measure(events).transitions == 4
    assert final_output(client, arn)["join"]["count"] == calls


def test_a_failing_call_in_a_batch_fails_the_stage_after_its_siblings_are_recorded(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given ten parallel calls, one of which is refused
    echo, refuse = unique_path("echo"), unique_path("refuse")
    http_server.route("POST", echo, delay_seconds=0.5)
    http_server.route("POST", refuse, status=400, body={"error": "refused"})
    branches = [api_call(f"c{i}", http_server.url + echo, body={"i": i}) for i in range(10)]
    branches[3] = api_call("c3", http_server.url + refuse)
    wf = fan_out_workflow("one-refused", branches)

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the execution fails naming the refused call, every other call succeeded and is recorded, once
    assert description["status"] == "FAILED"
    assert "'c3'" in description["cause"] and "HttpError" in description["cause"]
    seen = statuses(client, arn, wf)
    assert seen["c3"] == "failed"
    assert all(seen[f"c{i}"] == "succeeded" for i in range(10) if i != 3)
    assert sorted(r.body["i"] for r in http_server.requests_to(echo)) == [i for i in range(10) if i != 3]
    assert seen["join"] == "pending"
    assert "MapStateEntered" not in event_types(history(client, arn))
