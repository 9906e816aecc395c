"""The rate-based fault injector answers as AWS does, only handlers' calls, at the rate asked, by the seed;
segflow's transactions survive the conflicts it injects."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from pydantic import ValidationError
from segflow.adapters.effect_ledger import EffectLedger
from segflow.adapters.transactions import transact_write
from segflow.domain.limits import TRANSACTION_MAX_ATTEMPTS
from segflow.handlers.errors import TRANSIENT_ERROR, error_name

from segflow_local import fault_rates, sandbox
from segflow_local.fault_rates import FaultRates, FaultRule, RateInjector
from segflow_local.iam_policy import Policy, Statement

# A handler's identity whose policy allows everything: these tests are about faults, not permissions.
HANDLER = sandbox.FunctionIdentity(
    logical_id="ExecuteSegment",
    function_name="segflow-test-ExecuteSegment",
    role_name="segflow-test-ExecuteSegment-role",
    account="123456789012",
    region="us-east-1",
    policy=Policy((Statement("Allow", actions=("*",), resources=("*",)),)),
    environment={},
)
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def only(kind: str, rate: float = 1.0, **rule: Any) -> FaultRates:
    return FaultRates(seed=1, rules=[FaultRule(kind=kind, rate=rate, **rule)])  # type: ignore[arg-type]


@pytest.fixture()
def aws() -> Iterator[Any]:
    """A fresh boto3 session under moto (a new session carries the injector's botocore handlers)."""
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def make_table(dynamodb: Any, range_key: bool = False) -> str:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    keys = [("pk", "HASH")] + ([("sk", "RANGE")] if range_key else [])
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def put(table: str, pk: str, condition: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"TableName": table, "Item": {"pk": {"S": pk}}}
    if condition:
        entry["ConditionExpression"] = condition
    return {"Put": entry}


def failure(call: Any) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


# --- what each fault looks like -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"), [("ProvisionedThroughputExceededException", 400), ("ThrottlingException", 400)]
)
def test_dynamodb_throttling_is_a_400_with_its_code(aws: Any, error: str, status: int) -> None:
    dynamodb = aws.client("dynamodb", config=NO_RETRIES)
    table = make_table(dynamodb)
    with (
        fault_rates.injecting(only("dynamodb_throttling", errors=[error])),
        sandbox.running_as(HANDLER),
    ):
        answer = failure(lambda: dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})).response
    assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == (error, status)
    assert answer["Error"]["Message"]


def test_a_transaction_conflict_cancels_the_transaction_naming_one_item(aws: Any) -> None:
    dynamodb = aws.client("dynamodb", config=NO_RETRIES)
    table = make_table(dynamodb)
    items = [put(table, "a"), put(table, "b"), put(table, "c")]
    with fault_rates.injecting(only("transaction_conflict")), sandbox.running_as(HANDLER):
        answer = failure(lambda: dynamodb.transact_write_items(TransactItems=items)).response
    assert answer["Error"]["Code"] == "TransactionCanceledException"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    codes = sorted(reason["Code"] for reason in answer["CancellationReasons"])
    assert codes == ["None", "None", "TransactionConflict"]
    assert dynamodb.scan(TableName=table)["Count"] == 0


@pytest.mark.parametrize(("error", "status"), [("InternalError", 500), ("SlowDown", 503)])
def test_s3_answers_5xx_with_its_code_and_a_bodyless_head(aws: Any, error: str, status: int) -> None:
    s3 = aws.client("s3", config=NO_RETRIES)
    s3.create_bucket(Bucket="faults")
    with fault_rates.injecting(only("s3_5xx", errors=[error])), sandbox.running_as(HANDLER):
        put_answer = failure(lambda: s3.put_object(Bucket="faults", Key="k", Body=b"x")).response
        head_answer = failure(lambda: s3.head_object(Bucket="faults", Key="k")).response
    assert (put_answer["Error"]["Code"], put_answer["ResponseMetadata"]["HTTPStatusCode"]) == (error, status)
    assert head_answer["ResponseMetadata"]["HTTPStatusCode"] == status  # HEAD errors carry no body
    assert "Contents" not in s3.list_objects_v2(Bucket="faults")


