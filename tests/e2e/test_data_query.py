"""data_query on the embedded DynamoDB and S3 and against a real local HTTP server, through the real ASL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import final_output, node_outputs, statuses, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import data_query, edge, transform, workflow

pytestmark = pytest.mark.e2e


def query_then_report(node: dict, report: str = "{{ nodes.read }}") -> dict:
    """The query -> report (which must never run when the query fails)."""
    return workflow("data-query", [node, transform("report", report)], [edge(node["node_id"], "report")])


@pytest.fixture(scope="module")
def orders_table(embedded: EmbeddedAws) -> Iterator[str]:
    """customer (hash) + order_id (range), with a by_status index; three orders of ada, one of bob."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    dynamodb = embedded.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "order_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("customer", "order_id", "status")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    orders = [
        ("ada", "A-1", "open", 120),
        ("ada", "A-2", "shipped", 80.5),
        ("ada", "A-3", "open", 700),
        ("bob", "B-1", "open", 15),
    ]
    for customer, order_id, status, amount in orders:
        dynamodb.put_item(
            TableName=name,
            Item={
                "customer": {"S": customer},
                "order_id": {"S": order_id},
                "status": {"S": status},
                "amount": {"N": str(amount)},
                "lines": {"L": [{"M": {"sku": {"S": "kettle"}}}]},
            },
        )
    embedded.stack.grant_user_resources(UserResources(tables=(name,)))  # -c data_tables=…
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def bucket(embedded: EmbeddedAws) -> str:
    name = f"data-query-{uuid.uuid4().hex[:8]}"
    s3 = embedded.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(
        Bucket=name, Key="orders/A-1.json", Body=json.dumps({"id": "A-1", "lines": [{"amount": 4}]})
    )
    s3.put_object(Bucket=name, Key="prices.csv", Body="sku,price\nkettle,30\nmug,4.5\n".encode("utf-8-sig"))
    s3.put_object(Bucket=name, Key="notes.txt", Body="fragile: handle with care")
    s3.put_object(Bucket=name, Key="broken.json", Body="{not json")
    embedded.stack.grant_user_resources(UserResources(buckets=(name,)))  # -c data_buckets=…
    return name


def get_order(table: str, **config: object) -> dict:
    return data_query(
        "read",
        "dynamodb",
        operation="get",
        table=table,
        key={"customer": "{{ input.customer }}", "order_id": "{{ input.order_id }}"},
        **config,
    )


