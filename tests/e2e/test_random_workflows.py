"""Random workflows run end to end and match the reference model of routing (tests/support/dags.py).

The model knows only the documented semantics (which edges are taken, what each node type outputs); segments,
stages, Maps and records are the engine's business. A handful of examples keeps this tier fast.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segflow_cli.client import SegflowClient
from tests.support.dags import expected_run, random_routes, random_workflows
from tests.support.e2e import node_outputs

pytestmark = pytest.mark.e2e


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(random_workflows(max_nodes=30, max_padding=600, wait_seconds=(0,)), st.integers(0, 2**16))
def test_a_random_workflow_runs_as_the_reference_model_says(
    client: SegflowClient, raw: dict[str, Any], route_seed: int
) -> None:
    # Given a random workflow and an input choosing every judgment's label (sometimes one no edge accepts)
    execution_input = {"routes": random_routes(raw, random.Random(route_seed))}
    expected = expected_run(raw, execution_input)

    # When it runs
    arn = client.start(raw, execution_input)
    description = client.wait(arn, timeout_seconds=120)

    # Then a judgment without a matching edge fails the execution, naming a judgment the model predicts
    if expected.failed_judgments:
        assert description["status"] == "FAILED"
        assert any(f"'{node}'" in description["cause"] for node in expected.failed_judgments), description[
            "cause"
        ]
        return
    # otherwise every node ran or was skipped as predicted, with the predicted outputs
    assert description["status"] == "SUCCEEDED", description.get("cause")
    records = client.node_records(arn)
    assert {node_id: record.status for node_id, record in records.items()} == expected.statuses
    assert node_outputs(client, arn) == expected.outputs
    assert client.output(arn)["output"] == expected.final_output
    # and the execution's summary counts them as the records do
    assert client.output(arn)["nodes"] == dict(Counter(expected.statuses.values()))
