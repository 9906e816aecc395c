"""notification through the real ASL: SNS on the embedded AWS (delivery seen by a subscribed SQS queue) and
Slack-style webhooks against a real local HTTP server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import node_outputs, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import edge, notification, transform, workflow

pytestmark = pytest.mark.e2e


def order_then_notify(node: dict) -> dict:
    order = transform("order", {"id": "{{ input.order_id }}", "amount": "{{ input.amount }}"})
    return workflow("notify", [order, node], [edge("order", node["node_id"])])


def subscribed_topic(embedded: EmbeddedAws, fifo: bool = False) -> tuple[str, str]:
    """A new topic with an SQS queue subscribed to it (raw delivery off: the queue gets SNS's envelope)."""
    suffix = ".fifo" if fifo else ""
    name = f"orders-{uuid.uuid4().hex[:8]}{suffix}"
    sns, sqs = embedded.client("sns"), embedded.client("sqs")
    fifo_attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    topic_arn = sns.create_topic(Name=name, Attributes=fifo_attributes)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    embedded.stack.grant_user_resources(UserResources(topics=(name,)))  # -c notification_topics=…
    return topic_arn, queue_url


def received(embedded: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    messages = (
        embedded.client("sqs")
        .receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        )
        .get("Messages", [])
    )
    return messages


def test_an_sns_notification_reaches_the_subscribed_queue_with_subject_and_attributes(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    topic_arn, queue_url = subscribed_topic(embedded)
    node = notification(
        "notify",
        "sns",
        "Order {{ nodes.order.id }} ({{ nodes.order.amount }}) needs a review",
        topic_arn="{{ input.topic_arn }}",
        subject="Order {{ nodes.order.id }}",
        message_attributes={"kind": "review", "amount": "{{ nodes.order.amount }}"},
    )
    arn, description = run_to_end(
        client, order_then_notify(node), {"order_id": "A-1", "amount": 650, "topic_arn": topic_arn}
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = node_outputs(client, arn)["notify"]
    [message] = received(embedded, queue_url)
    envelope = json.loads(message["Body"])
    assert envelope["Message"] == "Order A-1 (650) needs a review"
    assert envelope["Subject"] == "Order A-1"
    assert envelope["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "review"},
        "amount": {"Type": "Number", "Value": "650"},
    }
    assert output == {"channel": "sns", "topic_arn": topic_arn, "message_id": envelope["MessageId"]}


def test_a_fifo_topic_gets_group_and_deduplication_ids_from_the_idempotency_key(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    import hashlib

    topic_arn, queue_url = subscribed_topic(embedded, fifo=True)
    node = notification("notify", "sns", "Order {{ nodes.order.id }} shipped", topic_arn=topic_arn)
    arn, description = run_to_end(client, order_then_notify(node), {"order_id": "A-2", "amount": 5})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [message] = received(embedded, queue_url)
    assert json.loads(message["Body"])["Message"] == "Order A-2 shipped"
    key = f"default:{execution_id_of(arn)}:notify"
    assert message["Attributes"]["MessageGroupId"] == f"default:{execution_id_of(arn)}"
    assert message["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(key.encode()).hexdigest()
    assert node_outputs(client, arn)["notify"]["message_group_id"] == f"default:{execution_id_of(arn)}"


def test_a_missing_topic_fails_with_topic_not_found(client: SegflowClient, embedded: EmbeddedAws) -> None:
    account = embedded.client("sts").get_caller_identity()["Account"]
    topic = f"no-such-topic-{uuid.uuid4().hex[:6]}"
    embedded.stack.grant_user_resources(UserResources(topics=(topic,)))  # named, never created
    topic_arn = f"arn:aws:sns:us-east-1:{account}:{topic}"
    node = notification("notify", "sns", "hello", topic_arn=topic_arn)
    arn, description = run_to_end(client, order_then_notify(node), {"order_id": "A-3", "amount": 1})
    assert description["status"] == "FAILED"
    assert f"node 'notify' failed with TopicNotFound: {topic_arn}: no such topic" in description["cause"]
    assert client.node_records(arn)["notify"].error_type == "TopicNotFound"


def test_a_webhook_gets_slack_style_json_with_an_idempotency_key(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("hooks/T000/B000/secret")
    http_server.route("POST", path, body={"ok": True})
    node = notification(
        "notify",
        "webhook",
        ":package: order {{ nodes.order.id }} approved",
        url=http_server.url + path,
        payload={"channel": "#orders", "username": "segflow"},
    )
    arn, description = run_to_end(client, order_then_notify(node), {"order_id": "A-4", "amount": 3})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = http_server.requests_to(path)
    assert request.body == {
        "text": ":package: order A-4 approved",
        "channel": "#orders",
        "username": "segflow",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == f"default:{execution_id_of(arn)}:notify"
    assert node_outputs(client, arn)["notify"] == {
        "channel": "webhook",
        "status": 200,
        "response": {"ok": True},
    }


def test_a_failing_webhook_is_retried_and_its_secret_path_stays_out_of_the_error(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("hooks/T000/B000/secret")
    http_server.route("POST", path, status=500, body={"error": "down"})
    node = notification(
        "notify",
        "webhook",
        "hello",
        url=http_server.url + path,
        retry={"max_attempts": 2, "backoff_seconds": 0.05},
    )
    arn, description = run_to_end(client, order_then_notify(node), {"order_id": "A-5", "amount": 3})
    assert description["status"] == "FAILED"
    record = client.node_records(arn)["notify"]
    assert (record.error_type, record.attempt, len(http_server.requests_to(path))) == ("HttpError", 2, 2)
    assert f"POST {http_server.url}/... answered 500" in description["cause"]
    assert "secret" not in description["cause"] and "secret" not in (record.error_message or "")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"channel": "sns", "message": "hi", "topic_arn": "orders"},
            r"config\.topic_arn: 'orders' is not an SNS topic ARN",
        ),
        (
            {"channel": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:t"},
            r"config\.message: is required",
        ),
        ({"channel": "sms", "message": "hi"}, r"config\.channel: 'sms' is not one of: 'sns', 'webhook'"),
        (
            {"channel": "webhook", "message": "hi", "url": "file:///etc/passwd"},
            r"config\.url: url must be http or https",
        ),
        (
            {
                "channel": "sns",
                "message": "hi",
                "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
                "subject": "x" * 101,
            },
            r"config\.subject: has 101 characters; at most 100",
        ),
    ],
)
def test_a_bad_config_is_refused_at_validation_naming_the_field(
    client: SegflowClient, config: dict, message: str
) -> None:
    from segflow.dsl.validation import WorkflowValidationError

    node = {"node_id": "notify", "type": "notification", "config": config}
    with pytest.raises(WorkflowValidationError, match=rf"node 'notify': {message}"):
        client.start(order_then_notify(node), {})
