"""The embedded cloud's Query patch returns exactly what moto's full scan returns, only faster."""

from __future__ import annotations

import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from moto import mock_aws

from segflow_local import moto_patches


def _query_all(client, table: str, pk: str, **extra) -> list[dict]:
    return client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": "NODE#"}},
        **extra,
    )["Items"]


def test_partition_query_matches_unpatched_results() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for partition in ("a", "b", "c"):
            for index in range(30):
                client.put_item(
                    TableName="t",
                    Item={"pk": {"S": partition}, "sk": {"S": f"NODE#{index:03d}"}, "v": {"N": str(index)}},
                )
            client.put_item(TableName="t", Item={"pk": {"S": partition}, "sk": {"S": "META"}})
        before = [_query_all(client, "t", p) for p in ("a", "b", "zzz")]
        before_desc = _query_all(client, "t", "b", ScanIndexForward=False, Limit=5)
        moto_patches.apply()
        after = [_query_all(client, "t", p) for p in ("a", "b", "zzz")]
        after_desc = _query_all(client, "t", "b", ScanIndexForward=False, Limit=5)
    assert before == after
    assert before_desc == after_desc
    assert len(after[0]) == 30 and after[2] == []


def test_a_transaction_with_a_failing_condition_writes_nothing_and_reports_each_item() -> None:
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"transactions-{uuid.uuid4().hex[:8]}"  # other tests' mocks may still hold a table "t"
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName=table, Item={"pk": {"S": "taken"}, "n": {"N": "1"}})
        items = [
            {"Update": {"TableName": table, "Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "taken"}, "n": {"N": "2"}},
                     "ConditionExpression": "attribute_not_exists(pk)",
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ]  # fmt: skip
        try:
            client.transact_write_items(TransactItems=items)
            raise AssertionError("the transaction should have been cancelled")
        except client.exceptions.TransactionCanceledException as error:
            reasons = error.response["CancellationReasons"]
        assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
        assert reasons[1]["Item"] == {"pk": {"S": "taken"}, "n": {"N": "1"}}
        assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "counter"}})
        assert client.get_item(TableName=table, Key={"pk": {"S": "taken"}})["Item"]["n"] == {"N": "1"}
        # and when every condition holds, every write lands
        client.transact_write_items(TransactItems=[items[0]])
        assert client.get_item(TableName=table, Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "1"}


def test_lower_bounded_queries_see_every_write_since_the_last_query() -> None:
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"log-{uuid.uuid4().hex[:8]}"
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "seq", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

        def after(seq: int, comparison: str = ">", limit: int = 1000) -> list[int]:
            items = client.query(
                TableName=table,
                KeyConditionExpression=f"pk = :pk AND seq {comparison} :after",
                ExpressionAttributeValues={":pk": {"S": "x"}, ":after": {"N": str(seq)}},
                Limit=limit,
            )["Items"]
            return [int(item["seq"]["N"]) for item in items]

        for seq in (5, 1, 3, 10, 7):  # written out of order
            client.put_item(TableName=table, Item={"pk": {"S": "x"}, "seq": {"N": str(seq)}})
        assert after(3) == [5, 7, 10] and after(3, ">=") == [3, 5, 7, 10] and after(0, limit=2) == [1, 3]
        client.put_item(TableName=table, Item={"pk": {"S": "x"}, "seq": {"N": "4"}})
        client.delete_item(TableName=table, Key={"pk": {"S": "x"}, "seq": {"N": "7"}})
        assert after(3) == [4, 5, 10]
        client.put_item(TableName=table, Item={"pk": {"S": "x"}, "seq": {"N": "7"}, "v": {"S": "new"}})
        client.delete_item(TableName=table, Key={"pk": {"S": "x"}, "seq": {"N": "4"}})  # same count as before
        assert after(3) == [5, 7, 10] and after(10) == [] and after(-1) == [1, 3, 5, 7, 10]


def test_concurrent_atomic_counter_updates_each_answer_their_own_value() -> None:
    # The execution log hands out numbers with ADD ... ReturnValues=ALL_NEW: each caller must be told the
    # value its own update produced, as DynamoDB does, never a later thread's.
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"counter-{uuid.uuid4().hex[:8]}"
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        answers: list[int] = []

        def bump(_: int) -> None:
            for _ in range(25):
                response = client.update_item(
                    TableName=table,
                    Key={"pk": {"S": "c"}},
                    UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="ALL_NEW",
                )
                answers.append(int(response["Attributes"]["n"]["N"]))

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads often, as a loaded machine does
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(bump, range(16)))
        finally:
            sys.setswitchinterval(interval)
    assert sorted(answers) == list(range(1, 401))
