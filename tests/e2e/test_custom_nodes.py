"""A custom node type (examples/custom_nodes/credit_nodes.py) running in a workflow through the real ASL."""

from __future__ import annotations

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import load_example, run_to_end
from tests.support.e2e import node_outputs

pytestmark = pytest.mark.e2e


def test_the_custom_type_runs_and_its_output_feeds_the_next_node(
    client: SegflowClient, example_node_modules: str
) -> None:
    arn, description = run_to_end(
        client,
        load_example("custom_node"),
        {"customer": {"id": "c-1", "credit_limit": 1000}, "order_total": 250},
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    outputs = node_outputs(client, arn)
    assert outputs["check"] == {"customer_id": "c-1", "approved": 250.0, "utilisation": 0.25}
    assert outputs["confirm"] == {"message": "approved 250.0 for c-1"}


def test_the_custom_type_fails_the_node_with_its_own_error(
    client: SegflowClient, example_node_modules: str
) -> None:
    arn, description = run_to_end(
        client,
        load_example("custom_node"),
        {"customer": {"id": "c-2", "credit_limit": 100}, "order_total": 95},
    )
    assert description["status"] == "FAILED"
    assert "node 'check' failed with CreditDeclined" in description["cause"]
    record = client.node_records(arn)["check"]
    assert record.error_type == "CreditDeclined"
    assert "c-2: 95 is 95% of the limit 100 (at most 80%)" in record.error_message
    assert "confirm" not in client.node_records(arn)


def test_the_custom_config_model_is_checked_at_validation_naming_the_field(
    client: SegflowClient, example_node_modules: str
) -> None:
    from segflow.dsl.validation import WorkflowValidationError

    workflow = load_example("custom_node")
    workflow["nodes"][0]["config"]["amount"] = -5
    with pytest.raises(WorkflowValidationError, match=r"node 'check': config.amount: must be greater than 0"):
        client.start(workflow, {})
