"""What the examples read, and the topic they publish to: created on a local endpoint or the embedded AWS.

``python -m segflow_local.example_data --endpoint http://127.0.0.1:4566`` before running
examples/order_review.json, data_query.json or notification.json by hand; the example tests and ``make demo``
call :func:`seed_examples`. Idempotent. On AWS, create these yourself and name them in the stack's contexts
(``data_tables``, ``data_buckets``, ``notification_topics``).
"""

from __future__ import annotations

import argparse
from typing import Any

from segflow.declaration import UserResources

ORDERS_TABLE = "example-orders"  # order_review: hash key order_id
ORDER_LINES_TABLE = "example-order-lines"  # data_query: order_id + line
DATA_BUCKET = "example-segflow-data"  # data_query: prices.csv
ORDER_EVENTS_TOPIC = "example-order-events"  # notification
INVENTORY_TABLE = "example-inventory"  # inventory_reservation: hash key sku
SCORE_ORDER_FUNCTION = "example-score-order"  # lambda_invoke: examples/functions/score_order

# What a stack that runs the examples names in its contexts (cdk deploy -c data_tables=… or
# ``segflow local up --examples``): the examples' nodes may use these and nothing else of yours.
EXAMPLE_USER_RESOURCES = UserResources(
    tables=(ORDERS_TABLE, ORDER_LINES_TABLE, INVENTORY_TABLE),
    buckets=(DATA_BUCKET,),
    topics=(ORDER_EVENTS_TOPIC,),
    functions=(SCORE_ORDER_FUNCTION,),
)

ORDERS = [
    {
        "order_id": "A-1001",
        "customer": "ada@example.com",
        "lines": [{"sku": "kettle", "amount": 400}, {"sku": "mug", "amount": 250}],
    },
]
ORDER_LINES = [
    {"order_id": "A-1001", "line": "1", "sku": "kettle", "qty": 1},
    {"order_id": "A-1001", "line": "2", "sku": "mug", "qty": 4},
]
PRICES_CSV = "sku,price\nkettle,40\nmug,8\n"


def create_table(dynamodb: Any, name: str, *keys: str) -> None:
    """A table with string keys (hash, then range), on demand; nothing when it exists."""
    if name in dynamodb.list_tables()["TableNames"]:
        return
    kinds = ("HASH", "RANGE")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, kinds, strict=False)],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def put_order(session: Any, order: dict[str, Any], table: str = ORDERS_TABLE) -> None:
    from segflow.adapters.dynamo_items import encode_item

    session.client("dynamodb").put_item(TableName=table, Item=encode_item(order))


def seed_examples(session: Any) -> dict[str, str]:
    """Create the examples' tables, items, bucket, object and topic; returns the topic's ARN by name."""
    dynamodb = session.client("dynamodb")
    create_table(dynamodb, ORDERS_TABLE, "order_id")
    create_table(dynamodb, ORDER_LINES_TABLE, "order_id", "line")
    for order in ORDERS:
        put_order(session, order)
    for line in ORDER_LINES:
        put_order(session, line, ORDER_LINES_TABLE)
    s3 = session.client("s3")
    if DATA_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_object(Bucket=DATA_BUCKET, Key="prices.csv", Body=PRICES_CSV.encode())
    topic_arn = session.client("sns").create_topic(Name=ORDER_EVENTS_TOPIC)["TopicArn"]
    return {ORDER_EVENTS_TOPIC: topic_arn}


def main() -> None:
    import boto3

    from segflow_cli.locate import LOCAL_REGION, EndpointSession

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    endpoint = parser.parse_args().endpoint
    session = boto3.session.Session(
        aws_access_key_id="ak", aws_secret_access_key="sk", region_name=LOCAL_REGION
    )
    for name, arn in seed_examples(EndpointSession(endpoint, session)).items():
        print(f"{name}: {arn}")


if __name__ == "__main__":
    main()