def test_a_get_reads_the_item_with_a_templated_key_and_select_projects_it(
    client: SegflowClient, orders_table: str
) -> None:
    node = get_order(orders_table, select="{order: order_id, amount: amount, first_sku: lines[0].sku}")
    arn, description = run_to_end(
        client, query_then_report(node, "{{ nodes.read.amount }}"), {"customer": "ada", "order_id": "A-2"}
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["read"] == {"order": "A-2", "amount": 80.5, "first_sku": "kettle"}
    assert final_output(client, arn) == {"report": 80.5}


def test_a_query_reads_matching_items_in_order_with_limit_and_index(
    client: SegflowClient, orders_table: str
) -> None:
    newest_two = data_query(
        "read",
        "dynamodb",
        operation="query",
        table=orders_table,
        key_condition_expression="customer = :c",
        expression_attribute_values={":c": "{{ input.customer }}"},
        scan_forward=False,
        limit=2,
        select="[].order_id",
    )
    arn, description = run_to_end(client, query_then_report(newest_two), {"customer": "ada"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["read"] == ["A-3", "A-2"]

    open_orders = data_query(
        "read",
        "dynamodb",
        operation="query",
        table=orders_table,
        index="by_status",
        key_condition_expression="#s = :s",
        expression_attribute_names={"#s": "status"},
        expression_attribute_values={":s": "open"},
        filter_expression="amount > :min",
        select="sort([].order_id)",
    )
    open_orders["config"]["expression_attribute_values"][":min"] = 100
    arn, description = run_to_end(client, query_then_report(open_orders))
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["read"] == ["A-1", "A-3"]


def test_a_missing_item_fails_with_not_found_or_is_null_when_asked(
    client: SegflowClient, orders_table: str
) -> None:
    absent = {"customer": "ada", "order_id": "A-404"}
    wf = query_then_report(get_order(orders_table))
    arn, description = run_to_end(client, wf, absent)
    assert description["status"] == "FAILED"
    assert "node 'read' failed with NotFound" in description["cause"]
    assert "A-404" in description["cause"]
    assert statuses(client, arn, wf)["report"] == "pending"

    arn, description = run_to_end(client, query_then_report(get_order(orders_table, missing="null")), absent)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {"report": None}


def test_a_table_the_deployment_did_not_name_is_refused(client: SegflowClient, orders_table: str) -> None:
    """As in AWS: nodes act through the node role's session for their tenant, which may read only the tables
    named in ``-c data_tables=…``."""
    _, description = run_to_end(
        client, query_then_report(get_order("segflow-unnamed-table")), {"customer": "a", "order_id": "b"}
    )
    assert description["status"] == "FAILED"
    assert "AccessDeniedException" in description["cause"]
    session = "assumed-role/segflow-test-tenantnoderole/tenant-default"
    assert f"{session} is not authorized to perform: dynamodb:GetItem" in description["cause"]


def test_a_missing_table_fails_naming_the_table(client: SegflowClient, embedded: EmbeddedAws) -> None:
    embedded.stack.grant_user_resources(UserResources(tables=("no-such-table",)))  # named, not created
    _, description = run_to_end(
        client, query_then_report(get_order("no-such-table")), {"customer": "a", "order_id": "b"}
    )
    assert description["status"] == "FAILED"
    assert (
        "node 'read' failed with DynamoDbError: no-such-table: ResourceNotFoundException"
        in (description["cause"])
    )


@pytest.mark.parametrize(
    ("key", "fmt", "expected"),
    [
        ("orders/A-1.json", "json", {"id": "A-1", "lines": [{"amount": 4}]}),
        ("prices.csv", "csv", [{"sku": "kettle", "price": "30"}, {"sku": "mug", "price": "4.5"}]),
        ("notes.txt", "text", "fragile: handle with care"),
    ],
)
def test_an_s3_object_is_read_as_json_csv_or_text(
    client: SegflowClient, bucket: str, key: str, fmt: str, expected: object
) -> None:
    node = data_query("read", "s3", bucket="{{ input.bucket }}", key=key, format=fmt)
    arn, description = run_to_end(client, query_then_report(node), {"bucket": bucket})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["read"] == expected


@pytest.mark.parametrize(
    ("key", "bucket_name", "error"),
    [
        ("orders/A-404.json", None, "NotFound: s3://{bucket}/orders/A-404.json: no such object"),
        ("broken.json", None, "InvalidData: s3://{bucket}/broken.json is not json"),
        ("any.json", "no-such-bucket-segflow", "S3Error: s3://no-such-bucket-segflow/any.json: NoSuchBucket"),
    ],
)
def test_a_missing_or_unreadable_object_fails_naming_it(
    client: SegflowClient, embedded: EmbeddedAws, bucket: str, key: str, bucket_name: str | None, error: str
) -> None:
    if bucket_name:  # named in -c data_buckets=…, but never created
        embedded.stack.grant_user_resources(UserResources(buckets=(bucket_name,)))
    node = data_query("read", "s3", bucket=bucket_name or bucket, key=key)
    _, description = run_to_end(client, query_then_report(node))
    assert description["status"] == "FAILED"
    assert f"node 'read' failed with {error.format(bucket=bucket)}" in description["cause"]


def test_a_result_over_max_result_bytes_fails_clearly(client: SegflowClient, bucket: str) -> None:
    node = data_query("read", "s3", bucket=bucket, key="notes.txt", format="text", max_result_bytes=10)
    _, description = run_to_end(client, query_then_report(node))
    assert description["status"] == "FAILED"
    assert "ResultTooLarge: the result is 27 bytes, more than max_result_bytes (10)" in description["cause"]


def test_an_http_get_reads_the_body_with_an_idempotency_key(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("order")
    http_server.route("GET", path, body={"order": {"id": "A-7", "total": 42}, "links": []})
    node = data_query(
        "read",
        "http",
        url=http_server.url + path,
        headers={"Authorization": "Bearer local"},
        query={"customer": "{{ input.customer }}"},
        select="order",
    )
    arn, description = run_to_end(client, query_then_report(node), {"customer": "ada"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = http_server.requests_to(path)
    assert (request.method, request.body) == ("GET", None)
    assert request.path.endswith("?customer=ada")
    assert request.headers["Authorization"] == "Bearer local"
    assert request.headers["Idempotency-Key"] == f"default:{execution_id_of(arn)}:read"
    assert node_outputs(client, arn)["read"] == {"id": "A-7", "total": 42}


def test_an_http_404_fails_without_retries_and_a_5xx_is_retried(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    retry = {"max_attempts": 3, "backoff_seconds": 0.05}
    missing = unique_path("missing")  # no route: the server answers 404
    _, description = run_to_end(
        client, query_then_report(data_query("read", "http", url=http_server.url + missing, retry=retry))
    )
    assert description["status"] == "FAILED"
    assert "HttpError" in description["cause"] and "404" in description["cause"]
    assert len(http_server.requests_to(missing)) == 1, "a 404 is not retried"

    flaky = unique_path("flaky")
    http_server.route("GET", flaky, body={"ok": True}, fail_times=2)
    arn, description = run_to_end(
        client, query_then_report(data_query("read", "http", url=http_server.url + flaky, retry=retry))
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.node_records(arn)["read"].attempt == 3
    assert len(http_server.requests_to(flaky)) == 3

    down = unique_path("down")
    http_server.route("GET", down, status=500, body={"error": "boom"})
    arn, description = run_to_end(
        client, query_then_report(data_query("read", "http", url=http_server.url + down, retry=retry))
    )
    assert description["status"] == "FAILED"
    assert (client.node_records(arn)["read"].error_type, len(http_server.requests_to(down))) == (
        "HttpError",
        3,
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"source": "dynamodb", "operation": "get", "table": "orders"},
            r"config\.key: is required",
        ),
        (
            {"source": "dynamodb", "operation": "scan", "table": "orders"},
            r"config\.operation: 'scan' is not one of: 'get', 'query'",
        ),
        (
            {"source": "s3", "bucket": "b-1", "key": "k", "select": "[["},
            r"config\.select: invalid expression",
        ),
        (
            {"source": "s3", "bucket": "b-1", "key": "k", "format": "xml"},
            r"config\.format: 'xml' is not one of",
        ),
        ({"source": "http", "url": "ftp://x"}, r"config\.url: url must be http or https"),
        ({"source": "ftp"}, r"config\.source: 'ftp' is not one of: 'dynamodb', 's3', 'http'"),
    ],
)
def test_a_bad_config_is_refused_at_validation_naming_the_field(
    client: SegflowClient, config: dict, message: str
) -> None:
    from segflow.dsl.validation import WorkflowValidationError

    node = {"node_id": "read", "type": "data_query", "config": config}
    with pytest.raises(WorkflowValidationError, match=rf"node 'read': {message}"):
        client.start(query_then_report(node), {})
