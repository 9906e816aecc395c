"""The embedded cloud's patches to moto: DynamoDB answers exactly what moto's own code answers, only faster;
Step Functions is as strict as AWS about the 256 KB quota and names Lambda's errors as AWS does."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from segflow.domain.limits import STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES

from segflow_local import botocore_hook, moto_patches
from segflow_local.embedded import MOTO_CONFIG
from segflow_local.lambda_invocation import InvokeResult, timed_out
from tests.support.history import full_history
from tests.support.waiting import wait_for


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


def _sorted_table(client: Any, table: str) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


SORT_KEYS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
KEY_CONDITIONS: list[tuple[str, list[int], Any]] = [
    ("", [], lambda k: True),
    ("AND sk = :a", [13], lambda k: k == 13),
    ("AND sk < :a", [13], lambda k: k < 13),
    ("AND sk <= :a", [13], lambda k: k <= 13),
    ("AND sk > :a", [13], lambda k: k > 13),
    ("AND sk >= :a", [13], lambda k: k >= 13),
    ("AND sk BETWEEN :a AND :b", [3, 55], lambda k: 3 <= k <= 55),
    ("AND sk > :a", [100], lambda k: False),
]


@pytest.mark.parametrize(
    "condition, values, expected", KEY_CONDITIONS, ids=[c or "none" for c, _, _ in KEY_CONDITIONS]
)
@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
@pytest.mark.parametrize("limit", [None, 1, 3, 100])
def test_a_partition_query_answers_the_matching_items_in_order_a_page_at_a_time(
    condition: str, values: list[int], expected: Any, forward: bool, limit: int | None
) -> None:
    """What DynamoDB answers, computed here from the keys: pages of ``limit`` in the query's direction,
    a ``LastEvaluatedKey`` while more may follow, and paging with it reads each match once."""
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"window-{uuid.uuid4().hex[:8]}"
        _sorted_table(client, table)
        for key in reversed(SORT_KEYS):  # written out of order, beside another partition
            for partition in ("p", "q"):
                client.put_item(TableName=table, Item={"pk": {"S": partition}, "sk": {"N": str(key)}})
        client.delete_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"N": "2"}})
        client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": "5"}, "v": {"S": "replaced"}})
        keys = [k for k in SORT_KEYS if k != 2]
        matching = [k for k in (keys if forward else keys[::-1]) if expected(k)]

        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": f"pk = :pk {condition}".strip(),
            "ExpressionAttributeValues": {
                ":pk": {"S": "p"},
                **{name: {"N": str(v)} for name, v in zip((":a", ":b"), values, strict=False)},
            },
            "ScanIndexForward": forward,
            **({"Limit": limit} if limit else {}),
        }
        pages = []
        while True:
            page = client.query(**request)
            pages.append([int(item["sk"]["N"]) for item in page["Items"]])
            assert page["Count"] == len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            assert limit is not None and len(pages[-1]) == limit
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert [k for found in pages for k in found] == matching
        assert all(len(found) == (limit or len(matching)) for found in pages[:-1])
        replaced = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND sk = :a",
            ExpressionAttributeValues={":pk": {"S": "p"}, ":a": {"N": "5"}},
        )["Items"]
        assert replaced == [{"pk": {"S": "p"}, "sk": {"N": "5"}, "v": {"S": "replaced"}}]


def test_responses_hold_what_moto_serializes_without_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of attribute value (binary base64-encoded once), a Step Functions history, and a REST JSON
    answer (Bedrock's, whose members the REST serializer routes itself)."""
    from moto.core.serialize import JSONSerializer

    from segflow_local import bedrock_emulation

    moto_patches.apply()
    bedrock_emulation.apply()
    patched = JSONSerializer._serialize_type_structure
    item = {
        "pk": {"S": "x"},
        "sk": {"N": "1"},
        "s": {"S": "text ü"},
        "n": {"N": "-1.5"},
        "b": {"B": b"\x00\x01binary"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"x", b"y"]},
        "m": {"M": {"inner": {"L": [{"S": "l"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    with mock_aws(config=MOTO_CONFIG):
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"shapes-{uuid.uuid4().hex[:8]}"
        _sorted_table(client, table)
        client.put_item(TableName=table, Item=item)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        bedrock = boto3.client("bedrock-runtime", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name=f"history-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(
                {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"a": 1}, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/r",
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        wait_for(
            lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", "the execution ends", 30
        )

        def answers() -> list[Any]:
            query = client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "x"}},
            )
            got = client.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"N": "1"}})
            history = sfn.get_execution_history(executionArn=arn)["events"]
            converse = bedrock.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
            for answer in (query, got, converse):
                answer.pop("ResponseMetadata")
            converse.pop("metrics")
            return [query, got, history, converse]

        bedrock_emulation.queue_answers('{"same": "answer"}', '{"same": "answer"}')
        shortcut = answers()
        monkeypatch.setattr(JSONSerializer, "_serialize_type_structure", patched.__wrapped__)
        assert answers() == shortcut
    assert shortcut[0]["Items"] == [item] and shortcut[1]["Item"] == item
    assert [event["type"] for event in shortcut[2]][-1] == "ExecutionSucceeded"
    assert shortcut[3]["output"]["message"]["content"] == [{"text": '{"same": "answer"}'}]


