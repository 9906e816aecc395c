"""for_each and loop: sub-flows run inside their node's segment, through the real ASL on the embedded AWS."""

from __future__ import annotations

import pytest
from segflow.domain.limits import STATE_PAYLOAD_BUDGET_BYTES
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.history import largest_payload
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import (
    api_call,
    chain_edges,
    edge,
    for_each,
    judgment,
    loop,
    subflow,
    transform,
    wait,
    workflow,
)

pytestmark = pytest.mark.e2e


def node_output(client: SegflowClient, arn: str, node_id: str):
    record = client.node_records(arn)[node_id]
    return client.node_output(record)


def test_a_for_each_over_5000_items_keeps_the_order_and_every_state_small(client: SegflowClient) -> None:
    flow = subflow(
        [
            transform("read", {"n": "{{ item.n }}", "label": "{{ join('-', ['item', item.name]) }}"}),
            judgment("even", "{{ item.even }}"),
            transform("tag_even", {"i": "{{ index }}", "kind": "even", "label": "{{ nodes.read.label }}"}),
            transform("tag_odd", {"i": "{{ index }}", "kind": "odd", "label": "{{ nodes.read.label }}"}),
        ],
        [edge("read", "even"), edge("even", "tag_even", "true"), edge("even", "tag_odd", "false")],
    )
    wf = workflow(
        "five-thousand",
        [
            transform("numbers", "{{ input.numbers }}"),
            for_each("each", "{{ nodes.numbers }}", flow, max_concurrency=16),
            transform("count", "{{ length(nodes.each.results) }}"),
        ],
        chain_edges(["numbers", "each", "count"]),
    )
    numbers = [{"n": i, "name": f"n{i}", "even": i % 2 == 0} for i in range(5000)]

    arn, description = run_to_end(client, wf, {"numbers": numbers})  # the input itself goes by reference

    assert description["status"] == "SUCCEEDED", description.get("cause")
    results = node_output(client, arn, "each")["results"]
    assert [r["i"] for r in results] == list(range(5000)), "results in item order"
    assert results[7] == {"i": 7, "kind": "odd", "label": "item-n7"}
    assert results[4998] == {"i": 4998, "kind": "even", "label": "item-n4998"}
    assert client.output(arn)["output"] == {"count": 5000}
    largest = largest_payload(history(client, arn))
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)


def test_a_failing_item_fails_the_node_naming_the_item_and_its_node(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    for n in (1, 2, 4):
        http_server.route("POST", f"/for-each/{n}")
    http_server.route("POST", "/for-each/3", status=500)
    flow = subflow([api_call("send", f"{http_server.url}/for-each/{{{{ item }}}}", body={"n": "{{ item }}"})])

    arn, description = run_to_end(client, workflow("items-fail", [for_each("each", [1, 2, 3, 4], flow)], []))

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["each"]
    assert record.error_type == "ItemFailed"
    assert "item 2 of 4 failed: node 'send' failed with HttpError" in record.error_message


def test_continue_on_error_collects_failing_items(client: SegflowClient) -> None:
    flow = subflow([transform("size", "{{ length(item) }}")])  # a number has no length: that item fails

    arn, description = run_to_end(
        client,
        workflow("items-collect", [for_each("each", ["ab", 5, "abc"], flow, continue_on_error=True)], []),
    )

    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = node_output(client, arn, "each")
    assert output["results"] == [2, None, 3]
    assert output["failed"] == 1
    assert output["errors"][0]["index"] == 1 and output["errors"][0]["node_id"] == "size"
    assert "TemplateEvaluationError" in output["errors"][0]["error"]


def test_a_loop_runs_until_its_condition_holds(client: SegflowClient) -> None:
    flow = subflow([transform("step", {"total": "{{ sum([loop.previous.total, loop.iteration]) }}"})])
    wf = workflow(
        "loop-until",
        [loop("accumulate", flow, "{{ result.total >= `10` }}", 20, initial={"total": 0})],
        [],
    )

    arn, description = run_to_end(client, wf)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_output(client, arn, "accumulate") == {"iterations": 4, "result": {"total": 10}}


def test_a_loop_that_never_meets_its_condition_fails_naming_the_node_and_the_count(
    client: SegflowClient,
) -> None:
    flow = subflow([transform("poll", {"ready": False, "try": "{{ loop.iteration }}"})])
    wf = workflow("loop-never", [loop("wait_ready", flow, "{{ result.ready }}", 5)], [])

    arn, description = run_to_end(client, wf)

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["wait_ready"]
    assert record.error_type == "LoopLimitReached"
    assert "node 'wait_ready'" in record.error_message and "after 5 iterations" in record.error_message
    assert "node 'wait_ready' failed with LoopLimitReached" in (description.get("cause") or "")


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        (for_each("each", [1], subflow([wait("pause", 1)])), "a wait cannot run inside a sub-flow"),
        (
            for_each("each", [1], subflow([transform("a", 1)], [edge("a", "ghost")])),
            "target 'ghost' is not a node",
        ),
        (loop("again", subflow([transform("a", 1)]), "no template", 3), "config.until"),
        (loop("again", subflow([transform("a", 1)]), "{{ result }}", 5000), "config.max_iterations"),
    ],
)
def test_bad_sub_flows_fail_validation_naming_the_node(
    client: SegflowClient, node: dict, problem: str
) -> None:
    with pytest.raises(WorkflowValidationError) as raised:
        client.start(workflow("bad-subflow", [node], []))
    message = str(raised.value)
    assert f"'{node['node_id']}'" in message and problem in message, message
