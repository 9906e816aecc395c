"""The local stream poller delivers what the stack's event source mapping would: only the records its
declared filter accepts (PushEvents: new events, not TTL deletions or rewrites), in order, each once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from segflow.adapters.event_log import log_entries, pack_events
from segflow.declaration import EVENTS_TABLE, PUSH_EVENTS, STREAM_CONSUMERS

from segflow_local.event_sources import StreamConsumers
from segflow_local.lambda_invocation import LOCAL_REGION, InvokeResult, local_function_name

STAGE = "streamtest"
TABLE = "segflow-streamtest-events"


class Recorder:
    """Stands in for the local Lambda runtime: records each invocation's records."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[dict[str, Any]]]] = []
        self.changed = threading.Condition()

    def __call__(self, function: str, payload: bytes) -> InvokeResult:
        with self.changed:
            self.batches.append((function, json.loads(payload)["Records"]))
            self.changed.notify_all()
        return InvokeResult(200, b'{"batchItemFailures": []}')

    def records(self) -> list[tuple[str, str]]:
        return [
            (record["eventName"], record["dynamodb"]["Keys"]["sk"]["S"])
            for _, records in self.batches
            for record in records
        ]

    def wait_for(self, sk: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(key == sk for _, key in self.records()):
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"{sk} never reached the function: {self.records()}")


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server on loopback: its DynamoDB Streams answer over HTTP (not under mock_aws), as in
    ``segflow local up``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


@pytest.fixture
def events_table(moto_url: str) -> Iterator[Any]:
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION, endpoint_url=moto_url)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    yield dynamodb
    dynamodb.delete_table(TableName=TABLE)  # moto's state outlives its server: the next test makes its own


def test_the_events_stream_reaches_push_events_with_new_events_only(events_table: Any, moto_url: str) -> None:
    assert [c.function for c in STREAM_CONSUMERS if c.table == EVENTS_TABLE.logical_id] == [
        PUSH_EVENTS.logical_id
    ]
    recorder = Recorder()
    consumers = StreamConsumers(
        events_table,
        boto3.client("dynamodbstreams", region_name=LOCAL_REGION, endpoint_url=moto_url),
        {EVENTS_TABLE.logical_id: TABLE},
        STAGE,
        recorder,
    )
    consumers.start()
    try:
        pk = {"S": "EXEC#acme#run-1"}
        events_table.put_item(TableName=TABLE, Item={"pk": pk, "sk": {"S": "SEQ#1"}, "kind": {"S": "node"}})
        events_table.put_item(
            TableName=TABLE, Item={"pk": pk, "sk": {"S": "SEQ#1"}, "kind": {"S": "rewritten"}}
        )
        events_table.update_item(
            TableName=TABLE,
            Key={"pk": pk, "sk": {"S": "SEQ#1"}},
            UpdateExpression="SET expires_at = :t",
            ExpressionAttributeValues={":t": {"N": "1"}},
        )
        events_table.delete_item(TableName=TABLE, Key={"pk": pk, "sk": {"S": "SEQ#1"}})  # as TTL deletes
        events_table.put_item(TableName=TABLE, Item={"pk": pk, "sk": {"S": "SEQ#2"}, "kind": {"S": "node"}})
        # The stream is read in order: once SEQ#2 arrived, everything written before it was judged.
        recorder.wait_for("SEQ#2")
    finally:
        consumers.stop()
    assert recorder.records() == [("INSERT", "SEQ#1"), ("INSERT", "SEQ#2")]
    assert {function for function, _ in recorder.batches} == {local_function_name(STAGE, PUSH_EVENTS)}


def test_a_page_of_the_log_reaches_push_events_as_lambda_sends_it_and_reads_as_its_events(
    events_table: Any, moto_url: str
) -> None:
    recorder = Recorder()
    consumers = StreamConsumers(
        events_table,
        boto3.client("dynamodbstreams", region_name=LOCAL_REGION, endpoint_url=moto_url),
        {EVENTS_TABLE.logical_id: TABLE},
        STAGE,
        recorder,
    )
    consumers.start()
    texts = ['{"seq":7}', '{"seq":8}', '{"seq":9}']
    try:
        page = {"S": "EXEC#acme#run-2"}, {"S": "SEQ#000000000007"}
        events_table.put_item(
            TableName=TABLE,
            Item={
                "pk": page[0],
                "sk": page[1],
                "seq": {"N": "7"},
                "last_seq": {"N": "9"},
                "events": {"B": pack_events(texts)},  # compressed: not text
            },
        )
        events_table.put_item(TableName=TABLE, Item={"pk": page[0], "sk": {"S": "SEQ#000000000010"}})
        recorder.wait_for("SEQ#000000000010")  # the page did not stop the stream
    finally:
        consumers.stop()
    images = [record["dynamodb"]["NewImage"] for _, batch in recorder.batches for record in batch]
    [image] = [image for image in images if "events" in image]
    assert isinstance(image["events"]["B"], str)  # base64, as in Lambda's event
    assert log_entries(image) == [(7, texts[0]), (8, texts[1]), (9, texts[2])]
