"""100 parallel branches of 20 API calls each: the execution log takes 100 concurrent writers.

Prior art: every state change went through one counter item in a transaction; at 50 branches of two calls the
writers kept losing the race for it, ExecuteSegment raised "the counter kept moving" and the run ended FAILED
(``StageIncomplete``). Its runtime is printed in the terminal summary (``measure``).
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import pairwise

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import aggregator, api_call, edge, transform, workflow

pytestmark = pytest.mark.e2e

BRANCHES = 100
CALLS = 20


def wide_fan_out(url: str) -> dict:
    """start -> 100 chains of 20 api_calls -> join."""
    nodes = [transform("start", {"started": True})]
    edges = []
    for branch in range(BRANCHES):
        chain = [f"b{branch}_{call}" for call in range(CALLS)]
        nodes += [api_call(node_id, url, body={"node": node_id}) for node_id in chain]
        edges += [edge("start", chain[0]), *(edge(a, b) for a, b in pairwise(chain))]
        edges.append(edge(chain[-1], "join"))
    nodes.append(aggregator("join"))
    return workflow("wide-fan-out", nodes, edges)


def test_a_hundred_branches_of_twenty_calls_succeed_with_every_call_once_and_every_change_logged(
    client: SegflowClient, http_server: LocalHttpServer, measure
) -> None:
    # Given 100 branches of 20 API calls each, all to one local server
    path = unique_path("wide")
    http_server.route("POST", path)

    # When it runs
    began = time.monotonic()
    arn, description = run_to_end(client, wide_fan_out(http_server.url + path), timeout=900)
    runtime = time.monotonic() - began

    # Then it succeeds, and the server received each of the 2,000 calls exactly once
    assert description["status"] == "SUCCEEDED", description.get("cause")
    requests = http_server.requests_to(path)
    calls = Counter(request.body["node"] for request in requests)
    assert len(calls) == BRANCHES * CALLS and set(calls.values()) == {1}
    keys = Counter(request.headers["Idempotency-Key"] for request in requests)
    assert set(keys.values()) == {1}

    # and the log holds every node's changes once, in seq order (a number is skipped only where a change was
    # refused or its writer stalled past the sealing grace: counted below, none expected)
    events = client.events(arn)
    seqs = [event.seq for event in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    changes = Counter((event.node_id, event.new_state) for event in events if event.kind == "node")
    nodes = [f"b{b}_{c}" for b in range(BRANCHES) for c in range(CALLS)]
    assert all(changes[(node, "running")] == 1 and changes[(node, "succeeded")] == 1 for node in nodes)
    assert changes[("start", "succeeded")] == changes[("join", "succeeded")] == 1
    assert len(events) == 2 * len(nodes) + 2 + 2  # running+succeeded per call, start, join, execution
    # and progress never goes back and ends complete
    completed = [event.progress.completed for event in events]
    assert completed == sorted(completed)
    assert events[-1].progress.model_dump() == {"completed": len(nodes) + 2, "total": len(nodes) + 2}
    assert events[-1].ends_execution and events[-1].new_state == "succeeded"
    records = client.node_records(arn)
    assert {records[node].status for node in nodes} == {"succeeded"}
    measure(runtime_s=round(runtime, 1), events=len(events), skipped_seqs=seqs[-1] - len(events))
