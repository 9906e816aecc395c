"""What travels through the state machine: pointers and one segment at a time, never the workflow.

Document 2's statebag carried workflow_config (200 KB) and partition_map (50 KB) into every segment.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.adapters.manifests import plan_documents
from segflow.domain.limits import INLINE_STAGE_MAX_BYTES, STATE_PAYLOAD_BUDGET_BYTES
from segflow.domain.plan import compact_json
from segflow.dsl.validation import validate_workflow
from segflow.engine.batching import BATCH_SECONDS
from segflow.engine.partitioner import partition

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import unique_path
from tests.support.history import entered, event_types, exited, lambda_inputs, largest_payload, payloads
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import (
    aggregator,
    api_call,
    edge,
    fan_out_workflow,
    judgment,
    linear_workflow,
    transform,
    wait,
    workflow,
)

pytestmark = pytest.mark.e2e


def mixed_workflow(server: LocalHttpServer, path: str) -> dict[str, Any]:
    """Every runnable node type: transform, judgment (two arms), wait, api_call (large answer; beside a call
    that may take all an invocation has, so that their stage runs as a Map of two batches), aggregator."""
    nodes = [
        transform("fetch", {"amount": "{{ input.amount }}", "note": "n" * 600}),
        judgment("judge", "{{ nodes.fetch.amount > `100` }}"),
        transform("small", {"arm": "small"}),
        wait("pause", 1),
        api_call("big_call", server.url + path, body={"amount": "{{ nodes.fetch.amount }}"}),
        api_call("long_call", server.url + path, body={"long": True}, timeout_seconds=BATCH_SECONDS),
    ]
    edges = [
        edge("fetch", "judge"),
        edge("judge", "small", "false"),
        edge("judge", "pause", "true"),
        edge("pause", "big_call"),
        edge("pause", "long_call"),
        edge("long_call", "done"),
    ]
    for i in range(6):
        nodes.append(transform(f"branch{i}", {"i": i, "size": "{{ length(nodes.big_call.body.data) }}"}))
        edges += [edge("big_call", f"branch{i}"), edge(f"branch{i}", "gather")]
    nodes.append(aggregator("gather"))
    nodes.append(transform("done", {"count": "{{ nodes.gather.count }}", "small": "{{ nodes.small }}"}))
    edges += [edge("gather", "done"), edge("small", "done")]
    return workflow("mixed", nodes, edges)


@pytest.fixture(scope="module")
def mixed_run(client: SegflowClient, http_server: LocalHttpServer) -> tuple[str, list[dict[str, Any]]]:
    path = unique_path("mixed")
    http_server.route("POST", path, body={"data": "z" * 120_000})
    arn, description = run_to_end(client, mixed_workflow(http_server, path), {"amount": 150})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    return arn, history(client, arn)


def test_the_mixed_workflow_ran_every_kind_of_state(
    client: SegflowClient, mixed_run: tuple[str, list]
) -> None:
    arn, events = mixed_run
    kinds = set(event_types(events))
    assert {"WaitStateEntered", "MapStateEntered", "TaskStateEntered", "ChoiceStateEntered"} <= kinds
    records = client.node_records(arn)
    assert records["small"].status == "skipped"
    assert client.output(arn)["output"] == {"done": {"count": 6, "small": None}}


def test_no_state_input_or_output_exceeds_the_budget(mixed_run: tuple[str, list]) -> None:
    _, events = mixed_run
    largest = largest_payload(events)
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)


def test_no_state_carries_the_workflow_or_a_partition_map(mixed_run: tuple[str, list]) -> None:
    _, events = mixed_run
    for payload in payloads(events):
        assert "edges" not in payload.text, f"{payload} carries the workflow's edges"
        assert "partition_map" not in payload.text, str(payload)
        assert "workflow_config" not in payload.text, str(payload)


def test_each_execute_segment_receives_one_segment_config_or_a_pointer_to_its_batch(
    mixed_run: tuple[str, list],
) -> None:
    _, events = mixed_run
    inputs = lambda_inputs(events, "ExecuteSegment")
    batches = [state_input for state_input in inputs if "batch" in state_input]
    assert batches and len(batches) < len(inputs)
    for state_input in batches:  # a Map item: a pointer to its batch, never a segment's config
        assert set(state_input) == {"batch", "statebag"}
        assert set(state_input["batch"]) == {"stage", "batch", "start", "end"}
    for state_input in inputs:
        if "batch" in state_input:
            continue
        if "cursor" in state_input:  # RunFirstStage: InitializeStateBag's cursor, a Task stage's or a pointer
            assert set(state_input) == {"advance", "cursor", "statebag"}
            if "segment_config" not in state_input["cursor"]:
                assert '"segment_id"' not in json.dumps(state_input)
                continue
        config = state_input.get("segment_config") or state_input["cursor"]["segment_config"]
        carrier = "segment_config" if "segment_config" in state_input else "cursor"
        assert set(state_input) - {"advance", "stage_segments", "history_events"} == {carrier, "statebag"}
        assert isinstance(config, dict) and isinstance(config["segment_id"], str)
        assert json.dumps(state_input).count('"segment_id"') == 1
        carried = config.get("nodes") or []
        assert len(carried) == config["node_count"] or config.get("body_key")


def statebag_bytes(client: SegflowClient, workflow_definition: dict[str, Any]) -> int:
    arn, description = run_to_end(client, workflow_definition, {"start": 1})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [initialized] = exited(history(client, arn), "InitializeStateBag")
    return len(json.dumps(initialized["statebag"], separators=(",", ":")).encode())


def test_the_statebag_does_not_grow_with_the_workflow(client: SegflowClient) -> None:
    # Given a 10-node and a 300-node workflow with ids of the same length
    small = statebag_bytes(client, linear_workflow("size-a", 10))
    large = statebag_bytes(client, linear_workflow("size-b", 300))
    # Then their statebags differ only by the digits of the counts (pointers only)
    assert abs(large - small) <= 6, (small, large)
    assert large < 600


def test_a_failing_execution_also_keeps_every_state_within_the_budget(client: SegflowClient) -> None:
    # Given one segment near its byte budget whose last node fails with a long (but capped) error message
    wf = workflow(
        "failing-budget",
        [
            transform("start", 1),
            transform("pad1", {"p": "x" * 900}),
            transform("pad2", {"p": "x" * 900}),
            transform("boom", "{{ abs(input.text) }}"),  # a type error quoting the 1,500-character input
        ],
        [edge("start", "pad1"), edge("pad1", "pad2"), edge("pad2", "boom")],
    )
    arn, description = run_to_end(client, wf, {"text": "y" * 1500})
    assert description["status"] == "FAILED"
    assert "'boom'" in description["cause"]
    # Then the failure path keeps the same promise as the success path
    largest = largest_payload(history(client, arn))
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)


def widest_inline_first_stage(workflow_id: str) -> dict[str, Any]:
    """Three root transforms whose list-heavy configs make stage 0 as large as an inline stage may be."""

    def build(length: int) -> dict[str, Any]:
        return workflow(workflow_id, [transform(f"r{i}", {"zeros": [0] * length}) for i in range(3)])

    def fits_inline(length: int) -> bool:
        plan = partition(validate_workflow(build(length)), body_key_for=lambda segment_id: segment_id)
        bodies = any(segment.config.body_key for segment in plan.segments)
        return not bodies and len(compact_json(plan.stage_items(0)).encode()) <= INLINE_STAGE_MAX_BYTES

    length = 0
    while fits_inline(length + 2):
        length += 2
    return build(length)


def test_lambda_results_carrying_an_inline_stage_stay_within_the_budget(client: SegflowClient) -> None:
    wf = widest_inline_first_stage("w" * 100)
    arn, description = run_to_end(client, wf)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    largest = largest_payload(history(client, arn))
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)


def widest_inline_map(workflow_id: str, url: str) -> dict[str, Any]:
    """Parallel calls of a batch each, as many as still let the Map's items travel inline."""

    def build(count: int) -> dict[str, Any]:
        calls = [api_call(f"c{i:03d}", url, timeout_seconds=BATCH_SECONDS) for i in range(count)]
        return fan_out_workflow(workflow_id, calls)

    def inline(count: int) -> bool:
        plan = partition(validate_workflow(build(count)), body_key_for=lambda segment_id: segment_id)
        _, summaries = plan_documents("p/", plan)
        return summaries[1]["batches"] == count and summaries[1]["bytes"] <= INLINE_STAGE_MAX_BYTES

    count = 2
    while inline(count + 1):
        count += 1
    return build(count)


def test_a_map_whose_batches_travel_inline_keeps_every_state_within_the_budget(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("inline-map")
    http_server.route("POST", path)
    wf = widest_inline_map("m" * 100, http_server.url + path)
    arn, description = run_to_end(client, wf)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    [cursor] = [state["cursor"] for state in entered(events, "RunStage")]
    assert cursor["mode"] == "inline" and len(cursor["items"]) == len(wf["nodes"]) - 2
    largest = largest_payload(events)
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)
