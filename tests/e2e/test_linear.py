"""A linear pipeline from start to end: outputs and records; the input and reserved names reach the nodes."""

from __future__ import annotations

from datetime import datetime

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output, node_outputs, statuses
from tests.support.stores import stores_of
from tests.support.workflows import edge, linear_workflow, transform, workflow

pytestmark = pytest.mark.e2e


def order_pipeline() -> dict:
    return workflow(
        "order-pipeline",
        [
            transform(
                "fetch", {"amount": "{{ input.amount }}", "customer": "{{ customer }}"}, label="data query"
            ),
            transform("price", {"net": "{{ nodes.fetch.amount }}", "items": "{{ input.items }}"}),
            transform(
                "count", {"item_count": "{{ length(nodes.price.items) }}", "net": "{{ nodes.price.net }}"}
            ),
            transform("message", "Order for {{ nodes.fetch.customer }}: {{ nodes.count.item_count }} items"),
            transform("audit", {"seen": "{{ nodes.fetch.customer }}"}),
        ],
        [edge("fetch", "price"), edge("price", "count"), edge("count", "message"), edge("fetch", "audit")],
    )


def test_a_linear_pipeline_succeeds_and_returns_its_sink_outputs(client: SegflowClient) -> None:
    # Given a pipeline with two sinks (message, audit)
    wf = order_pipeline()

    # When it runs with an input
    arn, description = run_to_end(client, wf, {"amount": 120, "customer": "Ada", "items": ["a", "b", "c"]})

    # Then it succeeds and its output holds exactly the sink nodes' outputs
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {
        "message": "Order for Ada: 3 items",
        "audit": {"seen": "Ada"},
    }
    # and every node's own output is visible in its record
    outputs = node_outputs(client, arn)
    assert outputs["fetch"] == {"amount": 120, "customer": "Ada"}
    assert outputs["price"] == {"net": 120, "items": ["a", "b", "c"]}
    assert outputs["count"] == {"item_count": 3, "net": 120}
    records = client.node_records(arn)
    assert {node_id: r.status for node_id, r in records.items()} == dict.fromkeys(outputs, "succeeded")
    assert all(r.duration_ms is not None and r.finished_at >= r.started_at for r in records.values())
    assert statuses(client, arn, wf) == dict.fromkeys(
        ["fetch", "price", "count", "message", "audit"], "succeeded"
    )
    assert client.output(arn)["nodes"] == {"succeeded": 5}


def test_nodes_see_the_execution_input_and_the_reserved_names(client: SegflowClient) -> None:
    # prior art: a lean statebag silently dropped the user input and the start time
    wf = workflow(
        "reserved-names",
        [
            transform(
                "context",
                {
                    "model_id": "{{model_id}}",
                    "whole_input": "{{ input }}",
                    "workflow_id": "{{ workflow.workflow_id }}",
                    "workflow_name": "{{ workflow.name }}",
                    "current": "{{ current_workflow_id }}",
                    "execution_id": "{{ execution.execution_id }}",
                    "started_at": "{{ execution.started_at }}",
                    "shadowed": "{{ input.workflow }}",
                },
            )
        ],
        name="Reserved names",
    )
    arn, description = run_to_end(client, wf, {"model_id": "m-7", "workflow": "an input field"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    seen = final_output(client, arn)["context"]
    assert seen["model_id"] == "m-7"
    assert seen["whole_input"] == {"model_id": "m-7", "workflow": "an input field"}
    assert seen["workflow_id"] == seen["current"] == "reserved-names"
    assert seen["workflow_name"] == "Reserved names"
    assert seen["execution_id"] == execution_id_of(arn)
    assert seen["shadowed"] == "an input field"
    started = datetime.fromisoformat(seen["started_at"].replace("Z", "+00:00"))
    assert abs((started - description["startDate"]).total_seconds()) < 5


def test_a_large_input_travels_by_reference_and_still_reaches_the_nodes(client: SegflowClient) -> None:
    big_input = {"rows": [{"id": i, "text": "x" * 40} for i in range(200)]}  # ~10 KB: above the inline limit
    wf = workflow(
        "large-input", [transform("count", {"rows": "{{ length(input.rows) }}", "last": "{{ rows[-1].id }}"})]
    )
    arn, description = run_to_end(client, wf, big_input)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {"count": {"rows": 200, "last": 199}}
    started = stores_of(client).sfn.describe_execution(executionArn=arn)
    assert len(started["input"]) < 1024, "the execution input carries a pointer, not the rows"


def test_the_same_workflow_runs_twice_independently(client: SegflowClient) -> None:
    # prior art: the checkpoint pointer was kept per workflow, so a second run could not advance
    wf = linear_workflow("twice", 30)
    first_arn, first = run_to_end(client, wf, {"start": 1})
    second_arn, second = run_to_end(client, wf, {"start": 2})
    assert first["status"] == second["status"] == "SUCCEEDED"
    assert first_arn != second_arn
    assert final_output(client, first_arn) == {"n29": {"value": 1, "step": 29}}
    assert final_output(client, second_arn) == {"n29": {"value": 2, "step": 29}}
    assert len(client.node_records(first_arn)) == len(client.node_records(second_arn)) == 30