def test_a_remembered_condition_is_checked_against_each_request_s_values() -> None:
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"conditions-{uuid.uuid4().hex[:8]}"
        _sorted_table(client, table)
        key = {"pk": {"S": "c"}, "sk": {"N": "1"}}
        client.put_item(TableName=table, Item={**key, "v": {"N": "1"}})

        def bump(expected: int) -> bool:
            try:
                client.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET v = v + :one",
                    ConditionExpression="v = :expected",
                    ExpressionAttributeValues={":expected": {"N": str(expected)}, ":one": {"N": "1"}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                return False
            return True

        assert [bump(1), bump(1), bump(2), bump(1), bump(3)] == [True, False, True, False, True]
        for _ in range(2):  # an invalid expression is refused every time, never remembered as valid
            with pytest.raises((ValueError, client.exceptions.ClientError)):  # moto lets its ValueError out
                client.put_item(
                    TableName=table,
                    Item=key,
                    ConditionExpression="v = = :x",
                    ExpressionAttributeValues={":x": {"N": "1"}},
                )


# --- Step Functions ----------------------------------------------------------------------------------------

ROLE_ARN = "arn:aws:iam::123456789012:role/probe"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


class LambdaAnswers:
    """Lambda's Invoke API answering from a script: a function's answers in turn, the last one repeating."""

    def __init__(self, answers: dict[str, list[InvokeResult]]) -> None:
        self._answers = {name: list(results) for name, results in answers.items()}
        self._lock = threading.Lock()
        self.calls: dict[str, int] = dict.fromkeys(answers, 0)

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult:
        name = function_ref.rsplit(":function:", 1)[-1]
        with self._lock:
            self.calls[name] += 1
            queue = self._answers[name]
            return queue.pop(0) if len(queue) > 1 else queue[0]


def answer(value: Any) -> InvokeResult:
    return InvokeResult(200, json.dumps(value).encode())


def function_error(body: dict[str, Any]) -> InvokeResult:
    return InvokeResult(200, json.dumps(body).encode(), "Unhandled")


THROTTLED = InvokeResult(
    429,
    b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User",'
    b'"message":"Rate Exceeded."}',
    error_code="TooManyRequestsException",
)


@contextmanager
def state_machines(lambdas: LambdaAnswers) -> Iterator[Any]:
    moto_patches.apply()
    with mock_aws(config=MOTO_CONFIG), botocore_hook.routed_to(lambdas):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def run(sfn: Any, definition: dict[str, Any], execution_input: Any = None) -> tuple[dict, list[dict]]:
    """Create the state machine, run it to its end; (DescribeExecution, history)."""
    machine = sfn.create_state_machine(
        name=f"probe-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}", input=json.dumps(execution_input or {})
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.02)
    return description, full_history(sfn, arn)


def entered_states(events: list[dict]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def failures(events: list[dict]) -> list[tuple[str, str]]:
    found = []
    for event in events:
        if event["type"] in ("LambdaFunctionFailed", "TaskFailed"):
            details = next(v for k, v in event.items() if k.endswith("EventDetails"))
            found.append((details["error"], details.get("cause", "")))
    return found


CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
RETRY_ALL = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
CAUGHT = {"Caught": {"Type": "Pass", "End": True}}


def map_of(items: int, item_output: dict[str, Any], mode: str) -> dict[str, Any]:
    """A Map over ``items`` integers whose every iteration outputs ``item_output`` (a Pass state's fields);
    its collected result is discarded (``ResultPath: null``)."""
    processor: dict[str, Any] = {
        "ProcessorConfig": {"Mode": mode},
        "StartAt": "Item",
        "States": {"Item": {"Type": "Pass", **item_output, "End": True}},
    }
    if mode == "DISTRIBUTED":
        processor["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": processor,
                "ResultPath": None,
                "Retry": RETRY_ALL,
                "Catch": CATCH_ALL,
                "End": True,
            },
            **CAUGHT,
        },
    }


@pytest.mark.parametrize("mode", ["INLINE", "DISTRIBUTED"])
def test_a_map_whose_collected_result_passes_256_kb_fails_and_no_catch_on_states_all_catches_it(
    mode: str,
) -> None:
    # Given a Map of 300 items, each adding a 1 KB result, its result discarded by ResultPath: null
    items = {"items": list(range(300))}
    with state_machines(LambdaAnswers({})) as sfn:
        # When it runs
        description, events = run(sfn, map_of(300, {"Result": {"blob": "x" * 1024}}, mode), items)

        # Then the execution fails on the quota, neither retried nor caught by States.ALL
        assert (description["status"], description["error"]) == ("FAILED", "States.DataLimitExceeded")
        assert "'Fan'" in description["cause"]
        states = entered_states(events)
        assert states.count("Fan") == 1 and "Caught" not in states

        # and the same Map whose iterations output {} (OutputPath: null) succeeds: 3 bytes an item
        description, _ = run(
            sfn, map_of(300, {"Result": {"blob": "x" * 1024}, "OutputPath": None}, mode), items
        )
        assert description["status"] == "SUCCEEDED"
        assert 10_000 * len("{},") + 1 < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES


