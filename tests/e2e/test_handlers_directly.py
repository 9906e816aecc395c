"""The handlers invoked one by one through the embedded Lambda runtime, the way the state machine calls them.

Covers ExecuteSegment running the segment_config it is handed (and refusing an event without one),
node-level idempotency on a re-invoked segment, and AdvanceStage refusing a stage that did not report.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from segflow.declaration import ADVANCE_STAGE, EXECUTE_SEGMENT, INITIALIZE_STATE_BAG

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import invoke, payload_of, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.waiting import wait_for
from tests.support.workflows import api_call, chain_edges, edge, transform, workflow

pytestmark = pytest.mark.e2e


def initialize(
    client: SegflowClient, embedded: EmbeddedAws, document: dict[str, Any], execution_input: dict
) -> dict:
    """Upload a workflow and run InitializeStateBag alone; returns its result (statebag and cursor)."""
    body = json.dumps(document).encode()
    key = f"submissions/default/workflows/{hashlib.sha256(body).hexdigest()}.json"
    stores_of(client).s3.put_object(Bucket=client.resources.bucket, Key=key, Body=body)
    event = {
        "request": {"tenant_id": "default", "workflow": {"s3_key": key}, "input": execution_input},
        "execution_name": f"default.direct-{uuid.uuid4().hex[:12]}",
        "started_at": datetime.now(UTC).isoformat(),
    }
    result = invoke(embedded, INITIALIZE_STATE_BAG, event)
    assert result.function_error is None, result.payload
    return payload_of(result)


def two_stage_workflow() -> dict[str, Any]:
    return workflow(
        "fallback",
        [
            transform("first", {"greeting": "hello {{ name }}"}),
            transform("second", {"shout": "{{ nodes.first.greeting }}!"}),
            transform("left", 1),
            transform("right", 2),
        ],
        [*chain_edges(["first", "second"]), edge("second", "left"), edge("second", "right")],
    )


def test_execute_segment_runs_the_segment_config_it_is_handed(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    # Given an initialized execution (no segment has run yet)
    initialized = initialize(client, embedded, two_stage_workflow(), {"name": "Ada"})
    statebag, cursor = initialized["statebag"], initialized["cursor"]
    assert cursor["stage"] == 0 and cursor["mode"] == "single"

    # When ExecuteSegment gets the first stage's segment_config, as the state machine hands it over
    segment = {"statebag": statebag, "segment_config": cursor["segment_config"]}
    result = invoke(embedded, EXECUTE_SEGMENT, segment)

    # Then it ran that segment's nodes
    assert result.function_error is None, result.payload
    outcome = payload_of(result)
    assert outcome["status"] == "succeeded" and outcome["nodes_run"] == 2
    records = stores_of(client).records.get_nodes(
        "default", statebag["execution_id"], ["first", "second", "left"]
    )
    assert records["first"].status == records["second"].status == "succeeded"
    assert "left" not in records, "only that segment ran"
    assert client.node_output(records["second"]) == {"shout": "hello Ada!"}

    # and the stage checks out, pointing the state machine at the next stage
    advanced = invoke(embedded, ADVANCE_STAGE, {"statebag": statebag, "stage": 0})
    assert advanced.function_error is None, advanced.payload
    cursor = payload_of(advanced)
    # (two segments of pure nodes: one Task runs both, one after the other)
    assert cursor["stage"] == 1 and cursor["mode"] == "single" and cursor["stage_segments"] == 2


def test_execute_segment_without_a_segment_config_fails_naming_it(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    statebag = initialize(client, embedded, two_stage_workflow(), {"name": "Ada"})["statebag"]
    result = invoke(embedded, EXECUTE_SEGMENT, {"statebag": statebag})
    assert result.function_error == "Unhandled"
    assert "segment_config" in payload_of(result)["errorMessage"]


def test_advance_stage_refuses_a_stage_whose_segments_did_not_report(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    # prior art: trusting the Map alone let a swallowed failure pass as success
    statebag = initialize(client, embedded, two_stage_workflow(), {"name": "Ada"})["statebag"]
    result = invoke(embedded, ADVANCE_STAGE, {"statebag": statebag, "stage": 0})
    assert result.function_error == "Unhandled"
    error = payload_of(result)
    assert error["errorType"] == "StageIncomplete" and "did not report" in error["errorMessage"]


def test_a_re_invoked_segment_does_not_repeat_side_effects(
    client: SegflowClient, embedded: EmbeddedAws, http_server: LocalHttpServer
) -> None:
    # prior art: segment retries re-ran LLM calls (no idempotency at node level)
    path = unique_path("once")
    http_server.route("POST", path, body={"charged": True})
    wf = workflow(
        "side-effect",
        [
            transform("prepare", 1),
            api_call("charge", http_server.url + path, body={"amount": 5}),
            transform("after", 2),
        ],
        chain_edges(["prepare", "charge", "after"]),
    )
    arn, description = run_to_end(client, wf)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert len(http_server.requests_to(path)) == 1

    # When the same segment is delivered again (a Lambda retry or a duplicate Map item)
    initialized = json.loads(
        next(
            e["stateExitedEventDetails"]["output"]
            for e in stores_of(client).sfn.get_execution_history(executionArn=arn, maxResults=50)["events"]
            if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "InitializeStateBag"
        )
    )
    segment = {"statebag": initialized["statebag"], "segment_config": initialized["cursor"]["segment_config"]}
    result = invoke(embedded, EXECUTE_SEGMENT, segment)

    # Then nothing runs again: the API was called once in total
    assert result.function_error is None, result.payload
    assert payload_of(result)["nodes_run"] == 0
    assert len(http_server.requests_to(path)) == 1
    assert client.node_records(arn)["charge"].attempt == 1


def test_two_attempts_of_one_segment_at_once_keep_the_first_outcome_and_call_later_nodes_once(
    client: SegflowClient, embedded: EmbeddedAws, http_server: LocalHttpServer
) -> None:
    # Given a segment 'slow' (1 s) -> 'quick', run by attempt A, and by attempt B half a second later
    # (a Lambda invoke retried while the first still ran)
    slow, quick = unique_path("slow"), unique_path("quick")
    http_server.route("POST", slow, body={"took": "long"}, delay_seconds=1.0)
    http_server.route("POST", quick, body={"took": "short"})
    document = workflow(
        "two-attempts",
        [api_call("slow", http_server.url + slow), api_call("quick", http_server.url + quick)],
        [edge("slow", "quick")],
    )
    initialized = initialize(client, embedded, document, {})
    event = {"statebag": initialized["statebag"], "segment_config": initialized["cursor"]["segment_config"]}
    results: dict[str, Any] = {}

    def attempt(name: str) -> None:
        results[name] = invoke(embedded, EXECUTE_SEGMENT, event)

    first = threading.Thread(target=attempt, args=("A",))
    first.start()
    wait_for(lambda: http_server.requests_to(slow), "attempt A's 'slow' call is in flight", 30)
    attempt("B")
    first.join()

    # Then both attempts succeed, B took over A's outcomes: 'quick' was called once
    assert [results[n].function_error for n in "AB"] == [None, None], [results[n].payload for n in "AB"]
    assert len(http_server.requests_to(quick)) == 1
    # 'slow' was in flight in both: the receiver sees the same Idempotency-Key twice and can deduplicate
    keys = {r.headers["Idempotency-Key"] for r in http_server.requests_to(slow)}
    assert len(http_server.requests_to(slow)) == 2 and len(keys) == 1
    execution_id = initialized["statebag"]["execution_id"]
    records = stores_of(client).records.get_nodes("default", execution_id, ["slow", "quick"])
    assert {r.status for r in records.values()} == {"succeeded"}
