"""A 10,000-node workflow runs to the end with every state payload under 4 KB.

Its runtime is measured and printed in the terminal summary; above 120 s a warning says so (never skipped).
Prior art: a Choice-driven loop cost 5 transitions per segment, so ~2,000 segments hit the 25,000-event limit.
"""

from __future__ import annotations

import time
import warnings

import pytest
from segflow.domain.limits import STATE_PAYLOAD_BUDGET_BYTES

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import unique_path
from tests.support.history import largest_payload
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, large_workflow, transform

pytestmark = pytest.mark.e2e

NODES = 10_000
BIG = 100_000
HISTORY_EVENT_LIMIT = 25_000
RUNTIME_BUDGET_SECONDS = 120


def test_a_ten_thousand_node_workflow_completes_within_the_payload_budget(
    client: SegflowClient, http_server: LocalHttpServer, measure
) -> None:
    # Given a 10,000-node chain with four 3-way fan-outs and two 100 KB outputs: one from an API answer,
    # one from a transform whose 100 KB literal config cannot travel inline (it goes to a segment body)
    path = unique_path("hundred-kb")
    http_server.route("GET", path, body={"data": "x" * BIG})
    wf = large_workflow(
        "ten-thousand",
        NODES,
        fan_outs=4,
        fan_width=3,
        big_nodes=[
            api_call("big_http", http_server.url + path, method="GET"),
            transform("big_literal", {"blob": "y" * BIG}),
        ],
    )
    assert len(wf["nodes"]) == NODES

    # When it runs
    began = time.monotonic()
    arn, description = run_to_end(client, wf, timeout=900)
    runtime = time.monotonic() - began

    # Then it succeeds with every node run
    assert description["status"] == "SUCCEEDED", description.get("cause")
    result = client.output(arn)
    assert result["nodes"] == {"succeeded": NODES}
    # and the node after the big ones read both 100 KB outputs
    read_record = client.node_records(arn)["read_big"]
    read_big = client.node_output(read_record)
    assert read_big["big_http"] > BIG and read_big["big_literal"] > BIG

    events = history(client, arn)
    largest = largest_payload(events)
    execution = client.execution_record(arn)
    assert execution is not None
    measure(
        runtime_s=round(runtime, 1),
        segments=execution.segment_count,
        stages=execution.stage_count,
        history_events=len(events),
        max_payload_bytes=largest.size,
    )
    # and no state payload exceeded the budget, and the history stays far from the 25,000-event limit
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)
    assert len(events) < HISTORY_EVENT_LIMIT
    if runtime > RUNTIME_BUDGET_SECONDS:
        warnings.warn(
            f"the 10,000-node workflow took {runtime:.0f} s (> {RUNTIME_BUDGET_SECONDS} s) on this machine",
            stacklevel=1,
        )
