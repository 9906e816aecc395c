"""Every example workflow runs end to end through the real ASL on the embedded AWS."""

from __future__ import annotations

import json
import uuid

import pytest
from segflow.dsl.schema import workflow_json_schema

from tests.conftest import EXAMPLES_DIR, REPO_ROOT, load_example, run_to_end
from tests.support.e2e import create_key_table
from tests.support.http_server import LocalHttpServer
from tests.support.lambda_functions import create_function, zip_directory
from tests.support.sagemaker import answer_probes, register_versions

pytestmark = pytest.mark.e2e

ALL_EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.json") if not p.name.endswith(".input.json"))
# Examples that act on their own published versions run by workflow id, in tests/e2e/test_versions.py.
PUBLISHED_EXAMPLES = {"canary_rollback"}
# Model deployments need registry versions and probe answers first (and one of them ends in a rollback).
MODEL_EXAMPLES = {"model_promotion", "model_rollback"}
EXAMPLES = [name for name in ALL_EXAMPLES if name not in PUBLISHED_EXAMPLES | MODEL_EXAMPLES]


def example_input(name: str, server: LocalHttpServer) -> dict:
    data = json.loads((EXAMPLES_DIR / f"{name}.input.json").read_text())
    if "api_url" in data:
        data["api_url"] = f"{server.url}/_segflow/echo"
    return data


@pytest.fixture()
def echo_api(fresh_http_server: LocalHttpServer) -> LocalHttpServer:
    for path in ("quotes/north", "quotes/south", "quotes/west", "reviews", "notifications"):
        fresh_http_server.route("POST", f"/_segflow/echo/{path}")
    return fresh_http_server


def test_every_example_has_an_input_file() -> None:
    assert EXAMPLES, "no examples found"
    for name in ALL_EXAMPLES:
        assert (EXAMPLES_DIR / f"{name}.input.json").exists(), name


def ensure_table(client, name: str, key: str) -> None:
    """The user's own table an example writes to (on AWS: created by you, named in -c data_tables=...)."""
    dynamodb = client.session.client("dynamodb")
    if name not in dynamodb.list_tables()["TableNames"]:
        create_key_table(dynamodb, name, key)


def ensure_example_functions(client) -> None:
    """The user's own function examples/lambda_invoke.json calls (on AWS: deployed by you, named in
    -c invoke_functions=...): examples/functions/score_order, zipped and created in moto."""
    lambda_ = client.session.client("lambda")
    if "example-score-order" not in {f["FunctionName"] for f in lambda_.list_functions()["Functions"]}:
        create_function(
            client.session, "example-score-order", zip_directory(EXAMPLES_DIR / "functions/score_order")
        )


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_to_success(
    name: str, client, echo_api: LocalHttpServer, example_node_modules: str
) -> None:
    data = example_input(name, echo_api)
    if "inventory_table" in data:
        ensure_table(client, data["inventory_table"], "sku")
    ensure_example_functions(client)
    arn, description = run_to_end(client, load_example(name), data)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    states = {view.node_id: view.status for view in client.node_views(arn)}
    assert set(states.values()) <= {"succeeded", "skipped"}


def test_linear_pipeline_output(client) -> None:
    arn, _ = run_to_end(
        client,
        load_example("linear_pipeline"),
        json.loads((EXAMPLES_DIR / "linear_pipeline.input.json").read_text()),
    )
    output = client.output(arn)["output"]
    assert output == {"summarize": {"message": "Ada ordered 8 units in 3 lines", "highlight": "kettle"}}


def test_fan_out_picks_the_cheapest_quote(client, echo_api: LocalHttpServer) -> None:
    arn, _ = run_to_end(client, load_example("fan_out_fan_in"), example_input("fan_out_fan_in", echo_api))
    best = client.output(arn)["output"]["choose"]
    assert best["quotes"] == 3
    assert best["best"]["supplier"] == "south"