def test_lambda_throttling_is_a_429_with_a_concurrency_reason(aws: Any) -> None:
    lam = aws.client("lambda", config=NO_RETRIES)
    plan = only("lambda_throttling", callers=["handler"])
    with fault_rates.injecting(plan), sandbox.running_as(HANDLER):
        answer = failure(lambda: lam.invoke(FunctionName="anything", Payload=b"{}")).response
    assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == (
        "TooManyRequestsException",
        429,
    )
    assert answer["Reason"] in (
        "ReservedFunctionConcurrentInvocationLimitExceeded",
        "ConcurrentInvocationLimitExceeded",
    )


def test_botocore_retries_throttling_and_5xx_but_not_a_cancelled_transaction(aws: Any) -> None:
    retrying = Config(retries={"mode": "standard", "max_attempts": 3})  # retries: 4 attempts in all
    dynamodb, s3 = aws.client("dynamodb", config=retrying), aws.client("s3", config=retrying)
    table = make_table(dynamodb)
    s3.create_bucket(Bucket="faults")
    plan = FaultRates(
        rules=[FaultRule(kind="s3_5xx", rate=1.0), FaultRule(kind="transaction_conflict", rate=1.0)]
    )
    with fault_rates.injecting(plan) as injector, sandbox.running_as(HANDLER):
        s3_failure = failure(lambda: s3.get_object(Bucket="faults", Key="k"))
        conflict = failure(lambda: dynamodb.transact_write_items(TransactItems=[put(table, "a")]))
    assert s3_failure.response["ResponseMetadata"]["RetryAttempts"] == 3
    assert conflict.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert injector.by_kind() == {"s3_5xx": 4, "transaction_conflict": 1}


# --- which calls ------------------------------------------------------------------------------------------


def test_only_calls_a_handler_makes_fail_including_its_thread_pools(aws: Any) -> None:
    dynamodb = aws.client("dynamodb", config=NO_RETRIES)
    table = make_table(dynamodb)

    def read() -> Any:
        return dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})

    with fault_rates.injecting(only("dynamodb_throttling")) as injector:
        read()  # the test's own call
        with sandbox.running_as(HANDLER), ThreadPoolExecutor(2) as pool:
            in_pool = pool.submit(read).exception()
        with ThreadPoolExecutor(2) as pool:
            outside = pool.submit(read).exception()
    assert isinstance(in_pool, ClientError)
    assert outside is None
    assert injector.by_kind() == {"dynamodb_throttling": 1}


def test_nothing_fails_once_the_block_ends(aws: Any) -> None:
    dynamodb = aws.client("dynamodb", config=NO_RETRIES)
    table = make_table(dynamodb)
    with fault_rates.injecting(only("dynamodb_throttling")), sandbox.running_as(HANDLER):
        failure(lambda: dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}}))
    with sandbox.running_as(HANDLER):
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})


# --- how many, and which --------------------------------------------------------------------------------


def fired(injector: RateInjector, calls: int, operation: str = "GetItem") -> list[int]:
    return [i for i in range(calls) if injector.decide("dynamodb", operation, "handler") is not None]


def test_faults_come_at_the_rate_spread_evenly_and_fixed_by_the_seed() -> None:
    plan = only("dynamodb_throttling", rate=0.1)
    calls = fired(RateInjector(plan), 1000)

    assert len(calls) == 100
    assert all(any(start <= i < start + 10 for i in calls) for start in range(0, 990, 10))
    assert max(b - a for a, b in pairwise(calls)) < 20
    assert fired(RateInjector(plan), 1000) == calls
    assert fired(RateInjector(plan.model_copy(update={"seed": 2})), 1000) != calls


def test_concurrent_callers_meet_the_same_number_of_faults() -> None:
    injector = RateInjector(only("dynamodb_throttling", rate=0.1))
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: injector.decide("dynamodb", "GetItem", "handler"), range(1000)))
    assert sum(outcome is not None for outcome in outcomes) == 100


def test_a_fault_due_on_a_call_another_rule_failed_comes_on_the_next_call() -> None:
    plan = FaultRates(
        rules=[
            FaultRule(kind="dynamodb_throttling", rate=0.5),
            FaultRule(kind="transaction_conflict", rate=0.5),
        ]
    )
    injector = RateInjector(plan)
    fired(injector, 100, "TransactWriteItems")
    counts = injector.by_kind()
    assert counts["dynamodb_throttling"] == 50 and counts["transaction_conflict"] >= 49


