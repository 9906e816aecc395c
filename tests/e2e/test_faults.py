"""Every workflow shape runs to completion while the embedded AWS fails calls the way AWS does under load.

While each test runs, ``segflow_local.fault_rates`` throttles 10 % of the state machine's Lambda invokes
(Step Functions reports ``Lambda.TooManyRequestsException`` and its Retry waits), and answers 10 % of the
handlers' DynamoDB calls with throttling, 10 % of their S3 calls with 500/503, and cancels 10 % of their
transactions with a ``TransactionConflict``. The rates are ones the state machine's current retriers
(3 retries, 1 s doubling) survive. Chain, fan-out with side effects, for_each, approval and resume each end
SUCCEEDED with the outputs they have without faults, every side effect happens exactly once, and every kind of
fault was injected during the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from segflow.adapters import factory
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of
from segflow.engine.approval_decisions import decide_approval

from segflow_cli.client import SegflowClient
from segflow_local import fault_rates
from segflow_local.embedded import EmbeddedAws
from segflow_local.fault_rates import RateInjector
from tests.conftest import history, run_to_end
from tests.support.e2e import create_key_table, final_output, node_outputs, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import (
    aggregator,
    api_call,
    approval,
    chain_edges,
    dynamodb_update,
    edge,
    fan_out_workflow,
    for_each,
    judgment,
    subflow,
    transform,
    workflow,
)

pytestmark = pytest.mark.e2e

RATE = 0.1  # one fault in every ten calls of each kind
# Where in its first ten calls each kind's first fault falls: seed 70 puts them early (the 2nd Lambda invoke,
# the 4th transaction, the 5th S3 call, the 6th DynamoDB call), so even the smallest workflow here meets all.
SEED = 70
COUNTERS_TABLE = "fault-test-counters"
THROTTLED = "Lambda.TooManyRequestsException"


@pytest.fixture()
def faults() -> Iterator[RateInjector]:
    with fault_rates.injecting(fault_rates.every_fault(RATE, SEED)) as injector:
        yield injector


@pytest.fixture(scope="module")
def counters_table(embedded: EmbeddedAws) -> str:
    create_key_table(embedded.client("dynamodb"), COUNTERS_TABLE, "counter_id")
    embedded.stack.grant_user_resources(UserResources(tables=(COUNTERS_TABLE,)))  # -c data_tables=…
    return COUNTERS_TABLE


def assert_every_kind_injected(injector: RateInjector, client: SegflowClient, arns: list[str]) -> None:
    assert set(injector.by_kind()) == set(fault_rates.KINDS), injector.counts
    # What Step Functions made of the throttled invokes: failures it named and retried.
    errors = [
        details.get("error")
        for arn in arns
        for event in history(client, arn)
        for key, details in event.items()
        if key.endswith("FailedEventDetails")
    ]
    assert errors.count(THROTTLED) == injector.by_kind()["lambda_throttling"], errors


def counter(embedded: EmbeddedAws, key: str) -> int:
    item = embedded.client("dynamodb").get_item(
        TableName=COUNTERS_TABLE, Key={"counter_id": {"S": key}}, ConsistentRead=True
    )
    return int(item["Item"]["increments"]["N"]) if "Item" in item else 0


def test_a_chain_with_writes_and_a_call_succeeds_with_each_effect_once(
    client: SegflowClient,
    embedded: EmbeddedAws,
    http_server: LocalHttpServer,
    counters_table: str,
    faults: RateInjector,
) -> None:
    notify = unique_path("chain-notify")
    http_server.route("POST", notify, body={"notified": True})
    run = unique_path("chain")[1:]
    steps = [f"count{index}" for index in range(4)]
    nodes = [
        transform("load", {"order": "{{ input.order }}", "amount": 42}),
        *[
            dynamodb_update(
                step,
                counters_table,
                {"counter_id": f"{run}#{step}"},
                "ADD increments :one",
                expression_attribute_values={":one": 1},
            )
            for step in steps
        ],
        api_call("notify", http_server.url + notify, body={"order": "{{ nodes.load.order }}"}),
        transform("report", {"order": "{{ nodes.load.order }}", "notified": "{{ nodes.notify.body }}"}),
    ]
    wf = workflow("faults-chain", nodes, chain_edges([n["node_id"] for n in nodes]))

    arn, description = run_to_end(client, wf, {"order": "o-1"}, timeout=120)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn)["report"] == {"order": "o-1", "notified": {"notified": True}}
    assert {step: counter(embedded, f"{run}#{step}") for step in steps} == dict.fromkeys(steps, 1)
    assert len(http_server.requests_to(notify)) == 1
    assert_every_kind_injected(faults, client, [arn])


def test_a_fan_out_of_calls_succeeds_with_each_request_received_once(
    client: SegflowClient, http_server: LocalHttpServer, faults: RateInjector
) -> None:
    paths = [unique_path(f"fan-{index}") for index in range(6)]
    for path in paths:
        http_server.route("POST", path)
    branches = [
        api_call(f"branch{index}", http_server.url + path, body={"branch": index})
        for index, path in enumerate(paths)
    ]
    wf = fan_out_workflow("faults-fan-out", branches, aggregator("join"))

    arn, description = run_to_end(client, wf, timeout=120)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert [len(http_server.requests_to(path)) for path in paths] == [1] * len(paths)
    join = node_outputs(client, arn)["join"]
    assert sorted(join["branches"]) == [f"branch{index}" for index in range(len(paths))]
    assert [join["results"][f"branch{i}"]["body"]["echo"] for i in range(len(paths))] == [
        {"branch": i} for i in range(len(paths))
    ]
    assert_every_kind_injected(faults, client, [arn])


def test_a_for_each_succeeds_with_every_item_in_order(client: SegflowClient, faults: RateInjector) -> None:
    flow = subflow(
        [
            judgment("even", "{{ item.even }}"),
            transform("tag_even", {"n": "{{ item.n }}", "kind": "even"}),
            transform("tag_odd", {"n": "{{ item.n }}", "kind": "odd"}),
        ],
        [edge("even", "tag_even", "true"), edge("even", "tag_odd", "false")],
    )
    wf = workflow(
        "faults-for-each",
        [
            transform("numbers", "{{ input.numbers }}"),
            for_each("each", "{{ nodes.numbers }}", flow, max_concurrency=4),
            transform("count", "{{ length(nodes.each.results) }}"),
        ],
        chain_edges(["numbers", "each", "count"]),
    )
    numbers = [{"n": n, "even": n % 2 == 0} for n in range(40)]

    arn, description = run_to_end(client, wf, {"numbers": numbers}, timeout=120)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    results = node_outputs(client, arn)["each"]["results"]
    assert results == [{"n": n, "kind": "even" if n % 2 == 0 else "odd"} for n in range(40)]
    assert final_output(client, arn) == {"count": 40}
    assert_every_kind_injected(faults, client, [arn])


def test_an_approval_waits_and_its_decision_completes_the_execution(
    client: SegflowClient, embedded: EmbeddedAws, faults: RateInjector
) -> None:
    wf = workflow(
        "faults-approval",
        [
            transform("prepare", {"amount": "{{ input.amount }}"}),
            approval("sign_off", "Release {{ input.amount }} EUR?"),
            judgment("approved", "{{ nodes.sign_off.approved }}"),
            transform("pay", {"paid": "{{ nodes.prepare.amount }}", "by": "{{ nodes.sign_off.approver }}"}),
            transform("refuse", {"refused": "{{ nodes.sign_off.comment }}"}),
        ],
        [
            edge("prepare", "sign_off"),
            edge("sign_off", "approved"),
            edge("approved", "pay", "true"),
            edge("approved", "refuse", "false"),
        ],
    )
    arn = client.start(wf, {"amount": 120})
    execution_id = execution_id_of(arn)
    with embedded.running_as("ManagementApi"):  # the API decides approvals
        approvals, tokens = factory.approvals(), factory.task_tokens()
    deadline = time.monotonic() + 60
    while not ((record := approvals.get(client.tenant_id, execution_id, "sign_off")) and record.task_token):
        assert time.monotonic() < deadline, "sign_off never waited for a decision"
        time.sleep(0.1)

    decide_approval(
        approvals,
        tokens,
        client.tenant_id,
        execution_id,
        "sign_off",
        "approve",
        "jwt:ada",
        "budget ok",
        time.time(),
    )
    description = client.wait(arn, timeout_seconds=60)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    outputs = node_outputs(client, arn)
    assert (outputs["sign_off"]["decision"], outputs["sign_off"]["approver"]) == ("approve", "jwt:ada")
    assert outputs["pay"] == {"paid": 120, "by": "jwt:ada"}
    assert client.node_records(arn)["refuse"].status == "skipped"
    assert_every_kind_injected(faults, client, [arn])


def test_a_failed_execution_resumes_and_succeeds_running_each_call_once_more_at_most(
    client: SegflowClient, fresh_http_server: LocalHttpServer, faults: RateInjector
) -> None:
    notify, charge = unique_path("notify"), unique_path("charge")
    fresh_http_server.route("POST", notify, body={"notified": True})
    fresh_http_server.route("POST", charge, status=500, body={"error": "card processor down"})
    no_retry = {"max_attempts": 1}
    names = ["load", "notify", "charge", "report"]
    nodes = [
        transform("load", {"order": "{{ input.order }}", "amount": 42}),
        api_call(
            "notify", fresh_http_server.url + notify, body={"order": "{{ nodes.load.order }}"}, retry=no_retry
        ),
        api_call(
            "charge",
            fresh_http_server.url + charge,
            body={"amount": "{{ nodes.load.amount }}"},
            retry=no_retry,
        ),
        transform("report", {"order": "{{ nodes.load.order }}", "charged": "{{ nodes.charge.body }}"}),
    ]
    wf = workflow("faults-resume", nodes, chain_edges(names))
    failed_arn, failed = run_to_end(client, wf, {"order": "o-7"}, timeout=120)
    assert failed["status"] == "FAILED" and "'charge'" in failed["cause"]

    fresh_http_server.route("POST", charge, body={"charged": 42})
    arn = client.resume(failed_arn)
    description = client.wait(arn, timeout_seconds=120)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn)["report"] == {"order": "o-7", "charged": {"charged": 42}}
    assert len(fresh_http_server.requests_to(notify)) == 1
    assert len(fresh_http_server.requests_to(charge)) == 2
    old_id = execution_id_of(failed_arn)
    reused = {node: record.reused_from for node, record in client.node_records(arn).items()}
    assert reused == {"load": old_id, "notify": old_id, "charge": None, "report": None}
    assert_every_kind_injected(faults, client, [failed_arn, arn])
