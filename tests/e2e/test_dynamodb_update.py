"""action/dynamodb_update on the embedded DynamoDB: templated keys and values, conditions, at most once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import create_key_table, node_outputs
from tests.support.workflows import dynamodb_update, edge, transform, workflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stock_table(embedded: EmbeddedAws) -> Iterator[str]:
    name = f"stock-{uuid.uuid4().hex[:8]}"
    dynamodb = embedded.client("dynamodb")
    create_key_table(dynamodb, name, "sku")
    embedded.stack.grant_user_resources(UserResources(tables=(name,)))  # -c data_tables=…
    yield name
    dynamodb.delete_table(TableName=name)


def reserve(table: str, **config: object) -> dict:
    return workflow(
        "reserve-stock",
        [
            transform("order", {"sku": "{{ input.sku }}", "qty": "{{ input.qty }}"}),
            dynamodb_update(
                "reserve",
                table,
                {"sku": "{{ nodes.order.sku }}"},
                "SET reserved = if_not_exists(reserved, :zero) + :qty, last_order = :order",
                expression_attribute_values={
                    ":qty": "{{ nodes.order.qty }}",
                    ":zero": 0,
                    ":order": "{{ execution.execution_id }}",
                },
                **config,
            ),
        ],
        [edge("order", "reserve")],
    )


def item(embedded: EmbeddedAws, table: str, sku: str) -> dict:
    return embedded.client("dynamodb").get_item(TableName=table, Key={"sku": {"S": sku}}).get("Item", {})


def test_the_update_lands_with_templated_key_and_values(
    client: SegflowClient, embedded: EmbeddedAws, stock_table: str
) -> None:
    arn, description = run_to_end(client, reserve(stock_table), {"sku": "sku-1", "qty": 3})
    assert description["status"] == "SUCCEEDED"
    stored = item(embedded, stock_table, "sku-1")
    assert stored["reserved"] == {"N": "3"}
    assert stored["last_order"] == {"S": execution_id_of(arn)}
    assert node_outputs(client, arn)["reserve"] == {
        "table": stock_table,
        "key": {"sku": "sku-1"},
        "applied_now": True,
    }
    # a second execution is a second effect: the ledger is per execution, not per workflow
    _, again = run_to_end(client, reserve(stock_table), {"sku": "sku-1", "qty": 2})
    assert again["status"] == "SUCCEEDED"
    assert item(embedded, stock_table, "sku-1")["reserved"] == {"N": "5"}


def test_a_condition_that_does_not_hold_fails_the_node_and_writes_nothing(
    client: SegflowClient, embedded: EmbeddedAws, stock_table: str
) -> None:
    workflow_ = reserve(stock_table, condition_expression="attribute_exists(sku)")
    arn, description = run_to_end(client, workflow_, {"sku": "sku-unknown", "qty": 1})
    assert description["status"] == "FAILED"
    assert "node 'reserve' failed with ConditionFailed" in description["cause"]
    assert item(embedded, stock_table, "sku-unknown") == {}
    assert client.node_records(arn)["reserve"].error_type == "ConditionFailed"


def test_a_missing_table_fails_the_node_naming_the_table(client: SegflowClient) -> None:
    _, description = run_to_end(client, reserve("no-such-table"), {"sku": "a", "qty": 1})
    assert description["status"] == "FAILED"
    assert "node 'reserve' failed with DynamoDbError: no-such-table" in description["cause"]


def test_a_bad_table_name_is_refused_before_anything_runs(client: SegflowClient) -> None:
    from segflow.dsl.validation import WorkflowValidationError

    with pytest.raises(WorkflowValidationError, match=r"reserve.*table"):
        client.start(reserve("x"), {"sku": "a", "qty": 1})
