"""A segment nearing its Lambda deadline stops starting nodes, records where it is, and the state machine
re-invokes it; the re-invocation continues after the last completed node and re-runs nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from segflow.declaration import EXECUTE_SEGMENT
from segflow.domain.limits import SEGMENT_YIELD_MARGIN_MS

from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import local_function_name
from tests.conftest import history, run_to_end
from tests.support.history import segment_configs
from tests.support.http_server import LocalHttpServer

pytestmark = pytest.mark.e2e


def chain_of_api_calls(url: str, count: int) -> dict:
    nodes = [
        {
            "node_id": f"step{i}",
            "type": "action",
            "action_type": "api_call",
            "config": {"url": f"{url}/slow", "method": "POST", "body": {"step": i}},
        }
        for i in range(count)
    ]
    edges = [{"source": f"step{i}", "target": f"step{i + 1}"} for i in range(count - 1)]
    return {"workflow_id": "yielding-chain", "nodes": nodes, "edges": edges}


@pytest.fixture()
def short_lambda_timeout(embedded: EmbeddedAws) -> Iterator[None]:
    """ExecuteSegment gets a deadline just above the yield margin: it can run about one slow node per call."""
    name = local_function_name(embedded.runtime.stage, EXECUTE_SEGMENT)
    original = embedded.runtime._specs[name]
    timeout = SEGMENT_YIELD_MARGIN_MS // 1000 + 1
    embedded.runtime._specs[name] = dataclasses.replace(original, timeout_seconds=timeout)
    yield
    embedded.runtime._specs[name] = original


def test_segment_yields_before_deadline_and_resumes_without_rerunning(
    client, fresh_http_server: LocalHttpServer, short_lambda_timeout: None
) -> None:
    # Given a one-segment chain of four API calls, each taking 0.6 s, and a Lambda deadline ~1 s away
    fresh_http_server.route("POST", "/slow", delay_seconds=0.6, body={"ok": True})
    workflow = chain_of_api_calls(fresh_http_server.url, 4)

    # When it runs
    arn, description = run_to_end(client, workflow)

    # Then it succeeds, each API was called exactly once, in order
    assert description["status"] == "SUCCEEDED", description.get("cause")
    calls = [request.body["step"] for request in fresh_http_server.requests_to("/slow")]
    assert calls == [0, 1, 2, 3]
    # and the state machine re-invoked the same segment after it yielded
    events = history(client, arn)
    segment_runs = segment_configs(events)
    assert len(segment_runs) >= 2
    assert {config["segment_id"] for config in segment_runs} == {"s00001"}
    records = client.node_records(arn)
    assert all(records[f"step{i}"].attempt == 1 for i in range(4))


@pytest.fixture()
def very_short_lambda_timeout(embedded: EmbeddedAws) -> Iterator[None]:
    """ExecuteSegment gets a deadline a fraction of a second beyond the yield margin."""
    name = local_function_name(embedded.runtime.stage, EXECUTE_SEGMENT)
    original = embedded.runtime._specs[name]
    embedded.runtime._specs[name] = dataclasses.replace(
        original, timeout_seconds=SEGMENT_YIELD_MARGIN_MS / 1000 + 0.25
    )
    yield
    embedded.runtime._specs[name] = original


def test_a_pure_stage_interrupted_by_the_deadline_is_handed_back_and_finished(
    client, very_short_lambda_timeout: None
) -> None:
    # Given a fan-out of 150 transforms (a pure stage: one Task runs them one after another) and a deadline
    # that leaves each invocation a quarter of a second
    branches = [
        {"node_id": f"b{i:03d}", "type": "transform", "config": {"output": {"i": i}}} for i in range(150)
    ]
    nodes = [{"node_id": "start", "type": "transform", "config": {"output": 0}}, *branches]
    nodes.append({"node_id": "join", "type": "aggregator", "config": {"mode": "list"}})
    edges = [{"source": "start", "target": b["node_id"]} for b in branches]
    edges += [{"source": b["node_id"], "target": "join"} for b in branches]
    workflow = {"workflow_id": "pure-stage-yield", "nodes": nodes, "edges": edges}

    # When it runs
    arn, description = run_to_end(client, workflow)

    # Then the stage took several invocations, each handing the stage back, and every branch ran once
    assert description["status"] == "SUCCEEDED", description.get("cause")
    runs = segment_configs(history(client, arn))
    assert len(runs) >= 2
    assert {config["stage"] for config in runs[1:]} >= {1}
    records = client.node_records(arn)
    assert all(records[b["node_id"]].status == "succeeded" for b in branches)
    assert all(records[b["node_id"]].attempt == 1 for b in branches)
    output = client.execution_record(arn)
    assert output is not None and output.status == "SUCCEEDED"