def test_a_lambda_result_over_256_kb_is_neither_retried_nor_caught_by_states_all() -> None:
    lambdas = LambdaAnswers({"big": [answer({"blob": "x" * STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES})]})
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": function_arn("big"),
                "Retry": RETRY_ALL,
                "Catch": CATCH_ALL,
                "End": True,
            },
            **CAUGHT,
        },
    }
    with state_machines(lambdas) as sfn:
        description, events = run(sfn, definition)
    assert (description["status"], description["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert lambdas.calls["big"] == 1 and "Caught" not in entered_states(events)
    # A Catch that names the error does catch it.
    definition["States"]["Call"]["Catch"] = [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}]
    with state_machines(lambdas) as sfn:
        description, events = run(sfn, definition)
    assert description["status"] == "SUCCEEDED" and entered_states(events)[-1] == "Caught"


NO_ERROR_TYPE = {"errorMessage": "2024-05-01T10:00:00.000Z 7c1e Task timed out after 3.00 seconds"}


@pytest.mark.parametrize(
    ("invoke_answer", "error", "cause_has"),
    [
        (THROTTLED, "Lambda.TooManyRequestsException", "Rate Exceeded."),
        (function_error(NO_ERROR_TYPE), "Lambda.Unknown", json.dumps(NO_ERROR_TYPE, separators=(",", ":"))),
        (
            InvokeResult(200, timed_out("req-1", 3), "Unhandled"),
            "Sandbox.Timedout",
            "Task timed out after 3.00",
        ),
        (
            function_error({"errorType": "ValueError", "errorMessage": "bad"}),
            "ValueError",
            '"errorMessage":"bad"',
        ),
    ],
    ids=["throttled", "no-error-type", "timed-out", "raised"],
)
@pytest.mark.parametrize("integration", ["function-arn", "lambda-invoke"])
def test_lambda_failures_carry_the_names_step_functions_reports(
    invoke_answer: InvokeResult, error: str, cause_has: str, integration: str
) -> None:
    # Given a Task whose first invoke fails, and a retrier naming exactly that error
    lambdas = LambdaAnswers({"flaky": [invoke_answer, answer({"ok": True})]})
    if integration == "function-arn":
        task: dict[str, Any] = {"Resource": function_arn("flaky")}
    else:
        task = {
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn("flaky"), "Payload.$": "$"},
        }
    retry = [{"ErrorEquals": [error], "IntervalSeconds": 2, "MaxAttempts": 1, "JitterStrategy": "FULL"}]
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", **task, "Retry": retry, "End": True}},
    }

    # When it runs
    with state_machines(lambdas) as sfn:
        description, events = run(sfn, definition)

    # Then the failure carries Step Functions' name (the function's message in the cause), and it was retried
    [(name, cause)] = failures(events)
    assert name == error and cause_has in cause
    assert description["status"] == "SUCCEEDED" and lambdas.calls["flaky"] == 2


def test_retry_waits_are_scaled_down_locally() -> None:
    # Given a retrier whose first wait is 10 s on AWS
    lambdas = LambdaAnswers({"flaky": [THROTTLED, answer({"ok": True})]})
    retry = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 10, "MaxAttempts": 1}]
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": function_arn("flaky"), "Retry": retry, "End": True}},
    }
    with state_machines(lambdas) as sfn:
        description, events = run(sfn, definition)
    assert description["status"] == "SUCCEEDED"
    failed = next(e["timestamp"] for e in events if e["type"] == "LambdaFunctionFailed")
    retried = [e["timestamp"] for e in events if e["type"] == "LambdaFunctionScheduled"][1]
    waited = (retried - failed).total_seconds()
    assert waited < 10 * moto_patches.DEFAULT_RETRY_DELAY_SCALE + 5 < 10


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


def test_a_stop_right_after_the_start_aborts_the_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # Given a loaded machine: moto's worker thread takes a while to set an execution up after its start
    setting_up = ExecutionWorker._get_evaluation_environment

    def slowly(self: Any) -> Any:
        time.sleep(0.3)
        return setting_up(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_environment", slowly)
    waits = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 30, "End": True}}}
    with state_machines(LambdaAnswers({})) as sfn:
        machine = sfn.create_state_machine(
            name=f"probe-{uuid.uuid4().hex[:8]}", definition=json.dumps(waits), roleArn=ROLE_ARN
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}")["executionArn"]

        # When it is stopped at once, before its worker has set it up
        sfn.stop_execution(executionArn=arn, error="Operator.Stop")

        # Then the stop is accepted (not a 500) and the execution ends ABORTED
        wait_for(
            lambda: sfn.describe_execution(executionArn=arn)["status"] == "ABORTED",
            "the stopped execution to read ABORTED",
            timeout=5,
        )