@pytest.mark.parametrize(
    ("amount", "taken", "skipped"), [(650, "escalate", "auto_approve"), (120, "auto_approve", "escalate")]
)
def test_order_review_routes_one_arm(
    client, echo_api: LocalHttpServer, amount: int, taken: str, skipped: str
) -> None:
    data = example_input("order_review", echo_api)
    data["order"]["lines"] = [{"sku": "kettle", "amount": amount}]
    arn, description = run_to_end(client, load_example("order_review"), data)
    assert description["status"] == "SUCCEEDED"
    states = {view.node_id: view.status for view in client.node_views(arn)}
    assert states[taken] == "succeeded"
    assert states[skipped] == "skipped"
    assert states["notify"] == "succeeded"
    reviews = echo_api.requests_to("/_segflow/echo/reviews")
    assert len(reviews) == (1 if taken == "escalate" else 0)
    note = echo_api.requests_to("/_segflow/echo/notifications")[-1].body
    assert note["text"].endswith("sent for review" if taken == "escalate" else "approved")


def test_lambda_invoke_example_scores_with_the_users_function(client, echo_api: LocalHttpServer) -> None:
    ensure_example_functions(client)
    arn, _ = run_to_end(client, load_example("lambda_invoke"), example_input("lambda_invoke", echo_api))
    assert client.output(arn)["output"]["decide"] == {
        "order_id": "ord-1001",
        "total": 103.0,
        "needs_review": False,
    }


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((REPO_ROOT / "docs" / "workflow.schema.json").read_text())
    assert committed == workflow_json_schema(builtin_only=True), (
        "run `make schema` to regenerate docs/workflow.schema.json"
    )


def test_inventory_reservation_reserves_once_per_execution(client, echo_api: LocalHttpServer) -> None:
    data = example_input("inventory_reservation", echo_api)
    ensure_table(client, data["inventory_table"], "sku")
    dynamodb = client.session.client("dynamodb")
    key = {"sku": {"S": data["order"]["sku"]}}
    before = int(
        dynamodb.get_item(TableName=data["inventory_table"], Key=key)
        .get("Item", {})
        .get("reserved", {})
        .get("N", 0)
    )
    arn, _ = run_to_end(client, load_example("inventory_reservation"), data)
    assert client.output(arn)["output"]["confirm"] == {
        "message": "reserved 2 x kettle",
        "first_delivery": True,
    }
    item = dynamodb.get_item(TableName=data["inventory_table"], Key=key)["Item"]
    assert int(item["reserved"]["N"]) == before + 2


def test_model_examples_promote_two_versions_then_roll_back_a_broken_one(client, embedded) -> None:
    promotion, rollback = load_example("model_promotion"), load_example("model_rollback")
    suffix = uuid.uuid4().hex[:6]
    data = json.loads((EXAMPLES_DIR / "model_promotion.input.json").read_text())
    data.update(model_id=f"churn-{suffix}", model_package_group=f"churn-model-{suffix}")
    register_versions(embedded.client("sagemaker"), data["model_package_group"], 3)
    healthy = {"model": "churn", "churn_probability": 0.18}

    answer_probes(healthy, healthy)  # staging, then production
    arn, description = run_to_end(client, promotion, {**data, "version": 1})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.output(arn)["output"]["released"]["replaced_version"] is None, (
        "version 1 created the endpoints"
    )

    answer_probes(healthy, healthy)
    arn, description = run_to_end(client, promotion, {**data, "version": 2})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    released = client.output(arn)["output"]["released"]
    assert (released["version"], released["replaced_version"]) == ("2", "1")
    production = embedded.client("sagemaker").describe_endpoint(EndpointName=released["production"])
    routing = production["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 600,
    }

    answer_probes({"model": "churn-broken", "error": "feature 'tenure_months' missing"})
    rollback_input = json.loads((EXAMPLES_DIR / "model_rollback.input.json").read_text())
    rollback_input.update(model_id=data["model_id"], model_package_group=data["model_package_group"])
    arn, description = run_to_end(client, rollback, rollback_input)
    assert description["status"] == "FAILED"
    restored = embedded.client("sagemaker").describe_endpoint(EndpointName=released["production"])
    assert restored["EndpointConfigName"] == production["EndpointConfigName"], "back on version 2"
    newest = client.deployments(data["model_id"])[0]
    assert (newest.version, newest.status) == ("3", "rolled_back")
    assert client.node_records(arn).get("announce") is None, "nothing ran after the failed deployment"