def test_a_plan_names_only_what_each_service_can_answer() -> None:
    with pytest.raises(ValidationError, match="TransactWriteItems only"):
        FaultRule(kind="transaction_conflict", rate=0.1, operations=["PutItem"])
    with pytest.raises(ValidationError, match="state machine"):
        FaultRule(kind="s3_5xx", rate=0.1, callers=["state_machine"])
    with pytest.raises(ValidationError, match="s3_5xx answers InternalError, SlowDown"):
        FaultRule(kind="s3_5xx", rate=0.1, errors=["ThrottlingException"])
    assert FaultRule(kind="lambda_throttling", rate=0.1).callers == ["state_machine"]
    assert {rule.kind for rule in fault_rates.every_fault(0.1).rules} == set(fault_rates.KINDS)


def test_the_environment_names_a_plan_inline_or_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = fault_rates.every_fault(0.05, seed=3, log=str(tmp_path / "faults.log"))
    monkeypatch.setenv(fault_rates.FAULT_RATES_ENV, plan.model_dump_json())
    assert fault_rates.plan_from_environment() == plan
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    monkeypatch.setenv(fault_rates.FAULT_RATES_ENV, str(path))
    assert fault_rates.plan_from_environment() == plan

    injector = RateInjector(plan.model_copy(update={"rules": [FaultRule(kind="s3_5xx", rate=1.0)]}))
    injector.decide("s3", "GetObject", "handler")
    injector.decide("s3", "GetObject", "handler")
    assert sum(fault_rates.logged(tmp_path / "faults.log").values()) == 2
    assert json.loads((tmp_path / "faults.log").read_text().splitlines()[0])["operation"] == "GetObject"


# --- segflow under conflicts ----------------------------------------------------------------------------


def test_a_transaction_in_conflict_is_sent_again_and_applies_once(aws: Any) -> None:
    dynamodb = aws.client("dynamodb")
    table = make_table(dynamodb)
    plan = only("transaction_conflict", rate=0.5)
    with fault_rates.injecting(plan) as injector, sandbox.running_as(HANDLER):
        for key in ("a", "b", "c", "d"):
            transact_write(dynamodb, [put(table, key, "attribute_not_exists(pk)")])
    assert injector.by_kind()["transaction_conflict"] >= 2
    assert dynamodb.scan(TableName=table)["Count"] == 4


def test_lasting_conflicts_give_up_after_the_attempts_as_a_transient_error(aws: Any) -> None:
    dynamodb = aws.client("dynamodb")
    table = make_table(dynamodb)
    with fault_rates.injecting(only("transaction_conflict")) as injector, sandbox.running_as(HANDLER):
        error = failure(lambda: transact_write(dynamodb, [put(table, "a")]))
    assert injector.by_kind()["transaction_conflict"] == TRANSACTION_MAX_ATTEMPTS
    assert error_name(error) == TRANSIENT_ERROR


def test_a_failed_condition_is_not_sent_again(aws: Any) -> None:
    dynamodb = aws.client("dynamodb")
    table = make_table(dynamodb)
    transact_write(dynamodb, [put(table, "a")])
    plan = only("transaction_conflict", rate=0.0)
    with fault_rates.injecting(plan) as injector, sandbox.running_as(HANDLER):
        error = failure(lambda: transact_write(dynamodb, [put(table, "a", "attribute_not_exists(pk)")]))
    assert [r["Code"] for r in error.response["CancellationReasons"]] == ["ConditionalCheckFailed"]
    assert injector.eligible["dynamodb"] == 1
    assert error_name(error) == "TransactionCanceledException"


def test_the_effect_ledger_applies_an_update_once_through_conflicts(aws: Any) -> None:
    dynamodb = aws.client("dynamodb")
    executions, counters = make_table(dynamodb, range_key=True), make_table(dynamodb)
    ledger = EffectLedger(executions, dynamodb)
    update = {
        "TableName": counters,
        "Key": {"pk": {"S": "orders"}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    plan = only("transaction_conflict", rate=0.5)
    with fault_rates.injecting(plan) as injector, sandbox.running_as(HANDLER):
        applied = [ledger.update_once("t", f"e{i}", "count", update) for i in range(4)]
        again = ledger.update_once("t", "e0", "count", update)
    assert applied == [True] * 4 and again is False
    assert injector.by_kind()["transaction_conflict"] >= 2
    item = dynamodb.get_item(TableName=counters, Key={"pk": {"S": "orders"}})["Item"]
    assert item["n"] == {"N": "4"}
