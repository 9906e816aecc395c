"""Handlers killed for real: ``segflow local up --isolation process`` with kill points; nothing runs twice.

Each node of a 10-node workflow increments its own counter in DynamoDB (``dynamodb_update``). One execution
per kill point: the handler process is SIGKILLed before a node's write, after it (before the node's
checkpoint), or right after the checkpoint. The invoke fails as Lambda's does (``Runtime.ExitError``), the
state machine's Retry re-invokes the segment, which resumes after the last checkpoint; every execution
succeeds and every counter ends at exactly 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from segflow_local.faults import FAULTS_ENV, KillPoint, fired, write_plan
from tests.cli.conftest import LocalEndpoint, start_local_endpoint
from tests.support.e2e import create_key_table
from tests.support.history import failed_lambda_causes
from tests.support.stores import stores_of

pytestmark = pytest.mark.e2e

NODES = [f"n{index:02d}" for index in range(1, 11)]
COUNTERS_TABLE = "crash-test-counters"
KILL_POINTS = ("before-write", "after-write", "after-checkpoint")
RUNS = [(node, point) for node in NODES for point in KILL_POINTS]


def run_id(node: str, point: str) -> str:
    return f"kill-{node}-{point}"


def kill_point(node: str, point: str) -> KillPoint:
    run = run_id(node, point)
    if point == "after-checkpoint":  # the node record's write (with its event) that says it succeeded
        # The item's own status: every write of the node carries "succeeded" among its condition's values.
        return KillPoint(
            id=run,
            operation="TransactWriteItems",
            when="after",
            contains=[run, f'"NODE#{node}"', '"status": {"S": "succeeded"}'],
        )
    when = "before" if point == "before-write" else "after"
    return KillPoint(id=run, operation="TransactWriteItems", when=when, contains=[f"{run}#{node}"])


def counter_workflow() -> dict[str, Any]:
    nodes = [
        {
            "node_id": node,
            "type": "action",
            "action_type": "dynamodb_update",
            "config": {
                "table": COUNTERS_TABLE,
                "key": {"counter_id": f"{{{{ input.run }}}}#{node}"},
                "update_expression": "ADD increments :one",
                "expression_attribute_values": {":one": 1},
            },
        }
        for node in NODES
    ]
    edges = [{"source": a, "target": b} for a, b in pairwise(NODES)]
    return {"workflow_id": "crash-counters", "nodes": nodes, "edges": edges}


# Killed between taking a number in the execution log and storing the change under it: after the first
# reservation that counts a finished node (n01's), before its event and checkpoint are written.
RESERVED_RUN = "kill-after-reserving"
RESERVED_KILL = KillPoint(
    id=RESERVED_RUN,
    operation="UpdateItem",
    when="after",
    contains=[
        RESERVED_RUN,
        '"sk": {"S": "LOG"}',
        '"ADD event_seq :n, nodes_completed :c"',
        '":c": {"N": "1"}',
    ],
)


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "plan.json"
    write_plan(path, [*(kill_point(node, point) for node, point in RUNS), RESERVED_KILL])
    return path


@pytest.fixture(scope="module")
def process_endpoint(plan_path: Path) -> Iterator[LocalEndpoint]:
    with start_local_endpoint(
        "crashtest",
        "--isolation",
        "process",
        "-c",
        f"data_tables={COUNTERS_TABLE}",
        **{FAULTS_ENV: str(plan_path)},
    ) as endpoint:
        create_key_table(endpoint.client("dynamodb"), COUNTERS_TABLE, "counter_id")
        yield endpoint


def counters(endpoint: LocalEndpoint, run: str) -> dict[str, int]:
    dynamodb = endpoint.client("dynamodb")
    found = {}
    for node in NODES:
        item = dynamodb.get_item(TableName=COUNTERS_TABLE, Key={"counter_id": {"S": f"{run}#{node}"}}).get(
            "Item"
        )
        found[node] = int(item["increments"]["N"]) if item else 0
    return found


def test_the_ready_line_says_handlers_run_in_worker_processes(process_endpoint: LocalEndpoint) -> None:
    assert process_endpoint.ready_line.endswith("(stage crashtest, handlers in worker processes)")


def test_a_kill_at_every_node_boundary_leaves_every_counter_at_exactly_one(
    process_endpoint: LocalEndpoint, plan_path: Path
) -> None:
    deployment = locate(process_endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)
    workflow = counter_workflow()

    def run(node_point: tuple[str, str]) -> tuple[str, str, dict[str, Any]]:
        run = run_id(*node_point)
        arn = client.start(workflow, {"run": run}, name=run)
        return run, arn, client.wait(arn, timeout_seconds=240)

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(run, RUNS))

    assert fired(plan_path) == sorted(run_id(node, point) for node, point in RUNS)
    for run, arn, description in outcomes:
        assert description["status"] == "SUCCEEDED", (run, description.get("cause"))
        assert counters(process_endpoint, run) == dict.fromkeys(NODES, 1), run
        # Step Functions names the failure by the errorType Lambda answers, its whole answer the cause.
        [cause] = failed_lambda_causes(stores_of(client).sfn, arn)
        error, _, payload = cause.partition(": ")
        assert error == "Runtime.ExitError", (run, cause)
        assert json.loads(payload)["errorMessage"].endswith(
            "Error: Runtime exited with error: signal: killed"
        )
    # Killed right after its checkpoint: the retried segment went on after the node, which ran once.
    for (node, point), (run, arn, _) in zip(RUNS, outcomes, strict=True):
        if point == "after-checkpoint":
            started = [
                e.new_state for e in client.events(arn) if e.node_id == node and e.new_state == "running"
            ]
            assert started == ["running"], run
            assert client.node_records(arn)[node].attempt == 1, run
    # Killed after its write: the retried node found its effect marker and did not write again.
    node, _ = RUNS[1]
    record = client.node_records(outcomes[1][1])[node]
    assert (record.status, json.loads(record.output_json or "{}")["applied_now"]) == ("succeeded", False)


def test_a_kill_after_taking_a_log_number_leaves_a_closed_number_and_every_change_logged_once(
    process_endpoint: LocalEndpoint, plan_path: Path
) -> None:
    deployment = locate(process_endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)
    arn = client.start(counter_workflow(), {"run": RESERVED_RUN}, name=RESERVED_RUN)
    description = client.wait(arn, timeout_seconds=240)

    assert RESERVED_RUN in fired(plan_path)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert counters(process_endpoint, RESERVED_RUN) == dict.fromkeys(NODES, 1)
    # the dead writer's number was closed (by the execution's end): the log reads to its end, each node's
    # outcome once, in order, one number skipped
    events = client.events(arn)
    seqs = [event.seq for event in events]
    assert seqs == sorted(seqs) and seqs[-1] == len(events) + 1
    outcomes = [event.node_id for event in events if event.new_state == "succeeded" and event.kind == "node"]
    assert outcomes == NODES
    assert events[-1].ends_execution and events[-1].progress.model_dump() == {"completed": 10, "total": 10}
