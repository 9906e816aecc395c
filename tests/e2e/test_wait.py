"""A wait node pauses in the state machine (a Wait state), not in a sleeping Lambda."""

from __future__ import annotations

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output, unique_path
from tests.support.history import event_types
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import aggregator, api_call, chain_edges, edge, transform, wait, workflow

pytestmark = pytest.mark.e2e

SECONDS = 2


def test_a_wait_node_waits_in_the_state_machine_and_the_workflow_resumes_after_it(
    client: SegflowClient,
) -> None:
    # Given before -> wait 2 s -> after
    wf = workflow(
        "waiting",
        [
            transform("before", {"t": 1}),
            wait("pause", SECONDS),
            transform("after", "{{ nodes.pause.waited_seconds }}"),
        ],
        chain_edges(["before", "pause", "after"]),
    )

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the state machine itself waited
    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    assert event_types(events).count("WaitStateEntered") == 1, "paused once, not twice"
    # and the wait node succeeded no earlier than its seconds after it began
    records = client.node_records(arn)
    pause = records["pause"]
    assert pause.status == "succeeded"
    assert pause.finished_at - pause.started_at >= SECONDS
    assert records["after"].started_at - records["before"].finished_at >= SECONDS
    assert records["after"].status == "succeeded", "the node after the pause ran"
    assert final_output(client, arn) == {"after": SECONDS}
    # and no Lambda slept through it: every ExecuteSegment call was short
    lambda_spans = []
    scheduled: dict[int, float] = {}
    for event in events:
        if event["type"] == "LambdaFunctionScheduled":
            scheduled[event["id"]] = event["timestamp"].timestamp()
        elif event["type"] == "LambdaFunctionSucceeded" and event["previousEventId"] - 1 in scheduled:
            lambda_spans.append(event["timestamp"].timestamp() - scheduled[event["previousEventId"] - 1])
    assert lambda_spans and max(lambda_spans) < SECONDS


def test_a_zero_second_wait_does_not_pause(client: SegflowClient) -> None:
    wf = workflow(
        "no-wait", [transform("a", 1), wait("pause", 0), transform("b", 2)], chain_edges(["a", "pause", "b"])
    )
    arn, description = run_to_end(client, wf)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert "WaitStateEntered" not in event_types(history(client, arn))
    assert client.node_records(arn)["pause"].status == "succeeded"


def test_a_wait_in_one_branch_does_not_repeat_the_other_branch(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given two parallel branches: one waits 1 s then calls an API, the other calls an API at once
    waiting_path, direct_path = unique_path("after-wait"), unique_path("direct")
    http_server.route("POST", waiting_path, body={"branch": "waited"})
    http_server.route("POST", direct_path, body={"branch": "direct"})
    wf = workflow(
        "wait-in-branch",
        [
            transform("start", 1),
            wait("pause", 1),
            api_call("after_pause", http_server.url + waiting_path),
            api_call("direct", http_server.url + direct_path),
            aggregator("join"),
        ],
        [
            edge("start", "pause"),
            edge("pause", "after_pause"),
            edge("start", "direct"),
            edge("after_pause", "join"),
            edge("direct", "join"),
        ],
    )

    # When it runs (the stage is re-entered after the wait)
    arn, description = run_to_end(client, wf)

    # Then each API was called exactly once, and the join saw both branches
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert len(http_server.requests_to(waiting_path)) == 1
    assert len(http_server.requests_to(direct_path)) == 1
    assert final_output(client, arn)["join"]["count"] == 2
    assert client.node_records(arn)["direct"].attempt == 1
