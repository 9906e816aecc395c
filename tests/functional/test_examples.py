"""Every example workflow runs end to end through the real ASL on the embedded AWS."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from segflow.adapters import factory
from segflow.domain.ids import execution_id_of
from segflow.dsl.schema import workflow_json_schema
from segflow.engine.approval_decisions import decide_approval

from segflow_local import bedrock_emulation
from segflow_local.example_data import EXAMPLE_USER_RESOURCES, ORDER_EVENTS_TOPIC, put_order, seed_examples
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
# Waits for a person: decided below.
APPROVAL_EXAMPLES = {"approval"}
# The model's answers are queued first (the embedded Bedrock answers from a queue).
LLM_EXAMPLES = {"llm_triage"}
EXAMPLES = [
    name
    for name in ALL_EXAMPLES
    if name not in PUBLISHED_EXAMPLES | MODEL_EXAMPLES | APPROVAL_EXAMPLES | LLM_EXAMPLES
]


def example_input(name: str, server: LocalHttpServer) -> dict:
    data = json.loads((EXAMPLES_DIR / f"{name}.input.json").read_text())
    if "api_url" in data:
        data["api_url"] = f"{server.url}/_segflow/echo"
    return data


@pytest.fixture(scope="module", autouse=True)
def example_resources_named(embedded) -> None:
    """The examples' tables, bucket, topic and function, named as a deployment names them in its contexts
    (cdk deploy -c data_tables=…): without that, the nodes that use them are refused, as on AWS."""
    embedded.stack.grant_user_resources(EXAMPLE_USER_RESOURCES)


@pytest.fixture(scope="module")
def example_data(client) -> dict[str, str]:
    """The tables, items, bucket and topic the examples read and publish to (segflow_local.example_data)."""
    return seed_examples(client.session)


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
    name: str, client, echo_api: LocalHttpServer, example_data, example_node_modules: str
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
    client, echo_api: LocalHttpServer, example_data, amount: int, taken: str, skipped: str
) -> None:
    data = example_input("order_review", echo_api)
    data["order_id"] = f"R-{uuid.uuid4().hex[:8]}"
    order = {"order_id": data["order_id"], "customer": "ada@example.com"}
    put_order(client.session, {**order, "lines": [{"sku": "kettle", "amount": amount}]}, data["orders_table"])
    arn, description = run_to_end(client, load_example("order_review"), data)
    assert description["status"] == "SUCCEEDED"
    states = {view.node_id: view.status for view in client.node_views(arn)}
    assert states[taken] == "succeeded"
    assert states[skipped] == "skipped"
    assert states["notify"] == "succeeded"
    reviews = echo_api.requests_to("/_segflow/echo/reviews")
    assert len(reviews) == (1 if taken == "escalate" else 0)
    note = echo_api.requests_to("/_segflow/echo/notifications")[-1].body
    assert note == {
        "text": f"Order {data['order_id']} ({amount}): "
        + ("sent for review" if taken == "escalate" else "approved"),
        "to": "ada@example.com",
    }


def test_data_query_example_prices_the_order_from_dynamodb_and_s3(client, example_data) -> None:
    data = json.loads((EXAMPLES_DIR / "data_query.input.json").read_text())
    arn, _ = run_to_end(client, load_example("data_query"), data)
    assert client.output(arn)["output"]["price_order"] == {
        "order_id": "A-1001",
        "lines": 2,
        "units": 5,
        "kettle_price": "40",
    }


def test_notification_example_reaches_the_topic_subscribers_and_the_webhook(
    client, echo_api: LocalHttpServer, example_data
) -> None:
    sqs = client.session.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"example-subscriber-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic_arn = example_data[ORDER_EVENTS_TOPIC]
    subscription = client.session.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn
    )
    try:
        data = example_input("notification", echo_api)
        assert data["topic_arn"] == topic_arn, "the input names the local topic"
        arn, description = run_to_end(client, load_example("notification"), data)
        assert description["status"] == "SUCCEEDED", description.get("cause")
        [message] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        envelope = json.loads(message["Body"])
        assert (envelope["Subject"], envelope["Message"]) == (
            "Order A-1001 shipped",
            "Order A-1001 shipped with DHL",
        )
        assert client.output(arn)["output"]["publish"]["message_id"] == envelope["MessageId"]
        [post] = echo_api.requests_to("/_segflow/echo/notifications")
        assert post.body == {"text": ":truck: Order A-1001 shipped with DHL", "username": "segflow"}
    finally:
        client.session.client("sns").unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


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


@pytest.mark.parametrize(
    ("amount", "decision", "result"),
    [
        (480, "approve", {"refund": {"refunded": 480, "approved_by": "jwt:ops-lead"}}),
        (480, "reject", {"decline": {"declined": True, "why": "receipt missing"}}),
        (40, None, {"auto_refund": {"refunded": 40, "approved_by": "policy"}}),
    ],
)
def test_approval_example_routes_on_the_decision(
    client, embedded, amount: int, decision: str | None, result: dict
) -> None:
    data = json.loads((EXAMPLES_DIR / "approval.input.json").read_text())
    data["refund"]["amount"] = amount
    arn = client.start(load_example("approval"), data)
    if decision is not None:
        deadline = time.monotonic() + 60
        with embedded.running_as("ManagementApi"):  # the API decides approvals
            approvals, tokens = factory.approvals(), factory.task_tokens()
        execution_id = execution_id_of(arn)
        while (
            pending := approvals.get(client.tenant_id, execution_id, "sign_off")
        ) is None or not pending.task_token:
            assert time.monotonic() < deadline, "the approval never waited"
            time.sleep(0.1)
        comment = "receipt missing" if decision == "reject" else None
        decide_approval(
            approvals,
            tokens,
            client.tenant_id,
            execution_id,
            "sign_off",
            decision,
            "jwt:ops-lead",
            comment,
            time.time(),
        )
    description = client.wait(arn, timeout_seconds=60)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.output(arn)["output"] == result


def test_for_each_example_keeps_the_line_order(client) -> None:
    data = json.loads((EXAMPLES_DIR / "for_each.input.json").read_text())
    arn, _ = run_to_end(client, load_example("for_each"), data)
    assert client.output(arn)["output"] == {"summary": {"lines": 3, "tiers": ["list", "bulk", "bulk"]}}


def test_loop_example_stops_when_the_budget_is_spent(client) -> None:
    data = json.loads((EXAMPLES_DIR / "loop.input.json").read_text())
    arn, _ = run_to_end(client, load_example("loop"), data)
    assert client.output(arn)["output"] == {"report": {"iterations": 4, "delays": [5, 5, 5, 5]}}


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        (
            '{"urgent": true, "category": "billing", "summary": "double charge"}',
            {"escalate": {"escalated": True, "category": "billing"}},
        ),
        (
            '{"urgent": false, "category": "delivery", "summary": "where is my parcel"}',
            {"enqueue": {"queued": "delivery", "summary": "where is my parcel"}},
        ),
    ],
)
def test_llm_triage_example_branches_on_the_model_s_json(client, answer: str, result: dict) -> None:
    bedrock_emulation.queue_answers(answer)
    data = json.loads((EXAMPLES_DIR / "llm_triage.input.json").read_text())
    arn, description = run_to_end(client, load_example("llm_triage"), data)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = client.output(arn)["output"]
    if "escalate" in output:
        assert output["escalate"].pop("tokens") > 0
    assert output == result
