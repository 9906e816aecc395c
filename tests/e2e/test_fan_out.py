"""Fan-out / fan-in: branches of one stage run at the same time (one batch, in one invocation); the aggregator
keeps every branch's result.

Prior art: a branch re-ran its parent's segment, the aggregator segment was skipped and branch results
were lost.
"""

from __future__ import annotations

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output, node_outputs, unique_path
from tests.support.history import event_types, lambda_inputs
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import aggregator, api_call, fan_out_workflow, transform

pytestmark = pytest.mark.e2e

BRANCHES = 5
# Long enough that, even on a loaded machine, every branch starts before the first call is answered.
SLOW_CALL_SECONDS = 3


def test_parallel_branches_overlap_in_time_and_the_aggregator_gets_every_result(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given five branches, each an API call the server answers only after a few seconds
    path = unique_path("slow")
    http_server.route("POST", path, delay_seconds=SLOW_CALL_SECONDS)
    branches = [api_call(f"branch{i}", http_server.url + path, body={"branch": i}) for i in range(BRANCHES)]
    wf = fan_out_workflow("fan-out", branches)

    # When the workflow runs
    arn, description = run_to_end(client, wf)

    # Then every branch's call arrived before the first one was answered: they were in flight together
    assert description["status"] == "SUCCEEDED", description.get("cause")
    starts = [request.at for request in http_server.requests_to(path)]
    assert len(starts) == BRANCHES, "each branch called once, the parent never re-ran"
    assert max(starts) - min(starts) < SLOW_CALL_SECONDS, "the branch calls ran one after another"
    # and each branch ran once, with the parent run once before them
    records = client.node_records(arn)
    assert records["start"].finished_at <= min(records[f"branch{i}"].started_at for i in range(BRANCHES))
    # all in one ExecuteSegment invocation: the branches are one batch, which the start's Task ran at once
    events = history(client, arn)
    assert len(lambda_inputs(events, "ExecuteSegment")) == 1
    assert "MapStateEntered" not in event_types(events)
    # and the aggregator output holds every branch's output
    join = node_outputs(client, arn)["join"]
    assert join["count"] == BRANCHES
    assert sorted(join["branches"]) == [f"branch{i}" for i in range(BRANCHES)]
    for i in range(BRANCHES):
        result = join["results"][f"branch{i}"]
        assert result["status"] == 200
        assert result["body"]["echo"] == {"branch": i}
    assert final_output(client, arn) == {"join": join}


def test_an_aggregator_in_list_mode_keeps_results_in_edge_order(client: SegflowClient) -> None:
    branches = [transform(f"b{i}", {"square": i * i}) for i in range(4)]
    wf = fan_out_workflow("fan-out-list", branches, join=aggregator("join", mode="list"))
    arn, description = run_to_end(client, wf)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn)["join"]["results"] == [
        {"square": 0},
        {"square": 1},
        {"square": 4},
        {"square": 9},
    ]
