"""``segflow local up --fault-rate``: the endpoint fails calls as AWS does under load, in its own process (the
state machine's Lambda invokes) and in the worker processes that run the handlers; workflows still succeed."""

from __future__ import annotations

from pathlib import Path

import pytest

from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from segflow_local.fault_rates import logged
from tests.cli.conftest import run_segflow, start_local_endpoint
from tests.support.e2e import create_key_table
from tests.support.workflows import chain_edges, dynamodb_update, transform, workflow

pytestmark = pytest.mark.e2e

TABLE = "faults-cli-counters"
STEPS = [f"count{index}" for index in range(4)]


def test_workflows_succeed_while_server_and_workers_inject_faults(tmp_path: Path) -> None:
    log = tmp_path / "faults.log"
    arguments = (
        "--isolation",
        "process",
        "--fault-rate",
        "0.1",
        "--fault-seed",
        "70",
        "--fault-log",
        str(log),
    )
    with start_local_endpoint("faultsup", *arguments, "-c", f"data_tables={TABLE}") as endpoint:
        assert "injecting faults: lambda_throttling 10%" in endpoint.ready_line
        create_key_table(endpoint.client("dynamodb"), TABLE, "counter_id")
        deployment = locate(endpoint.url)
        client = SegflowClient(deployment.session, deployment.resources)
        nodes = [
            transform("load", {"order": "o-1"}),
            *[
                dynamodb_update(
                    step,
                    TABLE,
                    {"counter_id": step},
                    "ADD increments :one",
                    expression_attribute_values={":one": 1},
                )
                for step in STEPS
            ],
        ]
        wf = workflow("faults-cli-chain", nodes, chain_edges([n["node_id"] for n in nodes]))
        arns = [client.start(wf, {}) for _ in range(2)]
        descriptions = [client.wait(arn, timeout_seconds=120) for arn in arns]
        dynamodb = endpoint.client("dynamodb")
        counts = {
            step: int(
                dynamodb.get_item(TableName=TABLE, Key={"counter_id": {"S": step}})["Item"]["increments"]["N"]
            )
            for step in STEPS
        }

    assert [d["status"] for d in descriptions] == ["SUCCEEDED", "SUCCEEDED"], [
        d.get("cause") for d in descriptions
    ]
    assert counts == dict.fromkeys(STEPS, 2), "each execution's update applied once"
    injected = logged(log)
    assert injected.get("TooManyRequestsException", 0) > 0, injected  # the server's state machine
    throttled = injected.get("ProvisionedThroughputExceededException", 0) + injected.get(
        "ThrottlingException", 0
    )
    assert throttled > 0, injected  # the worker processes' handlers


@pytest.mark.parametrize("rate", ["0.75", "-1"])
def test_a_fault_rate_outside_what_retries_absorb_is_refused(rate: str) -> None:
    result = run_segflow("local", "up", "--port", "0", "--fault-rate", rate, timeout=60)
    assert result.returncode == 2
    assert "--fault-rate" in result.stderr
