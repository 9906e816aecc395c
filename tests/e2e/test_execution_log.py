"""The execution log: every execution and node state change, numbered without gaps, in order."""

from __future__ import annotations

from collections import defaultdict

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, chain_edges, edge, judgment, transform, wait, workflow

pytestmark = pytest.mark.e2e


def node_states(events: list) -> dict[str, list[str]]:
    states: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event.kind == "node":
            states[event.node_id].append(event.new_state)
    return dict(states)


def test_every_state_change_is_logged_in_order_with_gapless_seq_and_progress(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("logged")
    http_server.route("POST", path, body={"ok": True}, fail_times=1)
    document = workflow(
        "logged",
        [
            transform("load", {"amount": "{{ input.amount }}"}),
            judgment("big", "{{ nodes.load.amount > `100` }}"),
            api_call("charge", http_server.url + path, retry={"max_attempts": 2, "backoff_seconds": 0.1}),
            transform("small", 1),
            wait("pause", 1),
            transform("done", "{{ nodes.charge.status }}"),
        ],
        [
            edge("load", "big"),
            edge("big", "charge", "true"),
            edge("big", "small", "false"),
            *chain_edges(["charge", "pause", "done"]),
        ],
    )
    arn, description = run_to_end(client, document, {"amount": 250})
    assert description["status"] == "SUCCEEDED"
    events = client.events(arn)

    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert (events[0].kind, events[0].previous_state, events[0].new_state) == (
        "execution",
        "pending",
        "running",
    )
    assert (events[-1].kind, events[-1].new_state) == ("execution", "succeeded")
    assert events[-1].duration_ms is not None and events[-1].ends_execution
    assert node_states(events) == {
        "load": ["succeeded"],
        "big": ["succeeded"],
        "small": ["skipped"],
        "charge": ["running", "retrying", "succeeded"],
        "pause": ["waiting", "running", "succeeded"],
        "done": ["succeeded"],
    }
    retrying = next(e for e in events if e.new_state == "retrying")
    assert retrying.reason == "attempt 2 of 2 after HttpError"
    # progress counts finished nodes (skipped ones too) and never goes back
    completed = [event.progress.completed for event in events]
    assert completed == sorted(completed) and events[-1].progress.model_dump() == {"completed": 6, "total": 6}
    assert {event.execution_id for event in events} == {execution_id_of(arn)}
    assert {event.workflow_id for event in events} == {"logged"}


def test_a_failed_node_logs_its_error_and_the_execution_fails_once(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("down")
    http_server.route("POST", path, status=500, body={"error": "down"})
    document = workflow(
        "failing-logged", [transform("a", 1), api_call("call", http_server.url + path)], [edge("a", "call")]
    )
    arn, description = run_to_end(client, document)
    assert description["status"] == "FAILED"
    events = client.events(arn)
    failed = [e for e in events if e.new_state == "failed"]
    assert [(e.kind, e.node_id) for e in failed] == [("node", "call"), ("execution", None)]
    assert failed[0].error is not None and failed[0].error.startswith("HttpError: POST")
    assert sum(1 for e in events if e.ends_execution) == 1
